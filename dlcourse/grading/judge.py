"""The judge: the trusted half of grading. It decides every score and runs no student code.

``python -I -m dlcourse.grading.judge`` reads :class:`JudgeJob` lines (JSON) on stdin and
answers each with a :class:`JudgeReport` line (JSON) on stdout, one submission after
another (torch and Otter are imported once per judge, not once per submission). For each:

1. starts the notebook runner (:mod:`.notebook_run`) in the sandbox, which runs the
   student's cells in a kernel;
2. runs each test file of the autograder's manifest *here*, with Otter's own machinery,
   against the notebook's values: the kernel is asked for them, and for calls on inputs
   the tests choose, through :mod:`.proxies`. A test's verdict is computed in this process,
   where student code cannot reach it;
3. stops the sandbox, then measures the submitted weights itself (:mod:`.cleanroom`): the
   bytes the submission arrived with, captured before any student code ran.

Everything it reads comes from the autograder folder or the work folder the grader made
for it (both closed to the sandbox's user); answers from the kernel arrive over a pipe as
data (:mod:`.wire`). The grader starts it isolated (``-I``) in that work folder, so neither
the environment nor the working directory can slip a module into it.

Why one module of ~380 lines: the job, the report, the runner session and the main loop are
the judge's one protocol, read together; what could stand alone already does (the proxies,
the clean room, the message format, the sandbox).
"""

from __future__ import annotations

import json
import os
import platform
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..lesson import judged_in
from .kernel_pool import KernelPool, limits_for, start_runner
from .manifest import Manifest
from .randomness import KEY_FILE, seed_for, seeded
from .result import QuestionResult, TestResult
from .sandbox import Outcome, Sandboxed, SandboxUnavailable
from .trim import release_freed_memory
from .wire import ANSWER_LIMIT, WireError, read_message, write_message

CALL_TIMEOUT = 60              # seconds for one call into the kernel
NETWORK = "model"              # the notebook's name for the network the lesson asks for
NOTEBOOK_LIMIT = 20 * 2**20    # bytes of the executed notebook kept for instructors
# The judge's own words for a run that ended before it reported: nothing the sandbox sends
# (which the student's code may have forged) becomes a row's reason.
RUNNER_LOST = "the notebook's runner ended before the notebook finished (its kernel or runner was killed)"
KERNEL_DIED = "the notebook's kernel died"
KERNEL_STUCK = ("the notebook stopped answering: a call the tests made ran past its time, ignored the "
                "interrupt, and was still running when the next question's time ran out")
TIME_SPENT = "the run's time limit ({limit:.0f} s) ran out while the tests asked the notebook questions: this test got no answer"
CALL_PAST_TIME = "a call this test made into the notebook did not finish within {seconds} s, the time one call may take"
# Exceptions whose text is written for the student; others keep their type name in the message.
STUDENT_FACING = {"AssertionError", "ArchitectureMismatch", "WeightsProblem", "UnsafeWeights", "OracleUnavailable",
                  "CallPastTime"}


@dataclass
class JudgeJob:
    workdir: str             # the judge's folder for this submission: lesson.yaml and the captured weights
    autograder: str          # the unpacked autograder: manifest.json, tests/, files/
    run_dir: str             # the sandbox's folder: submission/ (staged) and home/
    data_root: str           # the datasets, read-only for the sandbox
    weights: dict[str, str]  # weights file name -> its captured copy in the judge's work folder
    submission_digest: str   # what the hidden tests' randomness derives from (randomness.py)
    timeout: float
    memory_mb: int
    threads: int = 1
    cpus: float | None = None          # the run's CPU share, so a neighbour's burner costs it nothing
    allow_root: bool = False
    sandbox: str = "auto"              # how student code is confined (sandbox.CONFINEMENTS, or auto)
    next_run_dir: str | None = None    # where to pre-start the next submission's kernel (KernelPool)


