"""What a kernel's start costs one submission, with and without the kernel started ahead
(kernel_pool.KernelPool, issue 22 item 3): seconds from the judge taking a dense-mnist
reference's job to the start of the cell after the notebook's ``import torch`` (the runner,
the kernel's start, the import). Each round grades ``--n`` references in a row with one judge,
pool off then on (the order alternating), with a pause between submissions in which the next
kernel warms, as it does while a batch worker measures a submission. The first of a row
with the pool has no kernel started ahead: it is left out of the pool's median, as the
first of a row without it is (its files are not yet cached).

The judge runs in this process (same code as its own process runs), so that both moments
are seen here.

    DLCOURSE_DATA=<full datasets> .venv/bin/python benchmarks/kernel_start.py [--n 4] [--runs 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dlcourse.course import Course  # noqa: E402
from dlcourse.grading import judge as judge_module  # noqa: E402
from dlcourse.grading.judge_client import Judge  # noqa: E402
from dlcourse.grading.kernel_pool import KernelPool  # noqa: E402
from dlcourse.grading.pipeline import GradingOptions, grade_submission  # noqa: E402
from dlcourse.sample_submissions import reference_submission  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LESSON = "dense-mnist"
marks: dict[str, float | str] = {}


def _watching(read_next):
    """RunnerSession._next, noting when the cell after ``import torch`` starts."""
    def next_event(self):
        event, blobs = read_next(self)
        if event and event.get("event") == "cell":
            if "import torch" in str(marks.get("previous", "")):
                marks.setdefault("after_import", time.monotonic())
            marks["previous"] = event.get("source", "")
        return event, blobs
    return next_event


class InProcessJudge(Judge):
    """The judge's own loop, run here, with its pool of one kernel."""

    def __init__(self) -> None:
        super().__init__()
        self.kernels = KernelPool()

    def start(self):
        return None

    def run(self, job, stop):
        marks.clear()
        marks["taken"] = time.monotonic()
        return judge_module.judge(job, stop or threading.Event(), self.kernels)

    def close(self) -> None:
        self.kernels.close()
        super().close()


def row(course: Course, submission: Path, n: int, prestart: bool, pause: float) -> list[float]:
    costs = []
    with InProcessJudge() as judge:
        for i in range(n):
            result = grade_submission(course.autograder_zip(LESSON), submission,
                                      GradingOptions(timeout=120, cpus=1.0, prestart=prestart and i < n - 1), judge)
            if result.status != "ok":
                raise RuntimeError(f"the reference graded {result.status}: {result.reason}")
            costs.append(float(marks["after_import"]) - float(marks["taken"]))
            time.sleep(pause)
    return costs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=4, help="references graded in a row by one judge")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--pause", type=float, default=3.0, help="seconds between submissions (a batch's measuring)")
    args = parser.parse_args()
    judge_module.RunnerSession._next = _watching(judge_module.RunnerSession._next)  # type: ignore[method-assign]
    course = Course(ROOT)
    with tempfile.TemporaryDirectory() as scratch:
        submission = reference_submission(course, course.lesson(LESSON), Path(scratch))
        seen: dict[bool, list[float]] = {False: [], True: []}
        for run in range(args.runs):
            for prestart in ((False, True) if run % 2 == 0 else (True, False)):
                costs = row(course, submission, args.n, prestart, args.pause)
                seen[prestart] += costs[1:]
                print(f"  pool {'on ' if prestart else 'off'}: {', '.join(f'{c:.2f}' for c in costs)} s "
                      f"(load {os.getloadavg()[0]:.1f})", flush=True)
    print(f"kernel start + import torch per submission: {statistics.median(seen[False]):.2f} s cold, "
          f"{statistics.median(seen[True]):.2f} s started ahead (medians of {len(seen[True])})")


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
