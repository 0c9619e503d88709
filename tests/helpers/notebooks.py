"""The dense-mnist notebook as a student finishes it, and ``dlcourse grade`` on a folder of them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat

from dlcourse.course import Course
from dlcourse.data import SAMPLE_DIR

from .paths import ROOT

COURSE = Course(ROOT)


LESSON = COURSE.lesson("dense-mnist")


STUB = COURSE.student_dir(LESSON.id) / LESSON.notebook


def worked_notebook() -> nbformat.NotebookNode:
    """The released notebook with every answer written: each code answer cell gets the
    solution's code cell in the same place (Otter writes both from one master), and each
    written answer some text."""
    stub = nbformat.read(STUB, as_version=4)
    solution = [c.source for c in nbformat.read(COURSE.solution_notebook(LESSON.id), as_version=4).cells
                if c.cell_type == "code"]
    code = [c for c in stub.cells if c.cell_type == "code"]
    assert len(code) == len(solution), "the release and the solution should have the same code cells"
    for cell, answer in zip(code, solution):
        if "otter_answer_cell" in cell.metadata.get("tags", []):
            cell.source = answer
    for cell in stub.cells:
        if cell.cell_type == "markdown" and "otter_answer_cell" in cell.metadata.get("tags", []):
            cell.source = "More epochs fit the training set better; past some point the test accuracy stops rising."
    return stub


FULL_MARKS = f"{sum(q['points'] for q in json.loads(zipfile.ZipFile(COURSE.autograder_zip(LESSON.id)).read('manifest.json'))['questions']):g}"


def graded(submissions: Path, out: Path, data: Path = SAMPLE_DIR) -> dict[str, tuple[str, str, str]]:
    """``dlcourse grade`` on a folder: submission -> (status, score, flags) from submissions.csv."""
    import csv

    done = subprocess.run([sys.executable, "-m", "dlcourse", "grade", "--lesson", LESSON.id, str(submissions),
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "DLCOURSE_DATA": str(data)})
    assert done.returncode == 0, done.stderr
    assert "without encryption" not in done.stdout + done.stderr
    with open(out / "submissions.csv", newline="") as f:
        return {row["submission"]: (row["status"], row["score"], row["flags"]) for row in csv.DictReader(f)}
