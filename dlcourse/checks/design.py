"""The design task's check: the student's own network, measured from the files it was saved
to (dlcourse.design.save_design), exactly as the clean room will measure it.

While the judge runs a submission's tests it measures nothing here: the clean room reads the
submitted files once, in a process no student code runs in, and the design question's score
is its measurement alone (grading/scoring.py).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ..lesson import Lesson, current_lesson
from ..measurement import DesignVerdict, verify_design
from .messages import percent
from .mode import clean_room_measures, lesson_folder


def check_design(own_model: Any, lesson: Lesson | None = None) -> DesignVerdict | None:
    """Assert that the design files describe a network the grader builds, hold its weights,
    and that it reaches the lesson's design target within the parameter budget; return the
    measurement (None while grading: the clean room measures). AssertionError names what failed."""
    lesson = lesson or current_lesson(lesson_folder())
    assert lesson.design is not None, f"lesson {lesson.id} has no design task"
    if clean_room_measures():
        return None
    if not isinstance(own_model, nn.Module):
        raise AssertionError("define `own_model` first (run the cell that builds your network).")
    verdict = verify_design(lesson, lesson_folder())
    if verdict.accuracy is None:
        raise AssertionError(f"{verdict.problem}: run the cell that trains your network and saves it with "
                             f"save_design(own_model)")
    budget = lesson.design.max_parameters
    assert verdict.parameters is not None and verdict.within_budget, \
        f"your own network has {verdict.parameters:,} parameters, over the budget of {budget:,}"
    assert verdict.meets_threshold, (f"your own network classifies {verdict.accuracy:.2%} of the "
                                     f"{verdict.test_images:,} test images correctly, under the design target "
                                     f"of {percent(lesson.design.accuracy_threshold)}")
    return verdict
