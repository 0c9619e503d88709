"""The grader's side of the judge process (judge.py): start it isolated, send it one job at a
time, read its one-line report within a deadline, and kill it when it hangs or is told to stop."""

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
from dataclasses import asdict
from pathlib import Path

from .judge import JudgeJob, JudgeReport

MEASURE_SECONDS = 180      # the judge's own work after the notebook: tests and the weights' measurement
JUDGE_GRACE_SECONDS = 60   # beyond the notebook's timeout and MEASURE_SECONDS, before a silent judge is killed


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
            line = _read_line(process, deadline=time.monotonic() + job.timeout + MEASURE_SECONDS + JUDGE_GRACE_SECONDS)
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