@dataclass
class JudgeReport:
    questions: dict[str, QuestionResult] = field(default_factory=dict)
    ready: bool = False                # every cell ran and the tests were asked
    cell_errors: list[str] = field(default_factory=list)
    kernel_error: str | None = None
    running_cell: str | None = None    # the cell last started, if the run stopped early
    verdict: dict | None = None        # cleanroom.Verdict as a mapping
    design: dict | None = None         # cleanroom.DesignVerdict as a mapping, for a lesson with a design task
    outcome: Outcome | None = None
    notebook: str | None = None        # the executed notebook (the student's output, capped)
    refused: str | None = None         # the sandbox could not be made safe here
    lost_during_tests: bool = False    # the kernel died or stopped answering while tests asked it
    # questions the kernel could not answer: their tests began after that, or each of their tests
    # that failed got no answer (the run's time ran out, the kernel died or was stuck)
    unasked: list[str] = field(default_factory=list)
    # question -> the names its tests asked for that the notebook never defined
    missing: dict[str, list[str]] = field(default_factory=dict)
    cuda_on_cpu: bool = False          # the notebook asked for CUDA, which the kernel served on the CPU
    your_pipeline: float | None = None  # accuracy of the weights through the student's `prepare`, if it differs
    python: str = field(default_factory=platform.python_version)  # the Python the notebook ran on

    def to_json(self) -> str:
        """One line of JSON, valid UTF-8: text from the sandbox may hold lone surrogates (JSON
        carries them, UTF-8 cannot), and every writer after this one (CSV, Markdown, the
        terminal) is strict, so they become ``?`` here, once."""
        return json.dumps(asdict(self), ensure_ascii=False).encode("utf-8", "replace").decode("utf-8")

    @classmethod
    def from_json(cls, text: str) -> JudgeReport:
        data = json.loads(text)
        data["questions"] = {name: QuestionResult(**{**q, "tests": [TestResult(**t) for t in q["tests"]]})
                             for name, q in data["questions"].items()}
        data["outcome"] = Outcome(**data["outcome"]) if data.get("outcome") else None
        return cls(**data)


def judge(job: JudgeJob, stop: threading.Event, kernels: KernelPool | None = None) -> JudgeReport:
    """Grade ``job``; ``kernels``: the worker's pool (main's), which pre-starts the next kernel."""
    from ..lesson import LESSON_FILE, Lesson

    autograder = Path(job.autograder)
    lesson = Lesson.load(autograder / "files" / LESSON_FILE)
    manifest = Manifest.load(autograder)
    report = JudgeReport()
    run_dir = Path(job.run_dir)
    limits = limits_for(job)
    try:
        sandboxed = (kernels.take(job, stop) if kernels else None) or start_runner(run_dir, job.data_root, limits, stop)
    except SandboxUnavailable as problem:
        report.refused = str(problem)
        return report
    runner = RunnerSession(sandboxed)
    try:
        _warm_up(job.threads)  # while the notebook runs
        report.ready = runner.wait_until_ready()
        if report.ready:
            from .proxies import Oracle  # torch: loaded while the notebook ran (_warm_up)

            values = NotebookValues(Oracle(runner.exchange, Path(job.data_root)))
            with judged_in(Path(job.workdir)):  # the checks' files; measure() below decides accuracy
                report.questions, report.unasked, report.missing = run_tests(manifest, autograder, values,
                                                                             job.submission_digest,
                                                                             answering=lambda: runner.alive)
            order = _parameter_order(values, lesson)
            report.lost_during_tests = not runner.alive
            if "accuracy" in lesson.verified_questions and runner.alive:
                from .pipeline_probe import your_pipeline_accuracy

                report.your_pipeline = your_pipeline_accuracy(values, lesson, Path(job.weights.get(lesson.weights or "", "")),
                                                              Path(job.data_root))
    finally:
        runner.close()
        report.outcome = sandboxed.finish(grace=0)  # the notebook was sent already: no need to wait
        if kernels is not None and job.next_run_dir and not stop.is_set():
            kernels.start(job)  # the next submission's kernel starts while this one is measured
    # A call cut at the run's time limit: the run timed out, even where the watchdog had not yet seen it
    report.outcome.timed_out |= runner.time_spent
    if report.outcome.out_of_disk:  # the judge's words: the runner's, if any, came after the kill
        runner.kernel_error = (f"the notebook wrote more than its disk limit ({limits.disk_mb:,} MB, "
                               f"{limits.max_files:,} files) and was stopped")
    report.cell_errors, report.kernel_error = runner.cell_errors, runner.kernel_error
    report.cuda_on_cpu = runner.cuda_on_cpu
    report.running_cell, report.notebook = runner.running_cell, runner.notebook
    if lesson.verified_questions and not report.outcome.interrupted:
        report.verdict = measure(lesson, job, order if report.ready else None)
    if "design" in lesson.verified_questions and not report.outcome.interrupted:
        from .cleanroom import verify_design

        try:
            report.design = asdict(verify_design(lesson, Path(job.workdir), Path(job.data_root)))
        except Exception as error:  # a bug of ours on odd files: the design question's row says so
            report.design = {"problem": f"the grader could not measure it ({type(error).__name__})"}
    return report


