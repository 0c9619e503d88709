"""Feedback each student reads: one self-contained HTML page per student, rendered with jinja2
(``grading/templates/feedback.html.j2``), next to the notebook as the grader executed it.

    OUT/feedback/<student>/feedback.html    each question's points, every failed test's message,
                                            the failing hidden input as code to rerun, the
                                            measured accuracy and its target, late time and
                                            penalty, hand-graded points and comments, the
                                            reader's notes on how the submission was read
    OUT/feedback/<student>/graded-notebook.ipynb   the executed notebook
    OUT/feedback.zip                        the same folders, for an LMS's feedback upload

A page holds only its student's row: never another student's data, never a hidden test's
source (results carry only the tests' names and messages, which Gradescope publishes too),
nor the grader's flags or instructor notes. Folder names: Moodle's own download folder
pattern (``<Full name>_<participant id>_assignsubmission_file_``) for a Moodle layout, which
its "Upload multiple feedback files in a zip" matches; elsewhere the student's key.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import zipfile
from collections import Counter
from pathlib import Path

from ...atomic import atomic_file, write_atomically
from ..gradebook import late_text
from ..html import render
from ..inputs import NOTEBOOKS
from ..rows import StudentRow

PAGE = "feedback.html"
NOTEBOOK = "graded-notebook.ipynb"


def rerunnable_input(message: str) -> str | None:
    """The call a hidden test's message starts with (``for flat_features((3, 35, 12)): ...``,
    :func:`dlcourse.checks.inputs.for_input`): Python the student can run; None otherwise."""
    if not message.startswith("for "):
        return None
    depth, quote = 0, ""
    for i, char in enumerate(message[4:], start=4):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == ":" and depth == 0 and message[i + 1:i + 2] in (" ", ""):
            call = message[4:i].strip()
            return call if "(" in call else None
    return None


def folder_name(row: StudentRow) -> str:
    """The student's folder in feedback/ and feedback.zip (see the module docstring), before
    :func:`folder_names` keeps it apart from another student's."""
    student = row.student
    if row.entry is not None and row.entry.layout == "moodle" and student.sid:
        name = f"{student.name}_{student.sid}_assignsubmission_file_"
    else:
        name = student.key
    return re.sub(r"[^\w .@-]+", "_", name).strip(" .") or "student"


def folder_names(rows: list[StudentRow]) -> list[str]:
    """Each row's folder: :func:`folder_name`, unless another student's is the same once made
    safe (``bob_1`` and ``bob~1``) or once case is ignored (``alice`` and ``ALICE``, one folder
    on macOS and Windows); then each of those ends in a digest of its student's key, so no page
    is written over another student's."""
    names = [folder_name(row) for row in rows]
    students = Counter(name.casefold() for _, name in {(row.student.key, name) for row, name in zip(rows, names)})
    return [f"{name}-{hashlib.sha256(row.student.key.encode()).hexdigest()[:8]}" if students[name.casefold()] > 1 else name
            for row, name in zip(rows, names)]


def page_context(row: StudentRow, lesson: str, unit: str = "day", target: float | None = None,
                 notebook: str = "") -> dict:
    """What feedback.html.j2 shows for ``row`` (only this row's data): a graded row."""
    result, entry = row.result, row.entry
    assert result is not None and entry is not None, "a feedback page is for a graded row"
    questions = []
    for question in result.questions.values():
        tests = [{"name": t.name, "hidden": t.hidden, "passed": t.passed, "message": t.message,
                  "rerun": rerunnable_input(t.message) if not t.passed and t.hidden else None}
                 for t in question.tests]
        questions.append({"name": question.name, "score": question.score, "possible": question.possible,
                          "verification": question.verification, "tests": tests})
    # Every question graded by hand is listed, graded or not: the page's total is the lesson's
    # (autograded + by hand), so that "22 / 24" never reads as done while 2 points wait for a grader.
    given = row.hand if row.hand_counted else {}
    hand = [{"name": name, "possible": possible, "answer": result.answers.get(name, ""),
             "points": given[name].points if name in given else None,
             "comment": given[name].comment if name in given else ""}
            for name, possible in result.manual.items()]
    lateness = row.lateness
    return {"lesson": lesson, "student": row.student.name or row.student.key, "submission": entry.label,
            "submitted_at": row.submitted_at, "status": result.status, "reason": result.reason,
            "score": result.score, "auto_possible": result.possible,
            "hand_points": sum(h["points"] or 0 for h in hand), "hand_possible": sum(result.manual.values()),
            "hand_graded": sum(1 for h in hand if h["points"] is not None),
            "hand_pending": sum(h["possible"] for h in hand if h["points"] is None),
            "late_units": lateness.units, "late_unit": unit, "late_text": late_text(lateness.seconds),
            "penalty_percent": lateness.penalty_percent, "penalty_points": row.penalty_points,
            "penalty_of": row.possible,   # the points it is a share of: the autograded ones, until hand grades are given
            "late_note": lateness.note, "final": row.final, "possible": result.possible + sum(result.manual.values()),
            "accuracy": result.accuracy, "target": target, "questions": questions, "hand": hand,
            "notes": row.every_note, "notebook": notebook}


def write_feedback(out: Path, rows: list[StudentRow], lesson: str, notebooks: dict[str, str], *, unit: str = "day",
                   target: float | None = None, zip_too: bool = True) -> int:
    """Write a folder per graded student (and feedback.zip); return how many pages were written.
    ``notebooks``: entry key -> its executed notebook's name in OUT/notebooks (:func:`.inputs.notebook_names`)."""
    folder = out / "feedback"
    if folder.exists():
        shutil.rmtree(folder)   # a student dropped from a rerun must not keep an old page
    written = 0
    for row, name in zip(rows, folder_names(rows)):
        if row.result is None or row.entry is None:
            continue
        mine = folder / name
        mine.mkdir(parents=True, exist_ok=True)
        executed = out / NOTEBOOKS / notebooks.get(row.entry.key, "")
        notebook = ""
        if _is_the_one(executed, row.result.notebook_sha256):
            notebook = NOTEBOOK
            shutil.copyfile(executed, mine / notebook)
        write_atomically(mine / PAGE, render("feedback.html.j2", **page_context(row, lesson, unit, target, notebook)))
        written += 1
    if zip_too:
        with atomic_file(out / "feedback.zip") as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
                if path.is_file():
                    archive.write(path, path.relative_to(folder).as_posix())
    return written


def _is_the_one(path: Path, sha256: str) -> bool:
    """Whether ``path`` is the executed notebook saved with the result (its digest): not one an
    earlier run, or another entry of the same name, left there."""
    try:
        return bool(sha256) and path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha256
    except OSError:
        return False
