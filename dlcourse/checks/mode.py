"""Where a check finds the lesson's files, and whether the weights-measured checks
(check_accuracy, check_gap) measure, or only load.

In a student's notebook the lesson's settings and weights sit in the working directory, and
the checks measure. While the judge runs a submission's tests it says so for the length of
those tests (:func:`dlcourse.lesson.judged_in`: a context variable, so nothing process-wide and
no change of working directory): the files are in the judge's folder for that submission, and
the checks only check that the weights load into the student's network, since the clean room
measures the weights once, from the file, in a process no student code runs in.
"""

from __future__ import annotations

from pathlib import Path

from ..lesson import judged_folder, judged_in

__all__ = ["clean_room_measures", "judged_in", "lesson_folder"]


def clean_room_measures() -> bool:
    return judged_folder() is not None


def lesson_folder() -> Path:
    """The folder holding the lesson's settings and the submitted weights."""
    return judged_folder() or Path(".")
