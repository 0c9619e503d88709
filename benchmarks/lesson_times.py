"""How long each lesson takes end to end, read from its executed solution notebook.

``dlcourse train LESSON`` runs the whole solution notebook (optional cells included) in a real
kernel, and nbclient stamps every code cell with when it started and finished. This script
turns those stamps into the figures a lesson's text states (``reference.notebook_times``):
the notebook as "Run All" runs it without the optional challenge, its training cell, and the
challenge. It trains nothing: the figures are those of the machine the notebook was last
trained on (run ``dlcourse train`` on a quiet machine).

    .venv/bin/python benchmarks/lesson_times.py [LESSON...]
"""

from __future__ import annotations

import sys

import nbformat

from dlcourse.course import Course
from dlcourse.reference import notebook_times


def main(lesson_ids: list[str]) -> None:
    course = Course.find()
    print("| lesson | notebook (Run All, no challenge) | training cell | optional challenge | trained on |")
    print("|---|---|---|---|---|")
    for lesson_id in lesson_ids or course.lesson_ids():
        notebook = nbformat.read(course.executed_solution(lesson_id), as_version=4)
        try:
            times = notebook_times(notebook)
        except KeyError:
            print(f"| {lesson_id} | not every cell ran: run `dlcourse train {lesson_id}` | | | |")
            continue
        day = min(c.metadata["execution"]["iopub.execute_input"] for c in notebook.cells if c.cell_type == "code")
        minutes = [f"{times[k] / 60:.1f} min" for k in ("notebook", "training", "challenge")]
        print(f"| {lesson_id} | {' | '.join(minutes)} | {day[:10]} |")


if __name__ == "__main__":
    main(sys.argv[1:])
