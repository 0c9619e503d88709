"""Accuracy measured by the test itself, from the submitted weights, on the full test set.

A printed number proves nothing: the check loads the weights file into the student's
network and evaluates the lesson's whole test split in eval mode, without gradients.

When a submission is graded (``DLCOURSE_GRADING=1``, set by the grader), the kernel only
checks that the weights load into the student's network: the clean room then measures the
accuracy once, from the weights, in a process no student code runs in. One evaluation
instead of two keeps grading within a CPU budget, and leaves nothing for tampering to fake.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..data import ImageDataset
from ..lesson import Lesson, current_lesson
from ..training import evaluate
from ..settings import GRADING_ENV
from .messages import gap_not_smaller, shortfall
from .architecture import in_use_order, parameter_order
from .weights import WeightsProblem, read_weights, spec_model_with, state_dict_problem


def load_submitted_weights(model: Any, lesson: Lesson | None = None) -> nn.Module:
    """Load the lesson's weights file (beside the notebook) into ``model``; return it.

    Raises an AssertionError that names the problem: no model, a missing or unreadable file,
    weights of another network than the lesson's, or weights that do not fit ``model``.
    """
    lesson = lesson or current_lesson()
    if not isinstance(model, nn.Module):
        raise AssertionError("define `model` first (run the cell that builds your network).")
    state = read_weights(Path(lesson.weights))
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

    While grading, only check that the weights load (see the module docstring); return None.
    """
    lesson = lesson or current_lesson()
    if not callable(prepare):
        raise AssertionError("define `prepare` first (run the cell that defines it).")
    model = load_submitted_weights(model, lesson)
    if os.environ.get(GRADING_ENV) == "1":
        return None
    test_set = lesson.test_set()
    accuracy = evaluate(model, test_set, prepare=prepare).accuracy
    target = lesson.accuracy_threshold
    assert accuracy >= target, shortfall(accuracy, len(test_set), target)
    return accuracy


def check_gap(model: Any, prepare: Callable[[torch.Tensor], torch.Tensor] | None,
              lesson: Lesson | None = None) -> tuple[float, float] | None:
    """Assert that ``model``'s train-test accuracy gap is smaller than the baseline's.

    Both networks are measured from their submitted weights: the student's own, and the
    baseline lesson's (rebuilt from its settings, with its own input pipeline). Returns
    the two gaps; while grading, only checks that both weights files load (None).
    """
    lesson = lesson or current_lesson()
    baseline = lesson.baseline_lesson()
    if not callable(prepare):
        raise AssertionError("define `prepare` first (run the cell that defines it).")
    model = load_submitted_weights(model, lesson)
    base_model = baseline_model(lesson)
    if os.environ.get(GRADING_ENV) == "1":
        return None
    images = gap_images(lesson)
    gap = train_test_gap(model, prepare, images)
    base_gap = train_test_gap(base_model, baseline.reference_prepare(), images)
    assert gap < base_gap, gap_not_smaller(gap, base_gap)
    return gap, base_gap


def baseline_model(lesson: Lesson, folder: Path = Path(".")) -> nn.Module:
    """The baseline lesson's network holding its submitted weights (a WeightsProblem if unfit)."""
    baseline = lesson.baseline_lesson()
    state = read_weights(folder / baseline.weights)
    problem = state_dict_problem(state, baseline.architecture)
    if problem:
        raise WeightsProblem(f"{baseline.weights} does not hold the network of lesson {baseline.id}: {problem}")
    return spec_model_with(state, baseline.architecture)


def gap_images(lesson: Lesson, train: ImageDataset | None = None) -> tuple:
    """The first ``gap_images`` images the notebook trains on (no validation image among
    them) and the first ``gap_images`` test images, with their labels: the sets gaps are
    measured on (pass ``train``, the full training set, if it is loaded already)."""
    n = lesson.gap_images
    trained_on, test = lesson.training_part(train), lesson.test_set()
    index = torch.arange(min(n, len(trained_on)))
    return (trained_on.take(index), trained_on.labels[index]), (test.images[:n], test.labels[:n])


def train_test_gap(model: nn.Module, prepare: Callable[[torch.Tensor], torch.Tensor], images: tuple) -> float:
    """Training accuracy minus test accuracy, on the sets from :func:`gap_images`."""
    train, test = (evaluate(model, split, prepare=prepare).accuracy for split in images)
    return train - test
