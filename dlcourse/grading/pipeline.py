"""Grade one submission, end to end, as a sequence of steps:

    read      open the notebook or zip; unreadable input becomes a status, not a crash
    capture   copy the submitted weights to the judge's own folder, before any code runs
    stage     lay the notebook out in the sandbox's folder
    scan      look for tampering in the code, without running it: evidence for a human (tamper.py)
    judge     run the notebook in the sandbox and its tests in the judge; measure the weights (judge.py)
    combine   one GradeResult: scores, a status and a one-line reason

Two folders per submission, both removed on every way out, a timeout or Ctrl-C included:
the judge's (the unpacked autograder, hidden tests included, and the captured weights),
open only to the grader's user; and the sandbox's, the only place student code may write.
This process imports no torch and runs no student code; the judge runs isolated (``-I``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

from ..checks.messages import gap_not_smaller, percent, shortfall
from ..lesson import BASELINE_FILE, LESSON_FILE, Lesson
from ..settings import data_dir
from .cleanroom import Verdict
from .judge import JudgeJob, JudgeReport
from .manifest import Manifest
from .randomness import submission_digest
from .result import GradeResult, QuestionResult
from .submission import SubmissionProblem, check_assignment, read_submission, stage
from .tamper import scan_notebook
from .written import written_answers

MEASURE_SECONDS = 180  # the judge's own work after the notebook: tests and the weights' measurement


class GradingInterrupted(Exception):
    """Grading was stopped on request; nothing was recorded for this submission."""


@dataclass(frozen=True)
class GradingOptions:
    timeout: float | None = None          # seconds for the notebook run; default: the lesson's
    memory_mb: int = 2048                 # for the whole notebook run (kernel included)
    threads: int = 1                      # BLAS/OpenMP threads per run
    keep_notebook: Path | None = None     # where to save the executed notebook, if anywhere
    stop: threading.Event | None = None   # set it to stop a run early (GradingInterrupted)
    data: Path | None = None              # the datasets (default: settings.data_dir())
    allow_root: bool = False              # throwaway machines: run student code as root if need be
    bubblewrap: bool | None = None        # None: wherever it works; False: permissions alone (as on Gradescope)


def grade_submission(autograder: Path, submission: Path, options: GradingOptions = GradingOptions(),
                     judge: Judge | None = None) -> GradeResult:
    """Grade ``submission`` with ``autograder`` (a built zip, or a folder it was unpacked into).

    ``judge``: a judge process to reuse (a batch keeps one per worker); default, a new one.
    """
    if judge is None:
        with Judge() as judge:
            return grade_submission(autograder, submission, options, judge)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dlcourse-judge-") as judge_dir, \
            tempfile.TemporaryDirectory(prefix="dlcourse-run-") as run_parent:
        judge_dir, run_dir = Path(judge_dir), Path(run_parent) / "run"
        os.chmod(judge_dir, 0o700)        # hidden tests and captured weights: the grader's alone
        os.chmod(run_parent, 0o711)       # the sandbox's user may pass through to run/, not look around
        source = _unpack(autograder, judge_dir / "autograder")
        lesson = Lesson.load(source / "files" / LESSON_FILE)
        manifest = Manifest.load(source)
        try:
            sub = read_submission(submission)
            check_assignment(sub, lesson)
        except SubmissionProblem as problem:
            return _ungraded(submission, lesson, manifest, problem.status, problem.reason, start)
        work = _capture(sub.files, lesson, source, judge_dir / "work")
        stage(sub, lesson, run_dir / "submission", support=source / "files")
        (run_dir / "home").mkdir()
        evidence = scan_notebook(sub.notebook)
        job = JudgeJob(workdir=str(work), autograder=str(source), run_dir=str(run_dir),
                       data_root=str((options.data or data_dir()).resolve()),
                       weights={name: str(work / name) for name in lesson.submitted_files if (work / name).is_file()},
                       submission_digest=submission_digest({**sub.files, lesson.notebook: nbformat.writes(sub.notebook).encode()}),
                       timeout=options.timeout or lesson.grading_timeout, memory_mb=options.memory_mb,
                       threads=options.threads, allow_root=options.allow_root, bubblewrap=options.bubblewrap)
        report = judge.run(job, options.stop)
        if options.stop is not None and options.stop.is_set():
            raise GradingInterrupted(submission.name)
        if report.refused:
            return _ungraded(submission, lesson, manifest, "not-graded", report.refused, start)
        result = combine(submission, lesson, manifest.points, sub.files, report, evidence)
        result.manual = dict(manifest.manual)
        result.answers = written_answers(sub.notebook, list(manifest.manual))
        result.notes[:0] = sub.notes  # how the submission was read (e.g. graded as the lesson named)
        if options.keep_notebook and report.notebook:
            options.keep_notebook.parent.mkdir(parents=True, exist_ok=True)
            options.keep_notebook.write_text(report.notebook)
    result.seconds = time.monotonic() - start
    result.peak_memory_mb = report.outcome.peak_memory_mb
    result.enforced = report.outcome.enforced
    result.not_enforced = report.outcome.not_enforced
    return result


def _capture(files: dict[str, bytes], lesson: Lesson, source: Path, work: Path) -> Path:
    """The judge's work folder: the lesson's settings and the submitted weights, as submitted."""
    work.mkdir()
    for name in (LESSON_FILE, BASELINE_FILE):
        if (source / "files" / name).is_file():
            shutil.copyfile(source / "files" / name, work / name)
    for name in lesson.submitted_files:
        if name in files:
            (work / name).write_bytes(files[name])
    return work


class Judge:
    """A judge process (see judge.py), reused for one submission after another, so torch and
    Otter are imported once. It runs isolated (``-I``) in a folder of its own."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.home = Path(tempfile.mkdtemp(prefix="dlcourse-judge-home-"))  # 0700: the grader's alone

    def __enter__(self) -> Judge:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
        shutil.rmtree(self.home, ignore_errors=True)

    def run(self, job: JudgeJob, stop: threading.Event | None) -> JudgeReport:
        if self.process is None or self.process.poll() is not None:
            self._start()
        process = self.process
        done = threading.Event()
        if stop is not None:
            threading.Thread(target=_terminate_on, args=(stop, done, process), daemon=True).start()
        try:
            process.stdin.write(json.dumps(asdict(job)) + "\n")
            process.stdin.flush()
            line = _read_line(process, deadline=time.monotonic() + job.timeout + MEASURE_SECONDS + 60)
        except (OSError, TimeoutError) as problem:
            self.close()
            raise RuntimeError(f"the judge failed: {problem}") from None
        finally:
            done.set()
        try:
            return JudgeReport.from_json(line)
        except (ValueError, TypeError, KeyError):
            self.close()
            raise RuntimeError(f"the judge failed: {self._last_error()}") from None

    def _start(self) -> None:
        self.errors = open(self.home / "stderr.log", "w")
        self.process = subprocess.Popen([sys.executable, "-I", "-m", "dlcourse.grading.judge"], cwd=self.home,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors,
                                        text=True, start_new_session=True)

    def _last_error(self) -> str:
        lines = (self.home / "stderr.log").read_text(errors="replace").strip().splitlines()
        return lines[-1] if lines else "it ended without a report"

    def close(self) -> None:
        if self.process is not None:
            try:
                self.process.stdin.close()
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            self.errors.close()
            self.process = None


