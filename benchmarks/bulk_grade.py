"""Issue figures for bulk grading: 100 dense-mnist submissions (a realistic mix) graded by
`dlcourse grade` and by a plain sequential loop of `otter run` over the same files, in one run.

`otter run` has no timeout, so each of its runs is wrapped in coreutils `timeout` (without
that, the first looping submission would hang the loop forever).

    DLCOURSE_DATA=<full datasets> .venv/bin/python benchmarks/bulk_grade.py [--n 100] [--timeout 60]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dlcourse.course import Course  # noqa: E402
from dlcourse.sample_submissions import load_mistakes, mistake_submission, reference_submission, stub_submission  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# What a real batch looks like: mostly working submissions, some of every kind of trouble.
MIX = {"reference": 0.70, "stub": 0.10, "unscaled-pixels": 0.05, "crashing-cell": 0.05, "loop": 0.03,
       "invalid-json": 0.03, "empty": 0.02, "wrong-assignment": 0.02}


def make_batch(course: Course, folder: Path, n: int) -> dict[str, str]:
    lesson = course.lesson("dense-mnist")
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


def run_dlcourse(folder: Path, out: Path, timeout: int, workers: int) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dlcourse", "grade", "--lesson", "dense-mnist", str(folder), "--out", str(out),
                    "--timeout", str(timeout), "--workers", str(workers)], check=True, capture_output=True)
    return time.perf_counter() - start


def run_otter_loop(course: Course, folder: Path, out: Path, timeout: int) -> tuple[float, int]:
    otter = Path(sys.executable).with_name("otter")
    out.mkdir()
    start, produced = time.perf_counter(), 0
    for submission in sorted(folder.iterdir()):
        target = out / submission.stem
        target.mkdir()
        subprocess.run(["timeout", "-s", "KILL", str(timeout), str(otter), "run", "-a",
                        str(course.autograder_zip("dense-mnist")), "-o", str(target), str(submission)],
                       capture_output=True)
        produced += (target / "results.json").is_file()
    return time.perf_counter() - start, produced


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--timeout", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--otter-seconds", type=float,
                        help="skip the otter run loop and compare with this time, measured earlier on this machine")
    args = parser.parse_args()
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
            theirs, produced = run_otter_loop(course, folder, Path(scratch) / "otter", args.timeout)
        else:
            theirs, produced = args.otter_seconds, None
    print(f"{args.n} submissions: {dict((k, list(kinds.values()).count(k)) for k in MIX)}")
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


if __name__ == "__main__":
    main()
