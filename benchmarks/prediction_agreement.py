"""How closely independently trained correct networks agree: the bound grading/similarity.py
uses to call two submissions' networks near-identical.

Trains the lesson's solution with the course's calibration seeds (``dlcourse train``'s seed 0 is
the committed reference; seeds 1, 2... are trained here exactly as ``dlcourse calibrate`` does),
predicts the clean room's fixed images (cleanroom.PREDICTION_IMAGES, the test split's first) with
each, and prints, for every pair, the share of images where they agree and the disagreement over
the sum of their error rates (similarity.disagreement_ratio): 0 for a copy.

    DLCOURSE_DATA=<full data> .venv/bin/python benchmarks/prediction_agreement.py dense-mnist --seeds 1 2
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from pathlib import Path


def predictions(lesson, weights: bytes) -> str:
    from dlcourse.checks.weights import read_weights, spec_model_with
    from dlcourse.grading.cleanroom import PREDICTION_IMAGES
    from dlcourse.training import predict

    with tempfile.NamedTemporaryFile(suffix=".pt") as handle:
        handle.write(weights)
        handle.flush()
        model = spec_model_with(read_weights(Path(handle.name)), lesson.architecture)
    train = lesson.train_set() if lesson.baseline or lesson.prepare else None
    images = lesson.test_set().images[:PREDICTION_IMAGES]
    return "".join(str(int(c)) for c in predict(model, images, prepare=lesson.reference_prepare(train)))


def main() -> None:
    from dlcourse.course import Course
    from dlcourse.grading.cleanroom import PREDICTION_IMAGES
    from dlcourse.grading.similarity import disagreement_ratio
    from dlcourse.reference import train_reference

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lesson")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    course = Course.find()
    lesson = course.lesson(args.lesson)
    labels = "".join(str(int(c)) for c in lesson.test_set().labels[:PREDICTION_IMAGES])
    runs = {0: predictions(lesson, course.reference_weights(lesson).read_bytes())}
    for seed in args.seeds:
        runs[seed] = predictions(lesson, train_reference(course, lesson, seed=seed).weights)
    errors = {}
    for seed, predicted in runs.items():
        errors[seed] = sum(p != t for p, t in zip(predicted, labels)) / len(labels)
        print(f"seed {seed}: {1 - errors[seed]:.2%} correct on the {len(labels)} fixed images")
    for (a, pa), (b, pb) in itertools.combinations(runs.items(), 2):
        agree = sum(x == y for x, y in zip(pa, pb)) / len(pa)
        ratio = disagreement_ratio(pa, pb, errors[a], errors[b])
        print(f"seeds {a} and {b}: agree on {agree:.2%}; disagreement / (sum of error rates) = {ratio:.2f}")


if __name__ == "__main__":
    main()
