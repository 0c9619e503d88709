"""Issue 22's figures, each side by side in one run (the rounds interleave the two sides, so
load on a shared machine hits both), medians:

- ``single``: one dense-mnist reference, `dlcourse grade` against `otter run` of the same zip;
- ``floor``: a bare `import torch`, and `import torch` plus one evaluation of the lesson's test
  set with the reference weights (no kernel, no sandbox, no tests): what one graded
  submission cannot go below;
- ``batch``: the mixed batch of bulk_grade.py (100 submissions) graded by `dlcourse grade --workers 2`
  and by a sequential loop of `otter run` over the same files (each under coreutils `timeout`,
  as bulk_grade.py runs it), alternately;
- ``dask``: a mixed batch graded by `--cluster local:2` and by `--workers 2`, alternately.

    DLCOURSE_DATA=<full datasets> .venv/bin/python benchmarks/scale_bench.py [--runs 5] [--batch N] [--timeout 60]
        [floor single batch dask]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bulk_grade import make_batch, run_dlcourse, run_otter_loop  # noqa: E402
from dlcourse.course import Course  # noqa: E402
from dlcourse.sample_submissions import reference_submission  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LESSON = "dense-mnist"
ONE_EVALUATION = """
import sys, torch
from dlcourse.course import Course
from dlcourse.grading.cleanroom import verify
from dlcourse.settings import data_dir
course = Course(__import__("pathlib").Path(sys.argv[1]))
lesson = course.lesson(sys.argv[2])
print(verify(lesson, course.reference_weights(lesson), None, data_dir(), gap=False))
"""


def timed(command: list[str], check: str | None = None) -> float:
    """Seconds ``command`` takes; RuntimeError if it fails (or its output lacks ``check``)."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0 or (check and check not in done.stdout):
        raise RuntimeError(f"{command[:4]} failed: {(done.stdout + done.stderr)[-800:]}")
    return seconds


def single(course: Course, scratch: Path, runs: int) -> None:
    submission = reference_submission(course, course.lesson(LESSON), scratch / "in")
    autograder = course.autograder_zip(LESSON)
    otter = str(Path(sys.executable).with_name("otter"))
    ours, theirs = [], []
    for i in range(runs):
        def grade() -> None:
            ours.append(timed([sys.executable, "-m", "dlcourse", "grade", "--lesson", LESSON, str(submission),
                               "--out", str(scratch / f"ours{i}")], check=": ok "))

        def otter_run() -> None:
            (scratch / f"otter{i}").mkdir()
            theirs.append(timed([otter, "run", "-a", str(autograder), "-o", str(scratch / f"otter{i}"), str(submission)]))
            if not (scratch / f"otter{i}" / "results.json").is_file():
                raise RuntimeError("otter run wrote no results.json")

        for side in ((grade, otter_run) if i % 2 == 0 else (otter_run, grade)):
            side()
        print(f"  round {i + 1}: dlcourse grade {ours[-1]:.1f} s, otter run {theirs[-1]:.1f} s", flush=True)
    print(f"single {LESSON} reference: dlcourse grade {statistics.median(ours):.1f} s, otter run "
          f"{statistics.median(theirs):.1f} s (medians of {runs}): {statistics.median(ours) / statistics.median(theirs):.2f}x")


def floor(course: Course, runs: int) -> None:
    bare, evaluated = [], []
    for _ in range(runs):
        bare.append(timed([sys.executable, "-c", "import torch"]))
        evaluated.append(timed([sys.executable, "-c", ONE_EVALUATION, str(course.root), LESSON], check="accuracy"))
    print(f"floor: bare import torch {statistics.median(bare):.1f} s; import torch + one evaluation of the test set "
          f"{statistics.median(evaluated):.1f} s (medians of {runs})")


def batch(course: Course, scratch: Path, runs: int, size: int, timeout: int) -> None:
    folder = scratch / "batch"
    kinds = make_batch(course, folder, size)
    autograder = course.autograder_zip(LESSON)
    ours, theirs = [], []
    for i in range(runs):
        def grade() -> None:
            ours.append(run_dlcourse(folder, scratch / f"ours{i}", timeout, workers=2))
            with open(scratch / f"ours{i}" / "submissions.csv", newline="") as f:
                rows = sum(1 for _ in csv.DictReader(f))
            if rows != len(kinds):
                raise RuntimeError(f"dlcourse grade wrote {rows} rows for {len(kinds)} submissions")

        def otter_loop() -> None:
            seconds, produced = run_otter_loop(autograder, folder, scratch / f"otter{i}", timeout)
            theirs.append(seconds)
            print(f"    otter run wrote {produced} results.json for {len(kinds)} submissions", flush=True)

        for side in ((grade, otter_loop) if i % 2 == 0 else (otter_loop, grade)):
            side()
        print(f"  round {i + 1}: dlcourse grade --workers 2 {ours[-1]:.0f} s, sequential otter run {theirs[-1]:.0f} s "
              f"(load {os.getloadavg()[0]:.1f})", flush=True)
    mine, otter = statistics.median(ours), statistics.median(theirs)
    print(f"batch, {len(kinds)} submissions ({', '.join(f'{n} {k}' for k, n in Counter(kinds.values()).items())}), "
          f"timeout {timeout} s: dlcourse grade --workers 2 {mine:.0f} s ({mine / len(kinds):.1f} s per submission), "
          f"sequential otter run {otter:.0f} s ({otter / len(kinds):.1f} s per submission) (medians of {runs}): "
          f"speed-up {otter / mine:.2f}x")


def dask(course: Course, scratch: Path, runs: int, size: int) -> None:
    folder = scratch / "batch"
    kinds = make_batch(course, folder, size)
    sides = {"--workers 2": ["--workers", "2"], "--cluster local:2": ["--cluster", "local:2"]}
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    books = {}
    for i in range(runs):
        for name in (list(sides) if i % 2 == 0 else list(sides)[::-1]):
            out = scratch / f"{name.split()[-1]}-{i}"
            seconds[name].append(timed([sys.executable, "-m", "dlcourse", "grade", "--lesson", LESSON, str(folder),
                                        "--out", str(out), "--timeout", "60", *sides[name]]))
            with open(out / "gradebook.csv", newline="") as f:
                books[name] = [{k: v for k, v in row.items() if k != "submitted_at"} for row in csv.DictReader(f)]
        print(f"  round {i + 1}: " + ", ".join(f"{n} {s[-1]:.0f} s" for n, s in seconds.items()), flush=True)
    medians = {name: statistics.median(s) for name, s in seconds.items()}
    print(f"dask, {len(kinds)} submissions: " + ", ".join(f"{n} {m:.0f} s ({m / len(kinds):.1f} s per submission)"
                                                        for n, m in medians.items())
          + f"; Dask / threads {medians['--cluster local:2'] / medians['--workers 2']:.2f}; "
          f"same gradebook: {books['--workers 2'] == books['--cluster local:2']}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("parts", nargs="*", default=["floor", "single", "batch", "dask"])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch", type=int, help="submissions in the mixed batch (default: 100 for batch, 20 for dask)")
    parser.add_argument("--timeout", type=int, default=60, help="seconds per notebook in the batch comparison")
    args = parser.parse_args()
    course = Course(ROOT)
    print(f"load average at the start: {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        if "floor" in args.parts:
            floor(course, args.runs)
        if "single" in args.parts:
            single(course, scratch / "single", args.runs)
        if "batch" in args.parts:
            batch(course, scratch / "batch", args.runs, args.batch or 100, args.timeout)
        if "dask" in args.parts:
            dask(course, scratch / "dask", args.runs, args.batch or 20)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
