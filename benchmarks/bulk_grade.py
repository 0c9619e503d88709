"""Issue figures for bulk grading: 100 dense-mnist submissions (a realistic mix) graded by
`dlcourse grade`, against either a plain sequential loop of `otter run` over the same files, or
an earlier commit's toolkit.

    DLCOURSE_DATA=<full datasets> .venv/bin/python benchmarks/bulk_grade.py [--n 100] [--timeout 60]
    DLCOURSE_DATA=<full datasets> .venv/bin/python benchmarks/bulk_grade.py --before DIR [--runs 3] [--n 100]

Against `otter run` (the default): `otter run` has no timeout, so each of its runs is wrapped in
coreutils `timeout` (without that, the first looping submission would hang the loop forever).

With ``--before DIR`` (a checkout of an earlier commit with its own ``.venv``, as
``judge_cost.py --before`` takes): each commit builds the same mix (the same kinds, counts and
file names) from its own lesson, with its own code, and grades it with its own toolkit and
autograder zip (lessons change between commits: an earlier notebook may call what this toolkit
renamed). Each of ``--runs`` rounds grades, for before and after in turn (the order alternating
from round to round, so that a trend in the machine's load favours neither), one dense-mnist
reference submission and then the whole batch; the medians and every run are printed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LESSON = "dense-mnist"
# What a real batch looks like: mostly working submissions, some of every kind of trouble.
MIX = {"reference": 0.70, "stub": 0.10, "unscaled-pixels": 0.05, "crashing-cell": 0.05, "loop": 0.03,
       "invalid-json": 0.03, "empty": 0.02, "wrong-assignment": 0.02}
# Run by a checkout's own Python: this file's make_batch with that checkout's toolkit and lesson.
MAKE = ("import json, runpy, sys; from pathlib import Path; from dlcourse.course import Course; "
        "make = runpy.run_path(sys.argv[1])['make_batch']; "
        "made = make(Course(Path(sys.argv[2])), Path(sys.argv[3]), int(sys.argv[4])); "
        "print(json.dumps(made))")


def make_batch(course, folder: Path, n: int) -> dict[str, str]:
    """``n`` submissions of the mix in ``folder`` (``student000.zip``...), made from ``course``'s
    own lesson; returns file name -> kind."""
    import nbformat

    from dlcourse.sample_submissions import load_mistakes, mistake_submission, reference_submission, stub_submission

    lesson = course.lesson(LESSON)
    parts = folder.parent / "parts"
    made = {"reference": reference_submission(course, lesson, parts),
            "stub": stub_submission(course, lesson, parts)}
    for mistake in load_mistakes(lesson):
        if mistake.name in MIX:
            made[mistake.name] = mistake_submission(course, lesson, mistake, parts)
    loop = nbformat.read(course.solution_notebook(lesson.id), as_version=4)
    loop.cells.insert(3, nbformat.v4.new_code_cell("while True:\n    pass"))
    made["loop"] = parts / "loop.zip"
    with zipfile.ZipFile(made["loop"], "w") as archive:
        archive.writestr(lesson.notebook, nbformat.writes(loop))
        archive.write(course.reference_weights(lesson), lesson.weights)
    (parts / "invalid.ipynb").write_text('{"cells": [')
    made["invalid-json"] = parts / "invalid.ipynb"
    (parts / "empty.ipynb").write_text("")
    made["empty"] = parts / "empty.ipynb"
    made["wrong-assignment"] = course.student_dir("cnn-mnist") / course.lesson("cnn-mnist").notebook
    folder.mkdir(parents=True)
    kinds, index = {}, 0
    for kind, share in MIX.items():
        for _ in range(max(1, round(share * n))):
            if index >= n:
                break
            source = made[kind]
            name = f"student{index:03d}{source.suffix}"
            shutil.copy(source, folder / name)
            kinds[name] = kind
            index += 1
    return kinds


# ----------------------------------------------------------------------------- against `otter run`

def run_dlcourse(folder: Path, out: Path, timeout: int, workers: int) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dlcourse", "grade", "--lesson", LESSON, str(folder), "--out", str(out),
                    "--timeout", str(timeout), "--workers", str(workers)], check=True, capture_output=True)
    return time.perf_counter() - start


def run_otter_loop(autograder: Path, folder: Path, out: Path, timeout: int) -> tuple[float, int]:
    otter = Path(sys.executable).with_name("otter")
    out.mkdir()
    start, produced = time.perf_counter(), 0
    for submission in sorted(folder.iterdir()):
        target = out / submission.stem
        target.mkdir()
        subprocess.run(["timeout", "-s", "KILL", str(timeout), str(otter), "run", "-a",
                        str(autograder), "-o", str(target), str(submission)], capture_output=True)
        produced += (target / "results.json").is_file()
    return time.perf_counter() - start, produced


def against_otter(args: argparse.Namespace) -> None:
    from dlcourse.course import Course

    course = Course(ROOT)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "batch"
        kinds = make_batch(course, folder, args.n)
        ours = run_dlcourse(folder, Path(scratch) / "ours", args.timeout, args.workers)
        rows = list(csv.DictReader(open(Path(scratch) / "ours" / "submissions.csv")))
        results = [json.loads(p.read_text())["result"] for p in (Path(scratch) / "ours" / "results").glob("*.json")]
        loops = [r for r in rows if kinds.get(r["submission"]) == "loop"]
        peaks = [r["peak_memory_mb"] for r in results if r["peak_memory_mb"]]
        if args.otter_seconds is None:
            theirs, produced = run_otter_loop(course.autograder_zip(LESSON), folder, Path(scratch) / "otter",
                                              args.timeout)
        else:
            theirs, produced = args.otter_seconds, None
    print(f"{args.n} submissions: {dict(Counter(kinds.values()))}")
    print(f"dlcourse grade --workers {args.workers}: {ours:.0f} s, {len(rows)} rows "
          f"({args.n - len(rows)} lost), loops: {[r['status'] for r in loops]}")
    if produced is None:
        print(f"sequential otter run: {theirs:.0f} s, as measured earlier (--otter-seconds)")
    else:
        print(f"sequential otter run (each under timeout {args.timeout}): {theirs:.0f} s, "
              f"{produced} results.json ({args.n - produced} without one)")
    print(f"speed-up: {theirs / ours:.2f}x")
    print(f"peak private memory per sandboxed run (anonymous + shared, kernel included): "
          f"median {statistics.median(peaks):.0f} MB, max {max(peaks):.0f} MB")


# ----------------------------------------------------------------------------- against an earlier commit

class Toolkit:
    """A checkout's toolkit: its own venv's Python where it has one (the judge starts isolated,
    ``python -I``, so PYTHONPATH reaches only the grader), its package first on the path, and
    its own autograder zip."""

    def __init__(self, label: str, checkout: Path) -> None:
        own = checkout / ".venv" / "bin" / "python"
        self.label, self.checkout = label, checkout.resolve()
        self.python = str(own) if checkout.resolve() != ROOT and own.is_file() else sys.executable
        self.env = {**os.environ, "PYTHONPATH": str(self.checkout)}
        self.autograder = self.checkout / "autograder" / LESSON / f"{LESSON}-autograder.zip"

    def make_batch(self, folder: Path, n: int, scratch: Path) -> dict[str, str]:
        done = subprocess.run([self.python, "-c", MAKE, str(Path(__file__).resolve()), str(self.checkout), str(folder),
                               str(n)],
                              env=self.env, cwd=scratch, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{self.label}: making the batch failed: {done.stderr[-1500:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def grade(self, submission: Path, out: Path, timeout: int, workers: int, scratch: Path) -> tuple[float, Counter]:
        """Seconds of one `dlcourse grade` (the process, start to exit) and its rows' statuses."""
        start = time.perf_counter()
        done = subprocess.run([self.python, "-m", "dlcourse", "grade", "--autograder", str(self.autograder),
                               str(submission), "--out", str(out), "--timeout", str(timeout),
                               "--workers", str(workers)],
                              env=self.env, cwd=scratch, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"{self.label}: dlcourse grade failed ({done.returncode}): {done.stderr[-1500:]}")
        with open(out / "submissions.csv", newline="") as f:
            return seconds, Counter(row["status"] for row in csv.DictReader(f))


