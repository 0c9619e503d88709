"""Calibrate a lesson's accuracy threshold against real training runs.

A threshold is honest when every correct solution clears it with room to spare and clearly
wrong ones do not. So each lesson's recipe is trained exactly as its notebook tells students
(the solution notebook itself is executed, only the seed changes), and so are deliberately
wrong versions:

    correct              the solution, one run per seed
    no-activations       every ReLU replaced by nn.Identity, trained the same way
    untrained            the network as built, never trained
    wrong-normalization  the seed-0 weights fed inputs prepared differently from training

Results accumulate in ``solutions/calibration.json`` (one run at a time, so a long session
can stop and resume) and are rendered as ``solutions/CALIBRATION.md`` by ``render``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from .atomic import write_atomically
from .checks.messages import percent
from .course import Course
from .lesson import Lesson
from .reference import TrainingRun, train_reference

MARGIN = 0.02  # a correct solution's worst run must clear the threshold by this much
KINDS = ["correct", "no-activations", "untrained", "wrong-normalization"]
# Wrong runs whose own network the grader never measures: every lesson's public and hidden
# architecture checks name the missing activation, and the clean room measures the weights in
# the lesson's network. Their own accuracy is shown, and counts against no threshold.
NAMED_BY_ARCHITECTURE = {"no-activations"}
RESULTS = "calibration.json"
REPORT = "CALIBRATION.md"


@dataclass
class Run:
    kind: str
    seed: int | None
    accuracy: float                          # measured from the weights, on the lesson's network (clean room)
    own_accuracy: float | None = None        # the student's own network, as trained (differs when it is wrong)
    seconds_per_epoch: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    note: str = ""


def calibrate(course: Course, lesson: Lesson, seeds: list[int], wrong: bool = True, again: bool = False) -> None:
    """Train what is missing from the results file for ``lesson``, saving after every run.

    ``again`` retrains the runs asked for even where the file has them: after a change to the
    lesson's network or recipe, the recorded runs measure a recipe students no longer get. It
    leaves the reference's own row (correct, seed 0): run ``dlcourse train`` first, which
    retrains and saves the reference and records that row, then ``calibrate --again``.
    """
    recorded = {(r.kind, r.seed) for r in load(course).get(lesson.id, [])}
    # Seed 0 is the committed reference, which only `dlcourse train` trains (and saves).
    done = recorded & {("correct", 0)} if again else recorded
    for seed in seeds:
        if ("correct", seed) not in done:
            record(course, lesson, _correct(course, lesson, seed))
    if wrong:
        wrong_runs = {"no-activations": _no_activations, "untrained": _untrained,
                      "wrong-normalization": _wrong_normalization}
        for kind, make in wrong_runs.items():
            if (kind, 0) not in done:
                record(course, lesson, make(course, lesson))
    render(course)


def _correct(course: Course, lesson: Lesson, seed: int) -> Run:
    return correct_run(lesson, train_reference(course, lesson, seed=seed), seed)


def correct_run(lesson: Lesson, run: TrainingRun, seed: int) -> Run:
    """A calibration record of a correct training run (``dlcourse train`` records seed 0 so)."""
    accuracy = _accuracy_of(lesson, run.weights)
    return Run("correct", seed, accuracy, run.history["test_accuracy"], run.history["seconds"],
               run.history["val_accuracy"])


def _no_activations(course: Course, lesson: Lesson) -> Run:
    solution = nbformat.read(course.solution_notebook(lesson.id), as_version=4)
    # Each edit must match once, so every cell that builds ReLUs is replaced whole.
    edits = [(cell.source, cell.source.replace("nn.ReLU()", "nn.Identity()")) for cell in solution.cells
             if cell.cell_type == "code" and "nn.ReLU()" in cell.source]
    run = train_reference(course, lesson, seed=0, edits=edits, require_passing=False)
    return Run("no-activations", 0, _accuracy_of(lesson, run.weights), run.history["test_accuracy"],
               run.history["seconds"], run.history["val_accuracy"],
               note="accuracy: the lesson's network with these weights; own: the network as trained")


def _untrained(course: Course, lesson: Lesson) -> Run:
    from .sample_submissions import untrained_weights

    solution = nbformat.read(course.solution_notebook(lesson.id), as_version=4)
    return Run("untrained", 0, _accuracy_of(lesson, untrained_weights(course, lesson, solution)))


def _wrong_normalization(course: Course, lesson: Lesson) -> Run:
    """A network trained on inputs normalized otherwise than the lesson says, graded through
    the lesson's pipeline, emulated with the seed-0 weights:

    - lessons that scale to [0, 1]: a network trained on raw 0..255 pixels learns first-layer
      weights about 255 times smaller, so grading it on [0, 1] inputs is like feeding the
      reference weights inputs 255 times smaller than it was trained on;
    - lessons that standardize: the reference weights fed unstandardized [0, 1] inputs.
    """
    from .checks.weights import spec_model_with
    from .training import evaluate

    weights = course.reference_weights(lesson)
    assert lesson.architecture is not None, f"lesson {lesson.id} has no network to calibrate"
    model = spec_model_with(_read(weights.read_bytes()), lesson.architecture)
    if lesson.prepare.get("standardize"):
        prepare = lambda x: x.float() / 255  # noqa: E731
        note = "a network trained on standardized inputs, graded on [0, 1] inputs"
    else:
        prepare = lambda x: x.float() / 255**2  # noqa: E731
        note = "a network trained on raw 0..255 pixels, graded on [0, 1] inputs"
    accuracy = evaluate(model, lesson.test_set(), prepare=prepare).accuracy
    return Run("wrong-normalization", 0, accuracy, note=f"{note} (emulated with the reference weights)")


def _accuracy_of(lesson: Lesson, weights: bytes) -> float:
    from .checks.weights import spec_model_with, state_dict_problem
    from .training import evaluate

    state = _read(weights)
    assert lesson.architecture is not None, f"lesson {lesson.id} has no network to calibrate"
    if state_dict_problem(state, lesson.architecture):
        return float("nan")
    model = spec_model_with(state, lesson.architecture)
    return evaluate(model, lesson.test_set(), prepare=lesson.reference_prepare()).accuracy


def _read(weights: bytes) -> dict:
    from .checks.weights import read_weights

    with tempfile.NamedTemporaryFile(suffix=".pt") as f:
        f.write(weights)
        f.flush()
        return read_weights(Path(f.name))


def load(course: Course) -> dict[str, list[Run]]:
    path = course.root / "solutions" / RESULTS
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return {lesson: [Run(**r) for r in runs] for lesson, runs in data["lessons"].items()}


def record(course: Course, lesson: Lesson, run: Run) -> None:
    """Add ``run`` to the results, replacing an earlier run of the same kind and seed."""
    results = load(course)
    runs = [r for r in results.get(lesson.id, []) if (r.kind, r.seed) != (run.kind, run.seed)]
    results[lesson.id] = sorted([*runs, run], key=lambda r: (KINDS.index(r.kind), r.seed or 0))
    path = course.root / "solutions" / RESULTS
    machine = {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
               "torch": _torch_version()}
    data = {"machine": machine, "lessons": {k: [asdict(r) for r in v] for k, v in sorted(results.items())}}
    write_atomically(path, json.dumps(data, indent=1) + "\n")
    print(f"{lesson.id}: {run.kind} seed {run.seed}: {run.accuracy:.2%}", flush=True)


def _torch_version() -> str:
    import torch

    return torch.__version__


def render(course: Course) -> Path:
    """Write CALIBRATION.md from the results file."""
    results = load(course)
    lines = [
        "# Calibration of the accuracy thresholds",
        "",
        "Generated by `dlcourse calibrate` (see `dlcourse/calibration.py`); regenerate with",
        "",
        f"    DLCOURSE_DATA=<full datasets> dlcourse train {' '.join(course.lesson_ids())}",
        f"    DLCOURSE_DATA=<full datasets> dlcourse calibrate {' '.join(course.lesson_ids())} --again --seeds 1 2",
        "",
        "Every run executes the lesson's solution notebook as students get it (only `SEED` changes) on",
        "2 CPU cores, and measures the saved weights on the full test set through the lesson's network,",
        "as the grader's clean room does. A threshold is honest when the worst correct run clears it by",
        f"at least {MARGIN:.0%} (two points) and every clearly wrong run falls under it.",
        "",
        "Each lesson's `accuracy_threshold` (in its `lesson.yaml`) is the target the lesson was",
        "specified with, moved where the rule demands it:",
        "",
        "- dense-mnist 97% to 95%, cnn-mnist 98.5% to 96.8%, cifar-cnn 70% to 64%, regularization 75%",
        "  to 66%: correct networks score too close to the specified figures to leave two points",
        "  (cifar-cnn's recipe was cut to half the classic width and 4 epochs, regularization's to four",
        "  blocks of one convolution and 4 epochs, to train in minutes on 2 cores);",
        "- cnn-mnist as high as the rule allows.",
        "",
        "A wrong run counts against a threshold if the lesson's network loaded with its weights",
        "clears it: that is what the grader measures. The network as it was trained (\"own network\")",
        "counts too, except for the no-activations runs: the grader never measures a network without",
        "activations as itself. Every lesson's public and hidden architecture checks fail it with a",
        "message that names the missing activation (\"Is an activation missing?\"; tests/test_calibration.py",
        "holds this for every lesson), and the clean room measures its weights in the lesson's network,",
        "where they score near chance (the accuracy column). Max pooling is still nonlinear, so such a",
        "network trained for a few minutes can match a correct one (cifar-cnn's, as trained, scores",
        "above every correct seed): its own accuracy is shown, not counted.",
        "",
        "CIFAR-10 here is a JPEG-degraded copy (quality 75) of the original: expect the original",
        "to score a point or two differently, so these figures are a conservative stand-in.",
        "",
        "Seconds per epoch are those of the machine each run was recorded on. Runs are recorded one",
        "at a time, sometimes days apart (`dlcourse train` rerecords seed 0), and 2-core machines of",
        "the same kind ran these recipes up to two times faster or slower: compare accuracies across",
        "rows, and read the time a lesson takes from `benchmarks/lesson_times.py`.",
        "",
    ]
    for lesson in course.lessons([i for i in course.lesson_ids() if i in results]):
        lines += _lesson_table(lesson, results[lesson.id])
    path = course.root / "solutions" / REPORT
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass(frozen=True)
class Verdict:
    margin: float       # worst correct run's accuracy minus the threshold (fraction, 0.02 = two points)
    highest: float      # the highest threshold the rule allows, rounded down to 0.1%
    above: list[str]    # kinds of wrong runs that reach the threshold
    holds: bool


def verdict(lesson: Lesson, runs: list[Run]) -> Verdict:
    """Whether ``lesson``'s threshold obeys the rule for ``runs`` (at least one correct run):
    the worst correct run clears it by MARGIN, and no wrong run reaches it (:func:`counted`)."""
    worst = min(r.accuracy for r in runs if r.kind == "correct")
    threshold = lesson.accuracy_threshold
    assert threshold is not None, f"lesson {lesson.id} has no accuracy threshold to calibrate"
    margin = worst - threshold
    above = [r.kind for r in runs if r.kind != "correct" and counted(r) >= threshold]
    highest = math.floor((worst - MARGIN) * 1000 + 1e-6) / 1000
    return Verdict(margin, highest, above, margin >= MARGIN - 1e-9 and not above)


def counted(run: Run) -> float:
    """The accuracy a wrong run counts with: the lesson's network with its weights, or the
    network as trained where that is higher, unless the architecture checks name the difference."""
    if run.kind in NAMED_BY_ARCHITECTURE:
        return run.accuracy
    return max(run.accuracy, run.own_accuracy or 0)


def _lesson_table(lesson: Lesson, runs: list[Run]) -> list[str]:
    correct = [r for r in runs if r.kind == "correct"]
    lines = [f"## {lesson.id}: threshold {percent(lesson.accuracy_threshold or 0)}", ""]
    if correct:
        accuracies = [r.accuracy for r in correct]
        per_epoch = statistics.median(s for r in correct for s in r.seconds_per_epoch)
        total = statistics.median(sum(r.seconds_per_epoch) for r in correct)
        lines += [
            f"Correct solution, {len(correct)} seeds: min **{min(accuracies):.2%}**, median "
            f"{statistics.median(accuracies):.2%}, max {max(accuracies):.2%}; {len(correct[0].seconds_per_epoch)} "
            f"epochs at a median {per_epoch:.0f} s per epoch ({total:.0f} s of training).",
            "",
        ]
    lines += ["| run | seed | accuracy (lesson's network) | own network | s/epoch | note |", "|---|---|---|---|---|---|"]
    for r in runs:
        own = f"{r.own_accuracy:.2%}" if r.own_accuracy is not None else ""
        epoch = f"{statistics.median(r.seconds_per_epoch):.0f}" if r.seconds_per_epoch else ""
        lines.append(f"| {r.kind} | {'' if r.seed is None else r.seed} | {r.accuracy:.2%} | {own} | {epoch} | {r.note} |")
    lines.append("")
    if correct:
        v = verdict(lesson, runs)
        lines += [f"Margin of the worst correct run: {100 * v.margin:.1f} points (the rule allows a threshold up "
                  f"to {percent(v.highest)}); wrong runs at or above the threshold: {', '.join(v.above) or 'none'}. "
                  f"The calibration rule **{'holds' if v.holds else 'does not hold'}**.", ""]
        missing = [kind for kind in KINDS if kind not in {r.kind for r in runs}]
        if missing:
            lines += [f"Not run yet: {', '.join(missing)} (`dlcourse calibrate {lesson.id}` adds only what is "
                      "missing).", ""]
    return lines