def _read_line(process: subprocess.Popen, deadline: float) -> str:
    """The judge's next line; TimeoutError past ``deadline`` (a judge that hangs is killed)."""
    import selectors

    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
            os.killpg(process.pid, signal.SIGKILL)
            raise TimeoutError("it did not report in time")
    return process.stdout.readline()


def _terminate_on(stop: threading.Event, done: threading.Event, judge: subprocess.Popen) -> None:
    """Stop the judge's current submission when ``stop`` is set (it ends its sandbox and
    reports); give up once the submission is done."""
    while not done.is_set():
        if stop.wait(0.2):
            judge.terminate()
            return


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


def _ungraded(submission: Path, lesson: Lesson, manifest: Manifest, status: str, reason: str,
              start: float) -> GradeResult:
    questions = {name: QuestionResult(name, 0.0, possible) for name, possible in manifest.points.items()}
    return GradeResult(submission=submission.name, lesson=lesson.id, status=status, reason=reason,
                       questions=questions, seconds=time.monotonic() - start, manual=dict(manifest.manual))


def _unpack(autograder: Path, target: Path) -> Path:
    if autograder.is_dir():
        shutil.copytree(autograder, target)
    else:
        with zipfile.ZipFile(autograder) as archive:
            archive.extractall(target)
    return target


def _first_line(source: str | None) -> str:
    lines = [line for line in (source or "").splitlines() if line.strip()]
    text = lines[0].strip() if lines else "an empty cell"
    return f'the cell "{text[:60]}"'
