"""The measurement of a submission's weights, the one rule for what weights prove: the
lesson's network built from ``lesson.yaml`` holding them (read with ``weights_only=True``:
a crafted pickle is refused, not executed), its accuracy on the full test split through the
lesson's own input pipeline, and the train-test gap against the baseline lesson's.

It sits beneath both users: the students' checks (:mod:`dlcourse.checks.accuracy`, so a
notebook measures what the grade counts) and the judge's clean room
(:mod:`dlcourse.grading.cleanroom`, on the bytes the submission arrived with). Neither
imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .lesson import Lesson

if TYPE_CHECKING:  # torch loads only when something is measured: Verdict is the grader's too, torch-free
    import torch
    from torch import nn

    from .data import ImageDataset


@dataclass
class Verdict:
    weights_found: bool = False
    weights_problem: str | None = None   # unreadable, unsafe, or not the lesson's network
    unsafe_weights: bool = False         # a pickle that asks to import code other than torch's
    unreadable_weights: bool = False     # not a state_dict the grader can read (a whole model, corrupt)
    fits_lesson: bool = False            # every tensor has the shape the lesson's network needs
    accuracy: float | None = None
    test_images: int = 0
    meets_threshold: bool = False
    gap: float | None = None             # train-test accuracy gap, when the lesson has a baseline
    baseline_gap: float | None = None
    baseline_problem: str | None = None
    error: str | None = None             # the clean room itself failed
    # the predicted class of each of the first PREDICTION_IMAGES test images, one digit each:
    # two submissions' networks compared without their weights (similarity.py)
    predictions: str = ""


PREDICTION_IMAGES = 1000   # a fixed set: the test split's first images


def verify(lesson: Lesson, weights: Path, order: list[str] | None = None, data: Path | None = None,
           gap: bool = True, predictions: bool = False) -> Verdict:
    """Check and measure ``weights`` against the lesson's network, on the datasets in ``data``
    (default: the data directory). ``order``, if known from
    the notebook, lists the tensors' names in the order its network uses them: weights saved
    from a class that declares its layers in another order then line up all the same.
    ``gap=False`` skips the train-test gap (the notebook's accuracy check needs only the
    accuracy). ``predictions``: also record the predicted classes on the fixed image set (the
    judge does). The notebook's checks call this too, so they measure what the grade counts."""
    from .checks.architecture import in_use_order
    from .checks.weights import UnsafeWeights, WeightsProblem, read_weights, spec_model_with, state_dict_problem
    from .training import evaluate, predict

    verdict = Verdict(weights_found=weights.is_file())
    if not verdict.weights_found:
        verdict.weights_problem = f"{lesson.weights} is missing"
        return verdict
    try:
        state = read_weights(weights)
    except UnsafeWeights as problem:
        verdict.weights_problem, verdict.unsafe_weights = str(problem), True
        return verdict
    except WeightsProblem as problem:
        verdict.weights_problem, verdict.unreadable_weights = str(problem), True
        return verdict
    state = in_use_order(state, order)
    assert lesson.architecture is not None and lesson.accuracy_threshold is not None, \
        f"lesson {lesson.id} is not measured from its weights"   # lesson_config requires both with weights
    unfit = state_dict_problem(state, lesson.architecture)
    if unfit:
        verdict.weights_problem = f"{lesson.weights} does not hold the lesson's network: {unfit}"
        return verdict
    verdict.fits_lesson = True
    model = spec_model_with(state, lesson.architecture)
    train = lesson.train_set(data) if lesson.baseline or lesson.prepare else None
    prepare = lesson.reference_prepare(train, root=data)
    test_set = lesson.test_set(data)
    verdict.test_images = len(test_set)
    verdict.accuracy = evaluate(model, test_set, prepare=prepare).accuracy
    verdict.meets_threshold = verdict.accuracy >= lesson.accuracy_threshold
    if predictions:
        fixed = test_set.images[:PREDICTION_IMAGES]
        verdict.predictions = "".join(str(int(c)) for c in predict(model, fixed, prepare=prepare))
    baseline = lesson.baseline_lesson() if gap else None
    if baseline is not None:
        try:
            base = baseline_model(lesson, weights.parent)
        except WeightsProblem as problem:
            verdict.baseline_problem = str(problem)
            return verdict
        images = gap_images(lesson, train, data)
        verdict.gap = train_test_gap(model, prepare, images)
        verdict.baseline_gap = train_test_gap(base, baseline.reference_prepare(root=data), images)
    return verdict


