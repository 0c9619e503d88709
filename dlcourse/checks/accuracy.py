"""Accuracy measured by the test itself, from the submitted weights, on the full test set.

A printed number proves nothing: the check loads the weights file into the student's
network and evaluates the lesson's whole test split in eval mode, without gradients.

When a submission is graded (the judge runs its tests inside ``mode.judged_in(...)``), the test only
checks that the weights load into the student's network: the clean room then measures the
accuracy once, from the weights, in a process no student code runs in. One evaluation
instead of two keeps grading within a CPU budget, and leaves nothing for tampering to fake.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from ..lesson import Lesson, current_lesson
from ..training import evaluate
from .messages import PIPELINES_AGREE, gap_not_smaller, pipelines_differ, shortfall
from .mode import clean_room_measures, lesson_folder
from .architecture import in_use_order, parameter_order
from .weights import WeightsProblem, read_weights, state_dict_problem, unwrapped
from ..measurement import baseline_model, gap_images, train_test_gap, verify  # noqa: F401  (gap_images, train_test_gap: re-exported)


def load_submitted_weights(model: Any, lesson: Lesson | None = None) -> nn.Module:
    """Load the lesson's weights file (beside the notebook) into ``model``; return it.

    Raises an AssertionError that names the problem: no model, a missing or unreadable file,
    weights of another network than the lesson's, or weights that do not fit ``model``.
    """
    lesson = lesson or current_lesson(lesson_folder())
    if not isinstance(model, nn.Module):
        raise AssertionError("define `model` first (run the cell that builds your network).")
    model = unwrapped(model)  # torch.compile, DataParallel: the weights go into the network inside
    assert lesson.weights, f"lesson {lesson.id} submits no weights"
    state = read_weights(lesson_folder() / lesson.weights)
    if lesson.architecture is not None:
        # Tensors line up with the lesson's network in the order forward uses them.
        problem = state_dict_problem(in_use_order(state, parameter_order(model, lesson.architecture)),
                                     lesson.architecture)
        if problem:
            raise WeightsProblem(f"{lesson.weights} does not hold the network this lesson asks for: {problem}")
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        detail = str(error).strip().splitlines()[-1].strip()
        raise WeightsProblem(f"the weights in {lesson.weights} do not fit your `model`: {detail}") from None
    return model


def check_accuracy(model: Any, prepare: Callable[[torch.Tensor], torch.Tensor] | None,
                   lesson: Lesson | None = None) -> float | None:
    """Assert that the submitted weights reach the lesson's accuracy target; return the accuracy.

    The accuracy is the one the grade counts, measured by the grader's own code
    (:func:`dlcourse.measurement.verify`): the lesson's network holding the weights, on
    the full test split, through the lesson's input pipeline. When that falls short while the
    student's ``prepare`` reaches the target, the message says that the two pipelines differ.
    While grading, only check that the weights load (see the module docstring); return None.
    """
    lesson = lesson or current_lesson(lesson_folder())
    if not callable(prepare):
        raise AssertionError("define `prepare` first (run the cell that defines it).")
    model = load_submitted_weights(model, lesson)
    if clean_room_measures():
        return None
    assert lesson.weights and lesson.architecture and lesson.accuracy_threshold, f"{lesson.id} is not graded from weights"
    verdict = verify(lesson, lesson_folder() / lesson.weights, parameter_order(model, lesson.architecture), gap=False)
    if verdict.accuracy is None:
        raise WeightsProblem(verdict.weights_problem or verdict.error or "the weights could not be measured")
    if not verdict.meets_threshold:
        message = shortfall(verdict.accuracy, verdict.test_images, lesson.accuracy_threshold)
        yours = evaluate(model, lesson.test_set(), prepare=prepare).accuracy
        if yours - verdict.accuracy > PIPELINES_AGREE:
            message += " " + pipelines_differ(yours, verdict.accuracy, lesson.describe_prepare())
        raise AssertionError(message)
    return verdict.accuracy


def check_gap(model: Any, prepare: Callable[[torch.Tensor], torch.Tensor] | None,
              lesson: Lesson | None = None) -> tuple[float, float] | None:
    """Assert that ``model``'s train-test accuracy gap is smaller than the baseline's.

    Both networks are measured from their submitted weights, by the grader's own code
    (:func:`dlcourse.measurement.verify`), each through its lesson's input pipeline.
    Returns the two gaps; while grading, only checks that both weights files load (None).
    """
    lesson = lesson or current_lesson(lesson_folder())
    if not callable(prepare):
        raise AssertionError("define `prepare` first (run the cell that defines it).")
    model = load_submitted_weights(model, lesson)
    baseline_model(lesson, lesson_folder())  # a WeightsProblem that names the baseline's file
    if clean_room_measures():
        return None
    assert lesson.weights and lesson.architecture, f"lesson {lesson.id} is not graded from weights"
    verdict = verify(lesson, lesson_folder() / lesson.weights, parameter_order(model, lesson.architecture))
    if verdict.gap is None or verdict.baseline_gap is None:
        raise WeightsProblem(verdict.baseline_problem or verdict.weights_problem or "the gap could not be measured")
    assert verdict.gap < verdict.baseline_gap, gap_not_smaller(verdict.gap, verdict.baseline_gap)
    return verdict.gap, verdict.baseline_gap
