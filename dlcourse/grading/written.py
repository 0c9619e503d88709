"""Written answers to the questions graded by hand, read from a submitted notebook, so that
whoever grades them reads each answer next to its question's result.

Otter Assign brackets each such question in the student's notebook with export comments: a
markdown cell that starts with ``<!-- BEGIN QUESTION -->`` (the prompt), the student's
answer cells, then a markdown cell that starts with ``<!-- END QUESTION -->``. The k-th block
answers the k-th question graded by hand, in the master's order (the manifest keeps it).
Only the cells' text is read: nothing runs, and the text is shown as plain text.
"""

from __future__ import annotations

import nbformat

BEGIN = "<!-- BEGIN QUESTION -->"
END = "<!-- END QUESTION -->"
PLACEHOLDER = "_Type your answer here, replacing this text._"  # Otter Assign's empty answer cell
MAX_CHARS = 5000           # an answer of three to five sentences is far shorter


def written_answers(notebook: nbformat.NotebookNode, names: list[str]) -> dict[str, str]:
    """Question name -> the student's answer ("" where none was written), for ``names`` in order."""
    blocks: list[list[str]] = []
    current: list[str] | None = None
    for cell in notebook.get("cells", []):
        source = cell.get("source", "")
        source = source if isinstance(source, str) else ""
        if current is not None and source.lstrip().startswith(END):
            blocks.append(current)
            current = None
        if cell.get("cell_type") == "markdown" and source.lstrip().startswith(BEGIN):
            current = []
        elif current is not None:
            current.append(source.strip())
    answers = {}
    for name, cells in zip(names, blocks + [[]] * len(names)):
        text = "\n\n".join(s for s in cells if s and s != PLACEHOLDER)
        answers[name] = text if len(text) <= MAX_CHARS else text[:MAX_CHARS] + " [cut here: the answer is longer]"
    return answers
