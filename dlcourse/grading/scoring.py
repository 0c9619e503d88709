"""The scoring rules: the judge's report, held against its measurement of the submitted
weights, becomes one GradeResult with scores, a status and a one-line reason. Pure functions of
their inputs: nothing here runs code, reads a file or talks to a process."""

from __future__ import annotations

import time
from pathlib import Path

from ..checks.messages import gap_not_smaller, percent, shortfall
from ..lesson import Lesson
from .cleanroom import Verdict
from .judge import JudgeReport
from .manifest import Manifest
from .result import GradeResult, QuestionResult


def combine(submission: Path, lesson: Lesson, points: dict[str, float], files: dict[str, bytes],
            report: JudgeReport, evidence: list[str]) -> GradeResult:
    """The judge's scores, held against its measurement of the weights; a status and a reason."""
    questions = {name: QuestionResult(name, 0.0, possible) for name, possible in points.items()}
    for name, judged in report.questions.items():
        if name in questions:
            questions[name] = judged
    verdict = Verdict(**report.verdict) if report.verdict else None
    flags = [f"tampering evidence: {line}" for line in evidence]
    notes = list(report.cell_errors)
    if verdict is not None:
        if report.ready:
            flags += _verify(lesson, questions, verdict, notes)
        if not report.ready or report.lost_during_tests:
            _from_weights_alone(lesson, questions, verdict, report)
    result = GradeResult(submission=submission.name, lesson=lesson.id, status="ok", reason="",
                         questions=questions, accuracy=verdict.accuracy if verdict else None,
                         flags=flags, notes=notes)
    result.status, result.reason = _status(lesson, report, files, flags)
    result.predictions = verdict.predictions if verdict else ""
    return result


def _from_weights_alone(lesson: Lesson, questions: dict[str, QuestionResult], verdict: Verdict,
                        report: JudgeReport) -> None:
    """A run that stopped before its tests (a timeout, a dead kernel) still earns the
    questions the submitted weights verify alone: the accuracy, the train-test gap, and the
    architecture when the weights are the lesson's network *trained* to its target (shapes
    alone would give untrained weights, which anyone can make, the architecture's points).
    When the kernel stopped during the tests, only questions it was never asked are earned so:
    a notebook that kills its kernel after failing a question keeps that failure."""
    earned = {"architecture": verdict.fits_lesson and verdict.meets_threshold, "accuracy": verdict.meets_threshold,
              "gap": verdict.gap is not None and verdict.baseline_gap is not None and verdict.gap < verdict.baseline_gap}
    if report.ready:
        when = "the notebook's kernel stopped answering while the tests ran"
    else:
        where = _first_line(report.running_cell) if report.running_cell else "the start-up"
        when = f"the notebook stopped while running {where}, before its tests ran"
    for role, name in lesson.verified_questions.items():
        question = questions.get(name)
        if question is None or not earned.get(role) or question.score >= question.possible:
            continue
        if report.ready and name not in report.unasked:  # the kernel answered it: its verdict stands
            continue
        question.score, question.measured_ok = question.possible, True
        question.verification = f"verified from the weights alone: {when}"
        for test in question.tests:
            test.passed, test.message = True, ""


