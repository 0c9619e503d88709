"""The grader's side of the judge process (judge.py): start it isolated, send it one job at a
time, read its one-line report within a deadline and a memory bound, and kill it when it hangs,
grows past its bound or is told to stop. A judge that fails leaves the tail of its error log in
the exception (:class:`JudgeFailed`), which the row keeps as evidence (``GradeResult.evidence``);
a judge found dead between submissions leaves its tail to the next row before a new judge
starts over its log. The log may quote what student code printed or raised: each line is made
safe (:func:`.safe_text.clean`), capped, and marked as such."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Iterator

from .judge import JudgeJob, JudgeReport
from .safe_text import clean
from .sandbox import private_mb, remove_tree
from .scratch import scratch_folder

MEASURE_SECONDS = 180      # the judge's own work after the notebook: tests and the weights' measurement
JUDGE_GRACE_SECONDS = 60   # beyond the notebook's timeout and MEASURE_SECONDS, before a silent judge is killed
# The judge's own private memory (torch, the test sets, what it decodes), polled: a backstop to
# the limits where answers are decoded (wire.py), which keep it far below (dense-mnist: ~350 MB).
JUDGE_MEMORY_MB = 3072
POLL_SECONDS = 0.5
LOG_LINES = 20             # lines of the judge's error log a failed row keeps
LOG_LINE_CHARS = 300       # each cut to this: a row is read by people, and a line may be a student's megabyte
LOG_MARK = "judge log (may quote student output): "
_ERROR_KIND = re.compile(r"([A-Za-z_][\w.]{0,80}(?:Error|Exception|Exit|Interrupt))(?::|$)")   # a traceback's last line


class JudgeFailed(RuntimeError):
    """The judge process failed on a submission; ``evidence`` is the tail of its error log."""

    def __init__(self, message: str, evidence: list[str]) -> None:
        super().__init__(message)
        self.evidence = evidence


class Judge:
    """A judge process (see judge.py), reused for one submission after another, so torch and
    Otter are imported once. It runs isolated (``-I``) in a folder of its own."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.home = scratch_folder("dlcourse-judge-home-")  # 0700: the grader's alone
        self.evidence: list[str] = []   # from a judge that died between submissions, for the next row
        self.next_run: Path | None = None   # the run folder the judge pre-starts the next kernel in

    def __enter__(self) -> Judge:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
        shutil.rmtree(self.home, ignore_errors=True)

    @contextlib.contextmanager
    def run_folder(self) -> Iterator[Path]:
        """A submission's sandbox folder (its ``run/`` inside, with ``run/home/``), removed on
        every way out: the one the judge pre-started a kernel in (:meth:`next_run_folder`), if
        any, else a new one."""
        folder, self.next_run = self.next_run, None
        folder = folder if folder is not None and folder.is_dir() else new_run_folder()
        try:
            yield folder
        finally:
            _remove(folder)   # what resists is left in this process's scratch folder, removed at exit or by a sweep

    def next_run_folder(self) -> Path:
        """A new run folder for the next submission, in which the judge pre-starts its kernel
        (``JudgeJob.next_run_dir``); the next :meth:`run_folder` hands it out."""
        if self.next_run is not None:
            _remove(self.next_run)
        self.next_run = new_run_folder()
        return self.next_run

    def prestart(self, job: JudgeJob) -> None:
        """Have the judge start a kernel now in ``job.next_run_dir`` (from :meth:`next_run_folder`),
        with ``job``'s limits, for the submission this process is about to read; the judge
        answers nothing. A judge that died shows it at :meth:`run`."""
        process = self.start()
        assert process.stdin is not None   # a pipe
        try:
            process.stdin.write(json.dumps({"prestart": asdict(job)}) + "\n")
            process.stdin.flush()
        except OSError:
            pass

    def run(self, job: JudgeJob, stop: threading.Event | None) -> JudgeReport:
        """The judge's report on ``job``; :class:`JudgeFailed` where it fails, hangs or grows
        past its bound. Read :meth:`take_evidence` after it for what an earlier judge left."""
        process = self.start()
        assert process.stdin is not None and process.stdout is not None   # both are pipes
        done = threading.Event()
        if stop is not None:
            threading.Thread(target=_terminate_on, args=(stop, done, process), daemon=True).start()
        try:
            process.stdin.write(json.dumps(asdict(job)) + "\n")
            process.stdin.flush()
            line = _read_line(process, deadline=time.monotonic() + job.timeout + MEASURE_SECONDS + JUDGE_GRACE_SECONDS)
        except (OSError, TimeoutError, MemoryError) as problem:
            raise self._failed(str(problem)) from None
        finally:
            done.set()
        try:
            return JudgeReport.from_json(line)
        except (ValueError, TypeError, KeyError):
            raise self._failed(None) from None

    def start(self) -> subprocess.Popen:
        """The judge process, started now if none is running: the grader calls this before it
        reads a submission, so that the judge's interpreter and modules load meanwhile. A judge
        found dead since its last report leaves the tail of its log to the next row
        (:meth:`take_evidence`)."""
        if self.process is not None and self.process.poll() is not None:
            code = self.process.returncode
            self.close()
            self.evidence = [f"an earlier judge ended between submissions (exit status {code}); its log follows",
                             *self._log_tail()]
        return self.process if self.process is not None else self._start()

    def take_evidence(self) -> list[str]:
        """What an earlier judge of this client left when it died between submissions (once)."""
        evidence, self.evidence = self.evidence, []
        return evidence

    def _start(self) -> subprocess.Popen:
        self.errors = open(self.home / "stderr.log", "w")
        self.process = subprocess.Popen([sys.executable, "-I", "-m", "dlcourse.grading.judge"], cwd=self.home,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors,
                                        encoding="utf-8", start_new_session=True)
        return self.process

    def _failed(self, problem: str | None) -> JudgeFailed:
        """Stop the judge; the failure, with the tail of its error log (read before the next
        judge starts over it)."""
        self.close()
        lines = self._log_tail()
        if problem is None:  # the reason names the error's kind only: the log's words may be a student's
            kind = _ERROR_KIND.match(lines[-1].removeprefix(LOG_MARK)) if lines else None
            problem = (f"{kind.group(1)} (its log's last lines are in the row's evidence)" if kind
                       else "it ended without a report")
        return JudgeFailed(f"the judge failed: {problem}", [*self.take_evidence(), *lines])

    def _log_tail(self) -> list[str]:
        """The last lines of the judge's error log, each made safe, cut and marked (see the
        module docstring); read only the log's end, however much the judge wrote."""
        path = self.home / "stderr.log"
        try:
            with open(path, "rb") as log:
                log.seek(max(0, path.stat().st_size - LOG_LINES * LOG_LINE_CHARS * 4))
                text = log.read().decode("utf-8", "replace")
        except OSError:
            return []
        lines = [line for line in text.splitlines() if line.strip()][-LOG_LINES:]
        return [LOG_MARK + _cut(clean(line, keep_newlines=False).strip()) for line in lines]

    def close(self) -> None:
        """End the judge (it stops any kernel it pre-started), and remove that kernel's folder."""
        if self.process is not None:
            try:
                if self.process.stdin is not None:
                    self.process.stdin.close()
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            self.errors.close()
            self.process = None
        if self.next_run is not None:
            _remove(self.next_run)
            self.next_run = None


