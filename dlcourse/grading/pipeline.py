"""Grade one submission, end to end, as a sequence of steps:

    read      open the notebook or zip; unreadable input becomes a status, not a crash
    stage     lay it out in a fresh Gradescope-like folder (source/, submission/, results/)
    scan      look for tampering in the code, without running it            (tamper.py)
    run       execute the notebook and its tests in the sandbox             (notebook_run.py)
    verify    re-check the weights in the clean room                        (cleanroom.py)
    combine   one GradeResult: scores, a status and a one-line reason

The scratch folder, which holds the hidden tests, is removed on every way out, a timeout
or Ctrl-C included. Nothing in this process imports torch or runs student code.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..checks.messages import gap_not_smaller, percent, shortfall
from ..lesson import LESSON_FILE, Lesson
from ..settings import DATA_ENV, data_dir
from .cleanroom import Verdict, run_cleanroom
from .notebook_run import NotebookRun, run_notebook
from .result import GradeResult, QuestionResult, TestResult
from .sandbox import Limits, can_drop_privileges, readable_by_everyone
from .submission import SubmissionProblem, check_assignment, read_submission, stage
from .tamper import scan_notebook

CLEANROOM_TIMEOUT = 180


class GradingInterrupted(Exception):
    """Grading was stopped on request; nothing was recorded for this submission."""


@dataclass(frozen=True)
class GradingOptions:
    timeout: float | None = None          # seconds for the notebook run; default: the lesson's
    memory_mb: int = 2048                 # for the whole notebook run (kernel included)
    threads: int = 1                      # BLAS/OpenMP threads per run
    keep_notebook: Path | None = None     # where to save the executed notebook, if anywhere
    stop: threading.Event | None = None   # set it to stop a run early (GradingInterrupted)


def grade_submission(autograder: Path, submission: Path, options: GradingOptions = GradingOptions()) -> GradeResult:
    """Grade ``submission`` with ``autograder`` (a built zip, or a folder it was unpacked into)."""
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dlcourse-grade-") as scratch:
        os.chmod(scratch, 0o711)  # an unprivileged run may pass through, not look around
        ag = Path(scratch) / "autograder"
        source = _unpack(autograder, ag / "source")
        lesson = Lesson.load(source / "files" / LESSON_FILE)
        points = question_points(source / "tests")
        try:
            sub = read_submission(submission)
            check_assignment(sub, lesson)
        except SubmissionProblem as problem:
            return _ungraded(submission, lesson, points, problem.status, problem.reason, start)
        stage(sub, lesson, ag / "submission")
        (ag / "results").mkdir()
        evidence = scan_notebook(sub.notebook)
        env = _grading_env()
        limits = Limits(timeout=options.timeout or lesson.grading_timeout, memory_mb=options.memory_mb,
                        threads=options.threads, drop_privileges=_safe_to_drop_privileges())
        run = run_notebook(ag, limits, env, stop=options.stop)
        verdict = None
        if lesson.verified_questions and run.completed and not run.sandbox.interrupted:
            cleanroom_limits = Limits(timeout=CLEANROOM_TIMEOUT, memory_mb=options.memory_mb,
                                      threads=options.threads, drop_privileges=limits.drop_privileges)
            verdict = run_cleanroom(source / "files", ag / "submission" / lesson.weights,
                                    ag / "results", cleanroom_limits, env, stop=options.stop)
        if options.stop is not None and options.stop.is_set():
            raise GradingInterrupted(submission.name)
        result = combine(submission, lesson, points, sub.files, run, verdict, evidence)
        if options.keep_notebook and run.executed_notebook:
            options.keep_notebook.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(run.executed_notebook, options.keep_notebook)
    result.seconds = time.monotonic() - start
    result.peak_memory_mb = run.sandbox.peak_memory_mb
    result.enforced = run.sandbox.enforced
    return result


def combine(submission: Path, lesson: Lesson, points: dict[str, float], files: dict[str, bytes],
            run: NotebookRun, verdict: Verdict | None, evidence: list[str]) -> GradeResult:
    questions = {name: QuestionResult(name, 0.0, possible) for name, possible in points.items()}
    if run.completed:
        for name, claimed in run.questions.items():
            if name in questions:  # a claim from the sandbox: kept within the question's points
                questions[name].score = min(max(claimed.score, 0.0), questions[name].possible)
                questions[name].tests = [TestResult(**vars(t)) for t in claimed.tests]
    flags = [f"tampering evidence: {line}" for line in evidence]
    notes = list(run.cell_errors)
    if verdict is not None:
        flags += _verify(lesson, questions, verdict, notes)
    if evidence:
        _only_verified_scores(lesson, questions, verdict)
    result = GradeResult(submission=submission.name, lesson=lesson.id, status="ok", reason="",
                         questions=questions, accuracy=verdict.accuracy if verdict else None,
                         flags=flags, notes=notes)
    result.status, result.reason = _status(lesson, run, files, flags)
    return result


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
        if not verdict.weights_found:
            architecture.verification = "unverified: no weights to check the network against"
            notes.append(f"{architecture.name}: {architecture.verification}")
        elif verdict.fits_lesson:
            architecture.verification = "verified: the weights are the lesson's network"
        else:
            architecture.verification = f"the clean room found: {verdict.weights_problem}"
            if architecture.score == architecture.possible:
                flags.append(f"{architecture.name}: the notebook run gave full marks, but {verdict.weights_problem}")
                architecture.score = 0.0
    accuracy = questions.get(lesson.verified_questions.get("accuracy", ""))
    if accuracy:
        if verdict.accuracy is None:
            accuracy.verification = f"not measured: {verdict.weights_problem}"
        else:
            accuracy.verification = (f"measured from the weights: {verdict.accuracy:.2%} of {verdict.test_images:,} "
                                     f"test images (target {percent(lesson.accuracy_threshold)})")
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
            if verdict.gap >= verdict.baseline_gap:
                _overrule(gap, gap_not_smaller(verdict.gap, verdict.baseline_gap))
    return flags


def _only_verified_scores(lesson: Lesson, questions: dict[str, QuestionResult], verdict: Verdict | None) -> None:
    """A notebook that tampers with grading keeps only what the clean room verified itself:
    the scores its kernel reported are worth nothing, pending an instructor's review."""
    role_of = {name: role for role, name in lesson.verified_questions.items()}
    for name, question in questions.items():
        role = role_of.get(name)
        verified = verdict is not None and not verdict.error and (
            (role == "architecture" and verdict.fits_lesson)
            or (role == "accuracy" and verdict.meets_threshold)
            or (role == "gap" and verdict.gap is not None and verdict.gap < verdict.baseline_gap))
        question.score = question.possible if verified else 0.0
        if not verified:
            question.verification = "not counted: the notebook tampers with grading (see the flags)"