def _warm_up(threads: int) -> None:
    """Import what the tests need (torch, Otter) while the notebook's first cells run. (Not in
    a thread before the job arrives: it would hold the GIL while this process starts the sandbox.)"""
    import torch
    from otter.test_files.exception_test import ExceptionTestFile  # noqa: F401

    torch.set_num_threads(max(1, threads))


def run_tests(manifest: Manifest, autograder: Path, values: NotebookValues, digest: str,
              answering: Callable[[], bool] = lambda: True
              ) -> tuple[dict[str, QuestionResult], list[str], dict[str, list[str]]]:
    """Every question's tests, run here with Otter's machinery on the notebook's values, each
    test file drawing its random inputs from the submission's own seed; the questions the
    kernel could not answer (their tests began after it stopped ``answering``, or each of their
    failed tests got no answer: the run's time ran out, the kernel died or was stuck); and, per
    question, the names its tests asked for that the notebook never defined. Only those
    questions may later be earned from the weights alone (scoring.py): a question the kernel
    did answer keeps its verdict, however the kernel ends.

    A failed test that got no answer says why in the judge's words, whatever the check made of
    it (a check that reads any error of the network's as "computes something else", or a
    missing value as "define it first", would blame the student's code)."""
    from otter.test_files.exception_test import ExceptionTestFile

    key = (autograder / KEY_FILE).read_text().strip()
    questions, unasked, missing = {}, [], {}
    for spec in manifest.questions:
        if not answering():
            unasked.append(spec.name)
        test_file = ExceptionTestFile.from_file(str(autograder / spec.file))
        values.asked, values.lapses = set(), {}
        # Otter runs a file's tests in order, keeping each one's result as it ends: the results
        # kept so far number the test that is asking
        values.test_index = lambda: len(test_file.test_case_results)
        with seeded(seed_for(key, digest, spec.file)):
            test_file.run(values)
        if values.asked & values.missing:
            missing[spec.name] = sorted(values.asked & values.missing)
        tests = [TestResult(r.test_case.name, bool(r.test_case.hidden), float(r.test_case.points), bool(r.passed),
                            _failure(r, values.lapses.get(i))) for i, r in enumerate(test_file.test_case_results)]
        failed = [i for i, r in enumerate(test_file.test_case_results) if not r.passed]
        if failed and spec.name not in unasked and all(_unanswered(values.lapses.get(i)) for i in failed):
            unasked.append(spec.name)
        questions[spec.name] = QuestionResult(spec.name, float(test_file.score), float(test_file.possible), tests)
        release_freed_memory()  # this file's temporaries, while the kernel still holds its own (trim.py)
    return questions, unasked, missing


def measure(lesson, job: JudgeJob, order: list[str] | None) -> dict:
    """The clean room's verdict on the captured weights (see cleanroom.verify); ``order``:
    the notebook network's tensors in the order its forward pass uses them."""
    from .cleanroom import verify

    weights = Path(job.weights.get(lesson.weights, Path(job.autograder) / "no-weights" / lesson.weights))
    return asdict(verify(lesson, weights, order, Path(job.data_root), predictions=True))


def _parameter_order(values: NotebookValues, lesson) -> list[str] | None:
    """How the notebook's network uses its tensors, so that weights saved from a class that
    declares its layers in another order still line up with the lesson's network."""
    from torch import nn

    from ..checks.architecture import parameter_order

    if lesson.architecture is None:
        return None
    try:
        network = values.get(NETWORK)
        return parameter_order(network, lesson.architecture) if isinstance(network, nn.Module) else None
    except Exception:  # the kernel stopped answering, or the network cannot run
        return None


