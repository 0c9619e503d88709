"""Which questions a notebook leaves unanswered: answer cells (Otter's ``otter_answer_cell``
tag) that still hold the release's ``...``, each belonging to the question its next
``grader.check`` names. Read as text, never run: ``grader.export()`` refuses such a notebook
unless told otherwise, and the grader treats those questions as ones the run could not show
(grading/scoring.py), so a placeholder and a name never defined are one case."""

from __future__ import annotations

import re

ANSWER_TAG = "otter_answer_cell"
PLACEHOLDER = re.compile(r"(^|=)\s*\.\.\.\s*(#.*)?$")   # a line that is `...` or `name = ...`
CHECK_CALL = re.compile(r"""grader\.check\(\s*["']([^"']+)["']""")


def unfinished_questions(cells: list[dict]) -> list[str]:
    """The questions whose answer cells, among the notebook's ``cells``, still hold ``...``."""
    code = [c for c in cells if isinstance(c, dict) and c.get("cell_type") == "code"]
    found = []
    for index, cell in enumerate(code):
        tags = (cell.get("metadata") or {}).get("tags") or []
        if ANSWER_TAG in tags and any(PLACEHOLDER.search(line.strip()) for line in _source(cell).splitlines()):
            found.append(_question_after(code, index))
    return list(dict.fromkeys(found))


def _question_after(cells: list[dict], index: int) -> str:
    """The question an answer cell belongs to: the one its next ``grader.check`` names."""
    for cell in cells[index + 1:]:
        match = CHECK_CALL.search(_source(cell))
        if match:
            return match.group(1)
    return f"cell {index + 1}"


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source if isinstance(source, str) else ""
