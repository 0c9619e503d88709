"""The scoring rules: the judge's report, held against its measurement of the submitted
weights, becomes one GradeResult with scores, a status and a one-line reason. Pure functions of
their inputs: nothing here runs code, reads a file or talks to a process.

One rule for the questions the judge verifies from the weights, whatever the notebook's run
did (completed, failed a cell, timed out, lost its kernel): the accuracy and the train-test gap
are the judge's measurements, so they score what the measurement says; the architecture is the
notebook's answer, held against the weights, and is earned from the weights alone only where
the run could not show it (a name the tests asked for was never defined, or the tests never
got to ask) and the weights are the lesson's network trained to its target. Ending a run early
therefore never scores more than leaving the answer out.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path

from ..checks.messages import PIPELINES_AGREE, gap_not_smaller, percent, pipelines_differ, shortfall
from ..lesson import Lesson
from .cleanroom import DesignVerdict, Verdict
from .judge import KERNEL_STUCK, JudgeReport
from .manifest import Manifest
from .result import GradeResult, QuestionResult

_SYNTAX_ERROR = re.compile(r'^cell "(?P<cell>.*)" raised SyntaxError\b')
# SyntaxErrors of what Python 3.12 accepts (PEP 701 f-strings, PEP 695 ``type`` and generics)
_NEWER_SYNTAX = re.compile(r"raised SyntaxError: f-string|^cell \"\s*(type\s+\w+(\[.*\])?\s*=|(def|class)\s+\w+\[)")
COLAB_PYTHON = (3, 12)   # Colab's Python (2025): a notebook written there and saying no version may use its syntax
# torch.load's advice to turn weights_only off (which would run the file's code): never repeated
_TORCH_ADVICE = re.compile(r"\s*(In PyTorch 2\.6, we changed|Re-running `torch\.load`|Weights only load failed\. This file can).*$",
                           re.DOTALL)


def combine(submission: Path, lesson: Lesson, points: dict[str, float], files: dict[str, bytes],
            report: JudgeReport, evidence: list[str], written_with: str | None = None,
            unfinished: Sequence[str] = ()) -> GradeResult:
    """The judge's scores, held against its measurement of the weights; a status and a reason.

    ``written_with``: the Python version the notebook says it last ran on (its
    ``language_info.version``), to explain syntax the grader's older Python cannot parse.
    ``unfinished``: the questions whose answer cells still hold the release's ``...``
    (dlcourse/unfinished.py): like a name never defined, the run could not show them.
    """
    questions = {name: QuestionResult(name, 0.0, possible) for name, possible in points.items()}
    for name, judged in report.questions.items():
        if name in questions:
            questions[name] = judged
    verdict = Verdict(**report.verdict) if report.verdict else None
    flags = [f"tampering evidence: {line}" for line in evidence]
    notes = [_explained(error, written_with, report.python) for error in report.cell_errors]
    if report.cuda_on_cpu:
        notes.append("the notebook asks for a GPU (\"cuda\"); the grader has none, so those requests ran on the CPU")
    if not report.ready and report.kernel_error:
        notes.append(f"the runner said: {report.kernel_error}")
    if verdict is not None:
        flags += _verify(lesson, questions, verdict, report, notes, list(unfinished))
    design = questions.get(lesson.verified_questions.get("design", ""))
    if design:
        _design(design, DesignVerdict(**report.design) if report.design else
                DesignVerdict(problem="the grader did not measure it"), lesson)
    result = GradeResult(submission=submission.name, lesson=lesson.id, status="ok", reason="",
                         questions=questions, accuracy=verdict.accuracy if verdict else None,
                         flags=flags, notes=notes)
    result.status, result.reason = _status(lesson, report, files, flags, written_with)
    result.predictions = verdict.predictions if verdict else ""
    return result


def _verify(lesson: Lesson, questions: dict[str, QuestionResult], verdict: Verdict, report: JudgeReport,
            notes: list[str], unfinished: list[str]) -> list[str]:
    """Hold the notebook run's scores against the clean room's verdict (see the module
    docstring); return flags. Weights of another shape refute an architecture the run gave
    full marks (score 0, flagged)."""
    if verdict.error:
        for name in lesson.verified_questions.values():
            if name in questions:
                questions[name].score = 0.0
        return [verdict.error]
    flags = []
    if verdict.unsafe_weights:
        flags.append(f"unsafe weights file: {verdict.weights_problem}")
    architecture = questions.get(lesson.verified_questions.get("architecture", ""))
    if architecture:
        flags += _architecture(architecture, verdict, report, notes, unfinished)
    accuracy = questions.get(lesson.verified_questions.get("accuracy", ""))
    if accuracy:
        if verdict.accuracy is None:
            accuracy.verification = f"not measured: {verdict.weights_problem}"
            _overrule(accuracy, accuracy.verification)
        else:
            accuracy.verification = (f"measured from the weights: {verdict.accuracy:.2%} of {verdict.test_images:,} "
                                     f"test images (target {percent(lesson.accuracy_threshold or 0)})")
            accuracy.measured_ok = verdict.meets_threshold
            if verdict.meets_threshold:
                _earn(accuracy, _why_unshown(accuracy.name, report, unfinished))
            else:
                message = shortfall(verdict.accuracy, verdict.test_images, lesson.accuracy_threshold or 0)
                if report.your_pipeline is not None and report.your_pipeline - verdict.accuracy > PIPELINES_AGREE:
                    message += " " + pipelines_differ(report.your_pipeline, verdict.accuracy, lesson.describe_prepare())
                _overrule(accuracy, message)
    gap = questions.get(lesson.verified_questions.get("gap", ""))
    if gap:
        if verdict.gap is None or verdict.baseline_gap is None:
            gap.verification = f"not measured: {verdict.baseline_problem or verdict.weights_problem}"
            _overrule(gap, gap.verification)
        else:
            gap.verification = (f"measured from the weights: a train-test gap of {100 * verdict.gap:.1f} points, "
                                f"the baseline's {100 * verdict.baseline_gap:.1f}")
            gap.measured_ok = verdict.gap < verdict.baseline_gap
            if gap.measured_ok:
                _earn(gap, _why_unshown(gap.name, report, unfinished))
            else:
                _overrule(gap, gap_not_smaller(verdict.gap, verdict.baseline_gap))
    return flags


def _design(question: QuestionResult, verdict: DesignVerdict, lesson: Lesson) -> None:
    """The design task, scored from its files alone, whatever the notebook's run did: half its
    points for reaching the target, half for doing so within the parameter budget (a small
    untrained network is within any budget, so the budget alone earns nothing)."""
    from .result import TestResult

    files = " and ".join(lesson.design_files)
    half = question.possible / 2
    if verdict.accuracy is None:
        question.verification = f"not measured: {verdict.problem}"
        target = budget = question.verification
    else:
        measured = f"{verdict.accuracy:.2%} of {verdict.test_images:,} test images (target {percent(verdict.threshold)})"
        question.verification = (f"measured from {files}: {measured}, {verdict.parameters:,} parameters (budget "
                                 f"{verdict.max_parameters:,})")
        target = "" if verdict.meets_threshold else \
            (f"your own network classifies {verdict.accuracy:.2%} of the {verdict.test_images:,} test images "
             f"correctly, under the design target of {percent(verdict.threshold)}")
        budget = (f"your own network has {verdict.parameters:,} parameters, over the budget of "
                  f"{verdict.max_parameters:,}" if not verdict.within_budget else
                  "" if verdict.meets_threshold else
                  "the parameter budget counts for a network that reaches the target (any untrained network is small)")
    question.tests = [TestResult(f"{question.name} target", True, half, not target, target),
                      TestResult(f"{question.name} budget", True, question.possible - half, not budget, budget)]
    question.score = sum(test.points for test in question.tests if test.passed)
    question.measured_ok = not target and not budget


def _architecture(question: QuestionResult, verdict: Verdict, report: JudgeReport, notes: list[str],
                  unfinished: list[str]) -> list[str]:
    """The notebook's network where the run showed it, held against the weights; the weights
    alone where it did not (and they are the lesson's network trained to its target: shapes
    alone would give untrained weights, which anyone can make, the architecture's points)."""
    if not verdict.weights_found or verdict.unreadable_weights:  # the notebook's own answer stands
        question.verification = ("unverified: " + ("no weights to check the network against"
                                 if not verdict.weights_found else str(verdict.weights_problem)))
        notes.append(f"{question.name}: {question.verification}")
        return []
    if not verdict.fits_lesson:
        question.verification = f"the clean room found: {verdict.weights_problem}"
        question.measured_ok = False
        if question.score == question.possible:
            _overrule(question, question.verification)
            return [f"{question.name}: the notebook run gave full marks, but {verdict.weights_problem}"]
        return []
    why = _why_unshown(question.name, report, unfinished)
    if verdict.meets_threshold and why:
        question.verification = "the weights are the lesson's network, trained to its target"
        question.measured_ok = True
        _earn(question, why)
    elif question.score >= question.possible:
        question.verification = "verified: the weights are the lesson's network"
        question.measured_ok = True
    else:  # the weights' shapes cannot show what the notebook's network got wrong (an activation, a softmax)
        question.verification = ("the weights have the lesson's shapes, but the notebook's network did not pass "
                                 "its tests" if not why else "the weights have the lesson's shapes, but they do not "
                                 f"reach the target, so they do not show the network was built ({why})")
    return []


def _why_unshown(name: str, report: JudgeReport, unfinished: Sequence[str] = ()) -> str | None:
    """Why the notebook's run could not show question ``name``, naming the failing cell; None
    when its tests asked the notebook and got its answers."""
    failed = f' (the cell "{_cell_of(report.cell_errors[0])}" raised an error)' if report.cell_errors else ""
    if not report.ready:
        where = _first_line(report.running_cell) if report.running_cell else "the start-up"
        return f"the notebook stopped while running {where}, before its tests ran"
    if name in report.unasked:
        if report.outcome is not None and report.outcome.timed_out:
            return "the run's time ran out while the tests asked the notebook questions"
        return "the notebook's kernel stopped answering while the tests ran"
    missing = report.missing.get(name)
    if missing:
        return f"the notebook never defined {', '.join(f'`{m}`' for m in missing)}{failed}"
    if name in unfinished:
        return f"its answer cell still holds the release's `...`{failed}"
    return None


def _earn(question: QuestionResult, why: str | None) -> None:
    """Full marks from the weights' measurement; ``why`` the notebook's run did not show it, if it did not."""
    if question.score >= question.possible:
        return
    failures = [t.message for t in question.tests if not t.passed and t.message]
    if why:
        question.verification += f"; verified from the weights alone: {why}"
    elif failures:
        question.verification += f"; earned from the measurement (the notebook's own test said: {failures[0]})"
    question.score, question.measured_ok = question.possible, True
    for test in question.tests:
        test.passed, test.message = True, ""


def _overrule(question: QuestionResult, message: str) -> None:
    """The clean room's measurement decides: a question whose notebook tests only checked
    that the weights load scores 0 when the measurement falls short, and its tests say why
    (no "passed" line stands next to a 0)."""
    if question.score > 0:
        question.score = 0.0
        for test in question.tests:
            test.passed, test.message = False, message


def _status(lesson: Lesson, report: JudgeReport, files: dict[str, bytes], flags: list[str],
            written_with: str | None) -> tuple[str, str]:
    """The row's status and reason. Reasons for a run that ended early are the grader's own
    words (limits the sandbox enforced, an exit status it saw), never text from the sandbox."""
    outcome = report.outcome
    assert outcome is not None, "a run's report has its outcome (only a refusal has none)"
    where = _first_line(report.running_cell) if report.running_cell else "the start-up"
    if outcome.timed_out and not report.ready:
        return "timeout", f"stopped after {outcome.seconds:.0f} s, the time limit, while running {where}"
    if outcome.out_of_memory and not report.ready:
        return "out-of-memory", f"stopped at the memory limit while running {where}"
    if outcome.out_of_disk and not report.ready:   # kernel_error is then the judge's words, with the limits (judge.py)
        return "error", f"{report.kernel_error} while running {where}. Only the questions the weights verify were graded."
    if flags:
        more = f" (+{len(flags) - 1} more)" if len(flags) > 1 else ""
        return "flagged", flags[0] + more
    missing = [name for name in lesson.submitted_files if name not in files]
    if missing:
        files_were = f"{missing[0]} was" if len(missing) == 1 else f"{' and '.join(missing)} were"
        return "missing-weights", f"{files_were} not submitted: the questions measured from weights score 0"
    if outcome.timed_out or outcome.out_of_memory or outcome.out_of_disk:
        limit = "time" if outcome.timed_out else "memory" if outcome.out_of_memory else "disk space"
        return "error", f"the notebook ran out of {limit} while the tests asked it questions; those tests failed"
    if not report.ready:
        code = f" (exit status {outcome.returncode})" if outcome.returncode not in (None, 0) else ""
        return "error", (f"the notebook's run ended before its tests ran: its kernel or the grader's runner "
                         f"stopped{code}. Only the questions the weights verify were graded.")
    if report.lost_during_tests:  # not by the grader's limits
        after = "the questions asked after that score 0, except those the weights verify alone"
        if report.kernel_error == KERNEL_STUCK:
            return "error", f"{KERNEL_STUCK}: {after}."
        return "error", ("the notebook's kernel stopped answering while the tests asked it questions (it died: "
                         f"its own code may have ended it; if not, on Gradescope most likely the container's "
                         f"memory limit did, and a regrade with more memory helps): {after}.")
    if report.cell_errors:
        more = f" (+{len(report.cell_errors) - 1} more)" if len(report.cell_errors) > 1 else ""
        return "error", _explained(report.cell_errors[0], written_with, report.python) + more
    return "ok", ""


def _explained(cell_error: str, written_with: str | None, grading_with: str | None) -> str:
    """A cell's error, or, for syntax the grader's Python is too old to parse in a notebook
    written with a newer one, one line saying so."""
    cell_error = _TORCH_ADVICE.sub("", cell_error).rstrip()
    match = _SYNTAX_ERROR.match(cell_error)
    if match and not written_with and grading_with and _version(grading_with) < COLAB_PYTHON \
            and _NEWER_SYNTAX.search(cell_error):
        colab = ".".join(map(str, COLAB_PYTHON))
        return (f"{cell_error}. The notebook does not say which Python it was written with: this may be syntax of "
                f"a newer Python than the grader's {grading_with} (Colab runs {colab}). Ask for a grader with "
                f"Python {colab} or newer, or write the cell for Python {'.'.join(map(str, _version(grading_with)))}.")
    if not (match and written_with and grading_with and _version(written_with) > _version(grading_with)):
        return cell_error
    return (f'the cell "{match["cell"]}" is valid Python {written_with} (the version the notebook was written '
            f"with) but not Python {grading_with}, the grader's: it raised SyntaxError. Ask for a grader with "
            f"Python {'.'.join(map(str, _version(written_with)))} or newer, or write the cell for Python "
            f"{'.'.join(map(str, _version(grading_with)))}.")


def _version(text: str) -> tuple[int, ...]:
    """``"3.12.11"`` as ``(3, 12)``: the major and minor version, what syntax depends on."""
    parts = re.findall(r"\d+", text)[:2]
    return tuple(int(p) for p in parts)


def ungraded(submission: Path, lesson: Lesson, manifest: Manifest, status: str, reason: str,
              start: float) -> GradeResult:
    questions = {name: QuestionResult(name, 0.0, possible) for name, possible in manifest.points.items()}
    return GradeResult(submission=submission.name, lesson=lesson.id, status=status, reason=reason,
                       questions=questions, seconds=time.monotonic() - start, manual=dict(manifest.manual))


def _cell_of(cell_error: str) -> str:
    """The cell's first line in a cell error (``cell "..." raised X: ...``)."""
    match = re.match(r'cell "(.*?)" raised ', cell_error)
    return match.group(1) if match else cell_error[:60]


def _first_line(source: str | None) -> str:
    lines = [line for line in (source or "").splitlines() if line.strip()]
    text = lines[0].strip() if lines else "an empty cell"
    return f'the cell "{text[:60]}"'