class NotebookValues(dict):
    """The environment Otter's tests take their arguments from: each name is fetched from
    the kernel on first use (a name the notebook lacks arrives as ``None``, as in Otter)."""

    def __init__(self, oracle) -> None:
        super().__init__()
        self.oracle = oracle
        self.asked: set[str] = set()     # names asked for since the caller last emptied it
        self.missing: set[str] = set()   # names the notebook does not define
        # a test's place in its file -> the first question of its the kernel did not answer
        # (OracleUnavailable, CallPastTime), whatever the test's check did with the error
        self.lapses: dict[int, Exception] = {}
        self.test_index: Callable[[], int] = lambda: 0   # the place of the test now asking
        oracle.exchange = self._noting_lapses(oracle.exchange)

    def _noting_lapses(self, exchange: Callable) -> Callable:
        from .proxies import CallPastTime, OracleUnavailable

        def noted(request: dict, blobs: list[bytes]) -> tuple[Any, list[bytes]]:
            try:
                return exchange(request, blobs)
            except (OracleUnavailable, CallPastTime) as lapse:
                self.lapses.setdefault(self.test_index(), lapse)
                raise
        return noted

    def get(self, name: str, default: Any = None) -> Any:
        from .proxies import OracleUnavailable

        self.asked.add(name)
        if not super().__contains__(name):
            try:
                found, value = self.oracle.get(name)
            except OracleUnavailable:
                raise  # the test fails saying so, not "define `name` first"
            except Exception:  # a value that cannot travel
                found, value = True, None
            if not found:
                self.missing.add(name)
            self[name] = value if found else default
        return super().__getitem__(name)

    def __getitem__(self, name: str) -> Any:
        return self.get(name)


class RunnerSession:
    """The judge's end of the pipe to the notebook runner (see notebook_run's docstring)."""

    def __init__(self, sandboxed: Sandboxed) -> None:
        self.sandboxed = sandboxed
        self.running_cell: str | None = None
        self.cell_errors: list[str] = []
        self.kernel_error: str | None = None
        self.notebook: str | None = None
        self.cuda_on_cpu = False
        self.alive = True
        self.time_spent = False   # a call ran until the run's time limit: no question can be answered after it

    def wait_until_ready(self) -> bool:
        while True:
            event, blobs = self._next()
            if event is None:
                self.kernel_error = self.kernel_error or RUNNER_LOST
                return False
            kind = event.get("event")
            if kind == "cell":
                self.running_cell = str(event.get("source", ""))[:2000]
            elif kind == "ready":
                self.running_cell = None
                errors = event.get("cell_errors")
                self.cell_errors = [str(e)[:500] for e in errors[:50]] if isinstance(errors, list) else []
                if blobs and len(blobs[0]) <= NOTEBOOK_LIMIT:
                    self.notebook = blobs[0].decode(errors="replace")
                self.cuda_on_cpu = event.get("cuda_on_cpu") is True
                return True
            elif kind == "dead":
                self.kernel_error = KERNEL_DIED
                self.alive = False
                return False

    def exchange(self, request: dict, blobs: list[bytes]) -> tuple[Any, list[bytes]]:
        """The kernel's answer to ``request``. OracleUnavailable where the kernel cannot answer
        (it died or is stuck, or the run's time ran out: a call cut at the run's time limit
        ends the questions); CallPastTime where the call ran past its own time."""
        from .proxies import CallPastTime, OracleUnavailable

        if not self.alive:
            raise OracleUnavailable(self._why_silent())
        timeout = max(1, min(CALL_TIMEOUT, int(self.sandboxed.seconds_left)))
        request = {**request, "timeout": timeout}
        started = time.monotonic()
        try:
            write_message(self.sandboxed.stdin, request, blobs)
        except (BrokenPipeError, OSError):
            self.alive = False
            raise OracleUnavailable(self._why_silent()) from None
        while True:
            event, answer_blobs = self._next()
            if event is None:
                raise OracleUnavailable(self._why_silent())
            if event.get("event") == "answer":
                answer = event.get("answer")
                # The runner's answer to a call past its time (kernel_oracle.timed_out); the
                # time the judge itself measured shows it is not a TimeoutError of the student's
                if _timed_out(answer) and time.monotonic() - started >= timeout:
                    if timeout < CALL_TIMEOUT:   # its time was what the run had left
                        self.alive, self.time_spent = False, True
                        raise OracleUnavailable(self._why_silent())
                    raise CallPastTime(CALL_PAST_TIME.format(seconds=timeout))
                return answer, answer_blobs
            if event.get("event") in ("dead", "stuck"):  # it died while answering, or answers no more
                self.kernel_error = KERNEL_DIED if event.get("event") == "dead" else KERNEL_STUCK
                self.alive = False
                raise OracleUnavailable(self._why_silent())

    def _next(self) -> tuple[dict | None, list[bytes]]:
        try:
            event, blobs = read_message(self.sandboxed.stdout, max_bytes=ANSWER_LIMIT)
        except (EOFError, OSError, WireError, ValueError):
            self.alive = False
            return None, []
        if not isinstance(event, dict):
            self.alive = False
            return None, []
        return event, blobs

    def _why_silent(self) -> str:
        outcome = self.sandboxed.outcome
        if outcome.timed_out or self.time_spent:
            return TIME_SPENT.format(limit=self.sandboxed.limits.timeout)
        if outcome.out_of_memory:
            return "the notebook stopped answering: it ran out of memory"
        return self.kernel_error or "the notebook's kernel stopped answering"

    def close(self) -> None:
        if self.alive:
            try:
                write_message(self.sandboxed.stdin, {"op": "done"})
            except (BrokenPipeError, OSError):
                pass