def _remove(folder: Path) -> None:
    """Remove a run folder; its runner, told to stop, may still be leaving it."""
    for _ in range(20):
        try:
            return remove_tree(folder)
        except OSError:
            time.sleep(0.1)


def new_run_folder() -> Path:
    """A fresh folder for one sandboxed run: ``run/`` (the sandbox's) and ``run/home/`` inside."""
    folder = scratch_folder("run")   # short: the kernel's sockets live below it (scratch.py)
    os.chmod(folder, 0o711)   # the sandbox's user may pass through to run/, not look around
    (folder / "run" / "home").mkdir(parents=True)
    os.chmod(folder / "run", 0o700)   # this student's alone: another run of the batch cannot list or read it
    return folder


def _cut(line: str) -> str:
    return line if len(line) <= LOG_LINE_CHARS else line[:LOG_LINE_CHARS] + " [...]"


def _read_line(process: subprocess.Popen, deadline: float) -> str:
    """The judge's next line; TimeoutError past ``deadline``, MemoryError past
    ``JUDGE_MEMORY_MB`` (either way the judge is killed first)."""
    import selectors

    assert process.stdout is not None   # a pipe
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while not selector.select(timeout=max(0.0, min(POLL_SECONDS, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                os.killpg(process.pid, signal.SIGKILL)
                raise TimeoutError("it did not report in time")
            used = private_mb(process.pid)
            if used > JUDGE_MEMORY_MB:
                os.killpg(process.pid, signal.SIGKILL)
                raise MemoryError(f"it used {used:,.0f} MB, over its {JUDGE_MEMORY_MB:,} MB")
    return process.stdout.readline()


def _terminate_on(stop: threading.Event, done: threading.Event, judge: subprocess.Popen) -> None:
    """Stop the judge's current submission when ``stop`` is set (it ends its sandbox and
    reports); give up once the submission is done."""
    while not done.is_set():
        if stop.wait(0.2):
            judge.terminate()
            return
