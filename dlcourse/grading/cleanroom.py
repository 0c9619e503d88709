"""The clean room: what can be verified from a submission's weights alone.

Part of the judge (:mod:`.judge`), run after the student's kernel is gone: it builds the
lesson's network from ``lesson.yaml``, loads the submitted state_dict with
``weights_only=True`` (a crafted pickle is refused, not executed), checks every tensor
against the lesson's network, and measures the accuracy on the full test set with the
lesson's own input pipeline. The weights are the bytes the submission arrived with,
captured before any student code ran.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..lesson import Lesson


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
    from ..checks.accuracy import baseline_model, gap_images, train_test_gap
    from ..checks.architecture import in_use_order
    from ..checks.weights import UnsafeWeights, WeightsProblem, read_weights, spec_model_with, state_dict_problem
    from ..training import evaluate, predict

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
    problem = state_dict_problem(state, lesson.architecture)
    if problem:
        verdict.weights_problem = f"{lesson.weights} does not hold the lesson's network: {problem}"
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
    if lesson.baseline and gap:
        try:
            base = baseline_model(lesson, weights.parent)
        except WeightsProblem as problem:
            verdict.baseline_problem = str(problem)
            return verdict
        images = gap_images(lesson, train, data)
        verdict.gap = train_test_gap(model, prepare, images)
        verdict.baseline_gap = train_test_gap(base, lesson.baseline_lesson().reference_prepare(root=data), images)
    return verdict