def _overrule(question: QuestionResult, message: str) -> None:
    """The clean room's measurement decides: a question whose notebook tests only checked
    that the weights load scores 0 when the measurement falls short."""
    if question.score > 0:
        question.score = 0.0
        for test in question.tests:
            test.passed, test.message = False, message


def _status(lesson: Lesson, run: NotebookRun, files: dict[str, bytes], flags: list[str]) -> tuple[str, str]:
    outcome = run.sandbox
    where = _first_line(run.running_cell) if run.running_cell else "the start-up"
    if outcome.timed_out:
        return "timeout", f"stopped after {run.limits.timeout:.0f} s, the time limit, while running {where}"
    if outcome.out_of_memory:
        return "out-of-memory", f"stopped at the {run.limits.memory_mb} MB memory limit while running {where}"
    if flags:
        more = f" (+{len(flags) - 1} more)" if len(flags) > 1 else ""
        return "flagged", flags[0] + more
    missing = [name for name in lesson.submitted_files if name not in files]
    if missing:
        files_were = f"{missing[0]} was" if len(missing) == 1 else f"{' and '.join(missing)} were"
        return "missing-weights", f"{files_were} not submitted: the questions measured from weights score 0"
    if run.kernel_error:
        return "error", run.kernel_error
    if run.cell_errors:
        more = f" (+{len(run.cell_errors) - 1} more)" if len(run.cell_errors) > 1 else ""
        return "error", run.cell_errors[0] + more
    return "ok", ""


def _ungraded(submission: Path, lesson: Lesson, points: dict[str, float], status: str, reason: str,
              start: float) -> GradeResult:
    questions = {name: QuestionResult(name, 0.0, possible) for name, possible in points.items()}
    return GradeResult(submission=submission.name, lesson=lesson.id, status=status, reason=reason,
                       questions=questions, seconds=time.monotonic() - start)


def question_points(tests: Path) -> dict[str, float]:
    """Each question's points, read from the test files Otter wrote (without running them)."""
    points = {}
    for test in sorted(tests.glob("*.py")):
        text = test.read_text()
        name = re.search(r'^name = "(.+)"$', text, re.M)
        value = re.search(r"^points = ([\d.]+)$", text, re.M)
        if name and value:
            points[name.group(1)] = float(value.group(1))
    return points


def _unpack(autograder: Path, target: Path) -> Path:
    if autograder.is_dir():
        shutil.copytree(autograder, target)
    else:
        with zipfile.ZipFile(autograder) as archive:
            archive.extractall(target)
    return target


def _grading_env() -> dict[str, str]:
    """A small, explicit environment: nothing of the grader's own settings leaks in."""
    keep = ("PATH", "LANG", "LC_ALL", "TZ", "VIRTUAL_ENV", "PYTHONPATH")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env[DATA_ENV] = str(data_dir())
    return env


def _safe_to_drop_privileges() -> bool:
    """Running as nobody needs the dataset and this Python readable by nobody."""
    import sys

    return can_drop_privileges() and readable_by_everyone(data_dir()) and readable_by_everyone(Path(sys.executable))


def _first_line(source: str | None) -> str:
    lines = [line for line in (source or "").splitlines() if line.strip()]
    text = lines[0].strip() if lines else "an empty cell"
    return f'the cell "{text[:60]}"'