def baseline_model(lesson: Lesson, folder: Path = Path(".")) -> nn.Module:
    """The baseline lesson's network holding its submitted weights (a WeightsProblem if unfit)."""
    from .checks.weights import WeightsProblem, read_weights, spec_model_with, state_dict_problem

    baseline = lesson.baseline_lesson()
    assert baseline is not None and baseline.weights and baseline.architecture, f"lesson {lesson.id} has no baseline"
    state = read_weights(folder / baseline.weights)
    problem = state_dict_problem(state, baseline.architecture)
    if problem:
        raise WeightsProblem(f"{baseline.weights} does not hold the network of lesson {baseline.id}: {problem}")
    return spec_model_with(state, baseline.architecture)


def gap_images(lesson: Lesson, train: ImageDataset | None = None, root: Path | None = None) -> tuple:
    """The first ``gap_images`` images the notebook trains on (no validation image among
    them) and the first ``gap_images`` test images, with their labels: the sets gaps are
    measured on (pass ``train``, the full training set, if it is loaded already), from
    ``root`` (default: the data directory)."""
    import torch

    n = lesson.gap_images
    trained_on, test = lesson.training_part(train, root), lesson.test_set(root)
    index = torch.arange(min(n, len(trained_on)))
    return (trained_on.take(index), trained_on.labels[index]), (test.images[:n], test.labels[:n])


def train_test_gap(model: nn.Module, prepare: Callable[[torch.Tensor], torch.Tensor], images: tuple) -> float:
    """Training accuracy minus test accuracy, on the sets from :func:`gap_images`."""
    from .training import evaluate

    train, test = (evaluate(model, split, prepare=prepare).accuracy for split in images)
    return train - test


@dataclass
class DesignVerdict:
    """The clean room's measurement of the design task's network (lesson.yaml ``design``)."""

    problem: str | None = None        # why it was not measured, naming the file (missing, refused, unfit)
    parameters: int | None = None     # counted from the description, before anything was built
    max_parameters: int = 0
    within_budget: bool = False
    layers: int = 0
    accuracy: float | None = None
    test_images: int = 0
    threshold: float = 0.0
    meets_threshold: bool = False


def verify_design(lesson: Lesson, folder: Path, data: Path | None = None,
                  prepare: Callable[[torch.Tensor], torch.Tensor] | None = None) -> DesignVerdict:
    """Measure the design task's network from the files in ``folder`` (the description and the
    weights lesson.yaml's ``design`` names): the description read as hostile data and its
    parameters counted by arithmetic (dlcourse.design.read_description), then, within the
    grader's safety bounds, the network built, the weights loaded (``weights_only``) and its
    accuracy measured on the full test split in ``data`` through the lesson's input pipeline
    (``prepare``, if already made)."""
    from .checks.weights import WeightsProblem, read_weights, spec_model_with, state_dict_problem
    from .datasets import DATASETS
    from .design import DesignProblem, read_description
    from .training import evaluate

    design = lesson.design
    assert design is not None and lesson.architecture is not None, f"lesson {lesson.id} has no design task"
    verdict = DesignVerdict(max_parameters=design.max_parameters, threshold=design.accuracy_threshold)
    missing = [name for name in lesson.design_files if not (folder / name).is_file()]
    if missing:
        verdict.problem = f"{' and '.join(missing)} {'was' if len(missing) == 1 else 'were'} not submitted"
        return verdict
    description = folder / design.description
    try:
        if description.stat().st_size > 2**20:  # read_description bounds it again; never read a huge file whole
            raise DesignProblem(f"{design.description} is {description.stat().st_size // 2**20:,} MB")
        spec, cost = read_description(description.read_bytes(), lesson.architecture.input_shape,
                                      len(DATASETS[lesson.dataset].classes), design.description)
        verdict.parameters, verdict.layers = cost.parameters, len(spec.layers)
        verdict.within_budget = cost.parameters <= design.max_parameters
        state = read_weights(folder / design.weights)
        unfit = state_dict_problem(state, spec)
    except (DesignProblem, WeightsProblem) as problem:
        verdict.problem = str(problem)
        return verdict
    if unfit:
        verdict.problem = f"{design.weights} does not hold the network {design.description} describes: {unfit}"
        return verdict
    model = spec_model_with(state, spec)
    test_set = lesson.test_set(data)
    prepare = prepare or lesson.reference_prepare(root=data)
    verdict.test_images = len(test_set)
    verdict.accuracy = evaluate(model, test_set, prepare=prepare).accuracy
    verdict.meets_threshold = verdict.accuracy >= design.accuracy_threshold
    return verdict
