"""How long each lesson takes end to end, read from its executed solution notebook.

``dlcourse train LESSON`` runs the whole solution notebook (optional cells included) in a real
kernel, and nbclient stamps every code cell with when it started and finished
(``metadata.execution``). This script turns those stamps into the figures a lesson's text
states: the whole notebook as "Run All" runs it, its training cell, and its optional cells
(tagged ``challenge`` or ``ablation``). It trains nothing; the figures are as good as the
machine the notebook was last trained on (``dlcourse train`` on a quiet machine).

    .venv/bin/python benchmarks/lesson_times.py [LESSON...]
"""

from __future__ import annotations

import sys
from datetime import datetime

import nbformat

from dlcourse.course import Course
from dlcourse.execute import IGNORE_TAG
from dlcourse.reference import EXTRA_TAGS


def cell_seconds(cell: nbformat.NotebookNode) -> float:
    """Seconds from the kernel starting the cell to its reply; KeyError if it never ran."""
    stamps = cell.metadata["execution"]
    start, end = (datetime.fromisoformat(stamps[k].replace("Z", "+00:00"))
                  for k in ("iopub.execute_input", "shell.execute_reply"))
    return (end - start).total_seconds()


def lesson_times(notebook: nbformat.NotebookNode) -> dict[str, float]:
    """Seconds spent in the whole notebook, its training cell(s) and its optional cells."""
    times = {"whole notebook": 0.0, "training": 0.0, "optional cells": 0.0}
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        seconds = cell_seconds(cell)
        tags = set(cell.metadata.get("tags", []))
        times["whole notebook"] += seconds
        if tags & set(EXTRA_TAGS):
            times["optional cells"] += seconds
        elif IGNORE_TAG in tags and "fit(" in cell.source:
            times["training"] += seconds
    times["without optional cells"] = times["whole notebook"] - times["optional cells"]
    return times


def main(lesson_ids: list[str]) -> None:
    course = Course.find()
    print("| lesson | whole notebook | without optional cells | training cell | optional cells | ran on |")
    print("|---|---|---|---|---|---|")
    for lesson_id in lesson_ids or course.lesson_ids():
        notebook = nbformat.read(course.executed_solution(lesson_id), as_version=4)
        try:
            times = lesson_times(notebook)
        except KeyError:
            print(f"| {lesson_id} | not all cells ran: run `dlcourse train {lesson_id}` | | | | |")
            continue
        first = min(c.metadata["execution"]["iopub.execute_input"] for c in notebook.cells
                    if c.cell_type == "code")
        minutes = [f"{times[k] / 60:.1f} min" for k in
                   ("whole notebook", "without optional cells", "training", "optional cells")]
        print(f"| {lesson_id} | {' | '.join(minutes)} | {first[:10]} |")


if __name__ == "__main__":
    main(sys.argv[1:])
