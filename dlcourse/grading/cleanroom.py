"""The trusted half of grading: check a submission's weights without running any of its code.

The notebook run happens in the student's kernel, where student code can rewrite the
tests' verdicts. So a separate process re-verifies what can be verified from the weights
alone: it builds the lesson's network from ``lesson.yaml``, loads the submitted state_dict
with ``weights_only=True`` (a crafted pickle is refused, not executed), checks every tensor
against the lesson's network, and measures the accuracy on the full test set with the
lesson's own input pipeline. It still runs sandboxed: the weights file is untrusted data.
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from ..lesson import LESSON_FILE, Lesson
from .sandbox import Limits, run_limited

VERDICT = "cleanroom.json"


@dataclass
class Verdict:
    weights_found: bool = False
    weights_problem: str | None = None   # unreadable, unsafe, or not the lesson's network
    unsafe_weights: bool = False         # a pickle that asks to import code other than torch's
    fits_lesson: bool = False            # every tensor has the shape the lesson's network needs
    accuracy: float | None = None
    test_images: int = 0
    meets_threshold: bool = False
    gap: float | None = None             # train-test accuracy gap, when the lesson has a baseline
    baseline_gap: float | None = None
    baseline_problem: str | None = None
    error: str | None = None             # the clean room itself failed (timeout, memory)


def verify(lesson: Lesson, weights: Path) -> Verdict:
    from ..checks.accuracy import baseline_model, gap_images, train_test_gap
    from ..checks.weights import UnsafeWeights, WeightsProblem, read_weights, spec_model_with, state_dict_problem
    from ..training import evaluate

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
        verdict.weights_problem = str(problem)
        return verdict
    problem = state_dict_problem(state, lesson.architecture)
    if problem:
        verdict.weights_problem = f"{lesson.weights} does not hold the lesson's network: {problem}"
        return verdict
    verdict.fits_lesson = True
    model = spec_model_with(state, lesson.architecture)
    train = lesson.train_set() if lesson.baseline or lesson.prepare else None
    prepare = lesson.reference_prepare(train.images if train is not None else None)
    test_set = lesson.test_set()
    verdict.test_images = len(test_set)
    verdict.accuracy = evaluate(model, test_set, prepare=prepare).accuracy
    verdict.meets_threshold = verdict.accuracy >= lesson.accuracy_threshold
    if lesson.baseline:
        try:
            base = baseline_model(lesson, weights.parent)
        except WeightsProblem as problem:
            verdict.baseline_problem = str(problem)
            return verdict
        images = gap_images(lesson, train)
        verdict.gap = train_test_gap(model, prepare, images)
        verdict.baseline_gap = train_test_gap(base, lesson.baseline_lesson().reference_prepare(), images)
    return verdict


def run_cleanroom(lesson_dir: Path, weights: Path, workdir: Path, limits: Limits, env: dict[str, str],
                  stop: threading.Event | None = None) -> Verdict:
    """Run :func:`verify` in a sandboxed process and read its verdict."""
    out = workdir / VERDICT
    outcome = run_limited([sys.executable, "-m", __name__, str(lesson_dir / LESSON_FILE), str(weights), str(out)],
                          cwd=workdir, env=env, limits=limits, writable=(workdir,), stop=stop)
    try:
        return Verdict(**json.loads(out.read_text()))
    except (OSError, ValueError, TypeError):
        if outcome.timed_out:
            reason = f"timed out after {limits.timeout:.0f} s"
        elif outcome.out_of_memory:
            reason = f"ran out of memory ({limits.memory_mb} MB)"
        else:
            lines = outcome.output.strip().splitlines()
            reason = lines[-1] if lines else f"exited with code {outcome.returncode}"
        return Verdict(weights_found=weights.is_file(), error=f"the clean-room check failed: {reason}")


if __name__ == "__main__":
    lesson_file, weights_file, out_file = map(Path, sys.argv[1:4])
    result = verify(Lesson.load(lesson_file), weights_file)
    Path(out_file).write_text(json.dumps(asdict(result)))
