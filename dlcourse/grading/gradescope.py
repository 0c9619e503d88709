"""Gradescope's entry point: ``python -m dlcourse.grading.gradescope /autograder``.

Grades ``/autograder/submission`` with the autograder unpacked in ``/autograder/source``, through
the same pipeline as ``dlcourse grade``, and always writes ``/autograder/results/results.json``:
a looping submission is stopped by the pipeline's own timeout, well before Gradescope's limit,
and even a failure of the grader itself becomes a result the student and instructor can read.

The limits come from the lesson (``lesson.yaml``: ``gradescope: {timeout: 600, memory_mb: 768}``,
the values set in the Gradescope assignment), or from ``DLCOURSE_GRADESCOPE_TIMEOUT`` and
``DLCOURSE_GRADESCOPE_MEMORY_MB``; the notebook's time and memory are derived from them
(:func:`limits`). A watchdog writes a timeout result shortly before Gradescope's limit in
case anything at all runs longer than planned.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..atomic import write_atomically
from ..lesson import LESSON_FILE, Lesson
from ..settings import GRADESCOPE_MEMORY_ENV, GRADESCOPE_TIMEOUT_ENV, MEMORY_ENV, data_dir
from .manifest import Manifest
from .judge_client import JUDGE_GRACE_SECONDS, MEASURE_SECONDS, JudgeFailed
from .pipeline import GradingOptions, grade_submission
from .result import GRADESCOPE_FORMATS, GradeResult, QuestionResult

START_SECONDS = 60         # start-up, unpacking, staging and writing results
WATCHDOG_MARGIN = 15       # the watchdog writes its result this long before Gradescope's limit
MIN_NOTEBOOK_SECONDS = 30  # a Gradescope timeout that leaves less for the notebook is refused
GRADER_MEMORY_MB = 68      # the grader's own processes, outside the run's limit (700 of 768 MB)
MIN_RUN_MEMORY_MB = 256    # below this, torch alone does not fit


@dataclass(frozen=True)
class Limits:
    gradescope_timeout: int    # seconds: Gradescope kills the container then
    gradescope_memory_mb: int  # Gradescope's memory limit for the whole container
    notebook_timeout: int      # seconds for the notebook run (the pipeline's own timeout)
    memory_mb: int             # the notebook run's memory limit
    watchdog: int              # seconds after start at which a timeout result is written regardless


def limits(lesson: Lesson, environ: Mapping[str, str] = os.environ) -> Limits:
    """The grader's limits inside Gradescope's: the lesson's, or the environment's.

    The notebook's timeout is the lesson's ``grading_timeout``, cut so that start-up, the
    judge's own work after the notebook and the pipeline's grace all end before Gradescope's
    timeout: the pipeline's timeout always fires first, and a results file is written.
    """
    timeout = int(environ.get(GRADESCOPE_TIMEOUT_ENV) or lesson.gradescope_timeout)
    container_mb = int(environ.get(GRADESCOPE_MEMORY_ENV) or lesson.gradescope_memory_mb)
    overhead = START_SECONDS + MEASURE_SECONDS + JUDGE_GRACE_SECONDS
    if timeout - overhead < MIN_NOTEBOOK_SECONDS:
        raise ValueError(f"{lesson.id}: a Gradescope timeout of {timeout} s leaves {timeout - overhead} s for the "
                         f"notebook (the grader needs {overhead} s of its own); set the assignment's timeout, and "
                         f"lesson.yaml's gradescope: timeout, to at least {overhead + MIN_NOTEBOOK_SECONDS} s")
    memory = int(environ.get(MEMORY_ENV) or container_mb - GRADER_MEMORY_MB)
    if memory < MIN_RUN_MEMORY_MB:
        raise ValueError(f"{lesson.id}: a Gradescope memory limit of {container_mb} MB leaves {memory} MB for the "
                         f"notebook; set it to at least {MIN_RUN_MEMORY_MB + GRADER_MEMORY_MB} MB")
    return Limits(gradescope_timeout=timeout, gradescope_memory_mb=container_mb,
                  notebook_timeout=min(lesson.grading_timeout, timeout - overhead), memory_mb=memory,
                  watchdog=timeout - WATCHDOG_MARGIN)


class ResultsWriter:
    """Writes results.json once: the grader's result, or the watchdog's, whichever comes first."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()

    def write(self, report: dict, blocking: bool = True) -> bool:
        if not self._lock.acquire(blocking=blocking):
            return False
        write_atomically(self.folder / "results.json", json.dumps(report, indent=1))
        return True


def start_watchdog(writer: ResultsWriter, seconds: float, report: dict) -> threading.Timer:
    """After ``seconds``, write ``report`` (unless a result is being written) and end the process."""
    def fire() -> None:
        if writer.write(report, blocking=False):
            print(f"WATCHDOG: grading passed {seconds:.0f} s, near Gradescope's limit; wrote a timeout result",
                  flush=True)
            os._exit(0)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    return timer


def failure_report() -> dict:
    return {"score": 0, "output": "The autograder itself failed on this submission; your instructor "
                                  "has been shown the error and will grade it by hand.",
            "tests": [], "stdout_visibility": "hidden", **GRADESCOPE_FORMATS}


def main(root: Path) -> int:
    start = time.monotonic()
    results = root / "results"
    results.mkdir(parents=True, exist_ok=True)
    close_grader_folders(root)
    writer = ResultsWriter(results)
    try:
        lesson = Lesson.load(root / "source" / "files" / LESSON_FILE)
        limit = limits(lesson)
        print(f"limits: notebook {limit.notebook_timeout} s and {limit.memory_mb} MB, inside Gradescope's "
              f"{limit.gradescope_timeout} s and {limit.gradescope_memory_mb} MB")
        manifest = Manifest.load(root / "source")
        reason = (f"grading did not finish within {limit.watchdog} s (Gradescope's limit is "
                  f"{limit.gradescope_timeout} s); your instructor can rerun it")
        late = GradeResult(submission="submission", lesson=lesson.id, status="timeout", reason=reason,
                           questions={name: QuestionResult(name, 0.0, p) for name, p in manifest.points.items()},
                           seconds=limit.watchdog, manual=dict(manifest.manual))
        start_watchdog(writer, limit.watchdog - (time.monotonic() - start), late.to_gradescope())
        result = grade_submission(root / "source", root / "submission",
                                  GradingOptions(timeout=limit.notebook_timeout, memory_mb=limit.memory_mb, threads=1,
                                                 data=data_dir()))  # the one place this run reads DLCOURSE_DATA
        report = result.to_gradescope()
        print(f"{result.status}: {result.score:g}/{result.possible:g} in {time.monotonic() - start:.0f} s"
              + (f" ({result.reason})" if result.reason else ""))
        print(f"enforced: {', '.join(result.enforced) or 'nothing'}")  # stdout is for the instructor: hidden
        for promise in result.not_enforced:
            print(f"WARNING, not enforced: {promise}")
        for flag in result.flags:
            print(f"flag: {flag}")
    except Exception as error:
        traceback.print_exc()
        for line in error.evidence if isinstance(error, JudgeFailed) else []:
            print(f"evidence: {line}")  # stdout is the instructor's (hidden); each line made safe, marked
        report = failure_report()
    sys.stdout.flush()
    writer.write(report)
    return 0


def close_grader_folders(root: Path) -> None:
    """Hidden tests, the toolkit's source and the results: closed to every other user, the
    sandbox's included (Gradescope's container has no namespaces to hide them in)."""
    for folder in (root / "source", root / "results"):
        os.chmod(folder, 0o700)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "/autograder")))
