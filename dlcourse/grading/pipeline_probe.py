"""The student's ``prepare`` beside the lesson's input pipeline, for one explanation.

The grade measures the submitted weights through the lesson's own pipeline (cleanroom.py). When
that misses the target while the student's ``prepare`` differs from it, the student's own check
(checks/accuracy.py) explains it: "through your `prepare`, the same weights reach ...". The
graded message says the same, from what this module measures in the judge, while the kernel
still answers: the student's ``prepare`` on a few test images against the lesson's pipeline,
and only when they differ, the weights' accuracy through the student's ``prepare`` on the full
test set. The number explains; it never scores (the student's function computed its inputs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

PREPARE = "prepare"  # the notebook's name for its input pipeline
PROBE_IMAGES = 64    # test images that show whether two pipelines differ
BATCH = 1000         # images per call into the kernel when measuring through the student's prepare


def your_pipeline_accuracy(values: Any, lesson, weights: Path, data_root: Path) -> float | None:
    """The accuracy of the weights at ``weights`` (in the lesson's network) through the
    notebook's ``prepare`` (fetched from ``values``, the judge's view of the notebook), if that
    differs from the lesson's pipeline; None when it does not, or when it cannot be measured (no
    such function, weights that do not fit, a failing call, a kernel that stopped answering)."""
    import torch

    from ..checks.weights import WeightsProblem, read_weights, spec_model_with, state_dict_problem
    from ..training import evaluate

    try:
        prepare = values.get(PREPARE)
    except Exception:  # the kernel stopped answering
        return None
    if not callable(prepare) or lesson.architecture is None or not weights.is_file():
        return None
    try:
        state = read_weights(weights)
    except WeightsProblem:
        return None
    if state_dict_problem(state, lesson.architecture):
        return None
    test = lesson.test_set(data_root)
    train = lesson.train_set(data_root) if lesson.prepare.get("standardize") else None
    ours = lesson.reference_prepare(train, root=data_root)
    sample = test.images[:PROBE_IMAGES]
    try:
        theirs, expected = prepare(sample), ours(sample)
        if not torch.is_tensor(theirs) or theirs.shape != expected.shape:
            return None
        if torch.allclose(theirs.float(), expected.float(), atol=1e-4):
            return None
        return evaluate(spec_model_with(state, lesson.architecture), test,
                        prepare=lambda images: prepare(images).float(), batch_size=BATCH).accuracy
    except Exception:  # the student's function failed or stopped answering: no explanation, nothing else
        return None