def against_before(args: argparse.Namespace) -> None:
    toolkits = [Toolkit("before", args.before), Toolkit("after", ROOT)]
    times: dict[tuple[str, str], list[float]] = {}
    statuses: dict[tuple[str, str], set[str]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        batches = {}
        for toolkit in toolkits:
            batches[toolkit.label] = toolkit.make_batch(scratch / toolkit.label / "batch", args.n, scratch)
        kinds = batches["after"]
        assert all(batches[t.label] == kinds for t in toolkits), "each commit makes the same mix"
        print(f"{args.n} submissions: {dict(Counter(kinds.values()))}; timeout {args.timeout} s, "
              f"--workers {args.workers}; load average at start {os.getloadavg()[0]:.1f}", flush=True)
        for run in range(args.runs):
            for toolkit in toolkits if run % 2 == 0 else toolkits[::-1]:
                folder = scratch / toolkit.label / "batch"
                reference = folder / min(n for n, kind in kinds.items() if kind == "reference")
                for what, submission in (("reference", reference), ("batch", folder)):
                    out = scratch / toolkit.label / f"{what}-{run}"
                    seconds, counts = toolkit.grade(submission, out, args.timeout, args.workers, scratch)
                    times.setdefault((what, toolkit.label), []).append(seconds)
                    rows = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
                    statuses.setdefault((what, toolkit.label), set()).add(rows)
                    print(f"  run {run + 1} {toolkit.label:6} {what:9}: {seconds:6.1f} s ({rows}; "
                          f"load {os.getloadavg()[0]:.1f})", flush=True)
    print(f"\n| `dlcourse grade`, median of {args.runs} (each run) | before ({args.before.name}) | after |")
    print("|---|---|---|")
    for what, title in (("reference", f"one {LESSON} reference submission"),
                        ("batch", f"the {args.n}-submission batch")):
        cells = []
        for label in ("before", "after"):
            runs = times[(what, label)]
            cells.append(f"{statistics.median(runs):.1f} s ({', '.join(f'{s:.1f}' for s in runs)})")
        print(f"| {title} | {cells[0]} | {cells[1]} |")
    for key, seen in sorted(statuses.items()):
        print(f"rows, {key[1]} {key[0]}: {' / '.join(sorted(seen))}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--timeout", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--otter-seconds", type=float,
                        help="skip the otter run loop and compare with this time, measured earlier on this machine")
    parser.add_argument("--before", type=Path, help="a checkout of the commit to compare with (its own .venv)")
    parser.add_argument("--runs", type=int, default=3, help="with --before: rounds, interleaved (medians)")
    args = parser.parse_args()
    if args.before:
        against_before(args)
    else:
        against_otter(args)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))   # this checkout's toolkit for the grader here (a checkout's own runs set theirs)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