def _timed_out(answer: Any) -> bool:
    """Whether ``answer`` is the runner's for a call past its time (kernel_oracle.timed_out)."""
    return isinstance(answer, dict) and answer.get("error") == "TimeoutError" and answer.get("builtin") is True


def _unanswered(lapse: Exception | None) -> bool:
    """Whether a test's ``lapse`` means the kernel could not answer it (not a call's own slowness)."""
    from .proxies import OracleUnavailable

    return isinstance(lapse, OracleUnavailable)


def _failure(result, lapse: Exception | None = None) -> str:
    """The assertion text of a failed test, without Otter's framing (which would show the
    test's source line, hidden tests included). A test the kernel did not answer (``lapse``)
    says why in the judge's words, unless its own message already does."""
    from .proxies import CallPastTime

    if result.passed:
        return ""
    if lapse is not None and (_unanswered(lapse) or str(lapse) not in (result.message or "")):
        return str(lapse)
    lines = (result.message or "").strip().splitlines()
    last = lines[-1] if lines else "failed"
    kind, _, text = last.partition(": ")
    message = text if kind in STUDENT_FACING and text else last
    if isinstance(lapse, CallPastTime):   # a check naming the input keeps the error's type (checks.inputs.for_input)
        message = message.replace(f"{CallPastTime.__name__}: ", "")
    extra = result.test_case.failure_message
    return f"{message} ({extra})" if extra else message


def main() -> None:
    """Judge each job read from stdin; SIGTERM stops the current one early (it still reports)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=_stop_when_orphaned, args=(os.getppid(), stop), daemon=True).start()
    kernels = KernelPool()
    try:
        for line in sys.stdin:
            message = json.loads(line)
            if "prestart" in message:   # the grader reads a submission meanwhile (judge_client.Judge.prestart)
                job = JudgeJob(**message["prestart"])
                kernels.start(job)
                _warm_up(job.threads)   # the kernel's sandbox is started: torch may hold the GIL now
                continue
            report = judge(JudgeJob(**message), stop, kernels)
            sys.stdout.buffer.write(report.to_json().encode("utf-8") + b"\n")
            sys.stdout.buffer.flush()
            stop.clear()
    finally:
        kernels.close()   # a kernel pre-started for a submission that never came


def _stop_when_orphaned(parent: int, stop: threading.Event) -> None:
    """Stop the current run once the grader that started this judge is gone (a batch worker
    killed mid-submission): its sandbox ends now, not at its timeout, and stdin's end then
    ends the judge."""
    while os.getppid() == parent:
        time.sleep(1)
    stop.set()


if __name__ == "__main__":
    main()
    # stdin ended: every report was written and every run finished, so nothing is left to clean
    # up. Leave without the interpreter's teardown of torch, which costs a second or more of
    # CPU that the grader, waiting for this process to end, would wait for.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