def _verify(lesson: Lesson, questions: dict[str, QuestionResult], verdict: Verdict, notes: list[str]) -> list[str]:
    """Hold the notebook run's scores against the clean room's verdict; return flags.

    Architecture: full marks claim the lesson's network, so weights of another shape
    refute them (score 0, flagged). Accuracy: while grading, the notebook only checks that
    the weights load; the clean room's measurement decides the question.
    """
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
        if not verdict.weights_found or verdict.unreadable_weights:  # the notebook's own answer stands
            architecture.verification = ("unverified: " + ("no weights to check the network against"
                                         if not verdict.weights_found else verdict.weights_problem))
            notes.append(f"{architecture.name}: {architecture.verification}")
        elif verdict.fits_lesson:
            architecture.verification = "verified: the weights are the lesson's network"
            architecture.measured_ok = True
        else:
            architecture.verification = f"the clean room found: {verdict.weights_problem}"
            architecture.measured_ok = False
            if architecture.score == architecture.possible:
                flags.append(f"{architecture.name}: the notebook run gave full marks, but {verdict.weights_problem}")
                _overrule(architecture, architecture.verification)
    accuracy = questions.get(lesson.verified_questions.get("accuracy", ""))
    if accuracy:
        if verdict.accuracy is None:
            accuracy.verification = f"not measured: {verdict.weights_problem}"
        else:
            accuracy.verification = (f"measured from the weights: {verdict.accuracy:.2%} of {verdict.test_images:,} "
                                     f"test images (target {percent(lesson.accuracy_threshold)})")
        accuracy.measured_ok = verdict.meets_threshold if verdict.accuracy is not None else None
        if not verdict.meets_threshold:
            _overrule(accuracy, shortfall(verdict.accuracy, verdict.test_images, lesson.accuracy_threshold)
                      if verdict.accuracy is not None else verdict.weights_problem)
    gap = questions.get(lesson.verified_questions.get("gap", ""))
    if gap:
        if verdict.gap is None:
            gap.verification = f"not measured: {verdict.baseline_problem or verdict.weights_problem}"
            _overrule(gap, gap.verification)
        else:
            gap.verification = (f"measured from the weights: a train-test gap of {100 * verdict.gap:.1f} points, "
                                f"the baseline's {100 * verdict.baseline_gap:.1f}")
            gap.measured_ok = verdict.gap < verdict.baseline_gap
            if verdict.gap >= verdict.baseline_gap:
                _overrule(gap, gap_not_smaller(verdict.gap, verdict.baseline_gap))
    return flags


def _overrule(question: QuestionResult, message: str) -> None:
    """The clean room's measurement decides: a question whose notebook tests only checked
    that the weights load scores 0 when the measurement falls short, and its tests say why
    (no "passed" line stands next to a 0)."""
    if question.score > 0:
        question.score = 0.0
        for test in question.tests:
            test.passed, test.message = False, message


def _status(lesson: Lesson, report: JudgeReport, files: dict[str, bytes], flags: list[str]) -> tuple[str, str]:
    outcome = report.outcome
    where = _first_line(report.running_cell) if report.running_cell else "the start-up"
    if outcome.timed_out and not report.ready:
        return "timeout", f"stopped after {outcome.seconds:.0f} s, the time limit, while running {where}"
    if outcome.out_of_memory and not report.ready:
        return "out-of-memory", f"stopped at the memory limit while running {where}"
    if flags:
        more = f" (+{len(flags) - 1} more)" if len(flags) > 1 else ""
        return "flagged", flags[0] + more
    missing = [name for name in lesson.submitted_files if name not in files]
    if missing:
        files_were = f"{missing[0]} was" if len(missing) == 1 else f"{' and '.join(missing)} were"
        return "missing-weights", f"{files_were} not submitted: the questions measured from weights score 0"
    if outcome.timed_out or outcome.out_of_memory:
        limit = "time" if outcome.timed_out else "memory"
        return "error", f"the notebook ran out of {limit} while the tests asked it questions; those tests failed"
    if report.lost_during_tests:  # not by the grader's limits: killed from outside, by the container
        return "error", (f"the notebook's kernel stopped answering while the tests asked it questions "
                         f"({report.kernel_error or 'killed from outside the grader'}; on Gradescope most likely "
                         f"by the container's memory limit): the questions asked after that score 0, except "
                         f"those the weights verify alone. Regrade it with more memory.")
    if report.kernel_error:
        return "error", report.kernel_error
    if report.cell_errors:
        more = f" (+{len(report.cell_errors) - 1} more)" if len(report.cell_errors) > 1 else ""
        return "error", report.cell_errors[0] + more
    return "ok", ""


def ungraded(submission: Path, lesson: Lesson, manifest: Manifest, status: str, reason: str,
              start: float) -> GradeResult:
    questions = {name: QuestionResult(name, 0.0, possible) for name, possible in manifest.points.items()}
    return GradeResult(submission=submission.name, lesson=lesson.id, status=status, reason=reason,
                       questions=questions, seconds=time.monotonic() - start, manual=dict(manifest.manual))


def _first_line(source: str | None) -> str:
    lines = [line for line in (source or "").splitlines() if line.strip()]
    text = lines[0].strip() if lines else "an empty cell"
    return f'the cell "{text[:60]}"'
