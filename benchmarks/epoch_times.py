"""Seconds per training epoch of each lesson's reference recipe, for the times the lesson text states.

Runs each solution notebook up to its training cell, with one epoch instead of the recipe's,
in a real kernel on the full datasets, and prints ``fit``'s own measurement of that epoch with
the machine's load average before and after (on a shared machine, say so with the figure).

    DLCOURSE_DATA=<full datasets> .venv/bin/python benchmarks/epoch_times.py [LESSON...]
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

import nbformat

from dlcourse.course import Course
from dlcourse.execute import IGNORE_TAG, execute_notebook
from dlcourse.settings import data_dir

MARK = "EPOCH_SECONDS"


def one_epoch_notebook(course: Course, lesson_id: str) -> nbformat.NotebookNode:
    """The solution's cells up to the first training cell, which trains for one epoch and reports it."""
    nb = nbformat.read(course.solution_notebook(lesson_id), as_version=4)
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code" or "grader." in cell.source:
            continue
        if IGNORE_TAG in cell.metadata.get("tags", []) and "fit(" in cell.source:
            cell.source = re.sub(r"epochs\s*=\s*[A-Za-z_0-9]+", "epochs=1", cell.source)
            cells += [cell, nbformat.v4.new_code_cell(f'print("{MARK}", history.seconds[0])')]
            break
        if IGNORE_TAG not in cell.metadata.get("tags", []):
            cells.append(cell)
    nb.cells = cells
    return nb


def main(lesson_ids: list[str]) -> None:
    course = Course.find()
    for lesson_id in lesson_ids or course.lesson_ids():
        lesson = course.lesson(lesson_id)
        before = os.getloadavg()[0]
        with tempfile.TemporaryDirectory() as scratch:
            folder = course.student_workspace(lesson, Path(scratch))
            nb = execute_notebook(one_epoch_notebook(course, lesson_id), folder, data=data_dir())
        text = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
        seconds = float(text.split(MARK)[1].split()[0])
        print(f"{lesson_id}: {seconds:.1f} s per epoch (load average {before:.1f} before, "
              f"{os.getloadavg()[0]:.1f} after; {os.cpu_count()} cores)", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
