"""Issue figures for the Gradescope autograders (and for grading lessons 3 and 4 on one core):
one emulated Gradescope grading of each lesson's reference submission, pinned to one core.

Memory is reported as resident memory above a bare `import torch` on this machine, and as the
estimate for Gradescope's CPU-only wheels: that excess plus the CPU build's own import (~207 MB,
measured for the issue), to compare with Gradescope's 768 MB.

    DLCOURSE_DATA=<full datasets> .venv/bin/python benchmarks/gradescope_emulation.py [--runs 3] [LESSON...]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.measure import bare_torch_mb, measure, median_of  # noqa: E402
from dlcourse.course import Course  # noqa: E402
from dlcourse.sample_submissions import reference_submission  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CPU_TORCH_IMPORT_MB = 207  # `import torch` with PyTorch's CPU wheels (figure from the issue)
GRADESCOPE_MB = 768


def emulate(course: Course, lesson_id: str, scratch: Path):
    submission = reference_submission(course, course.lesson(lesson_id), scratch / "in")
    tree = scratch / "autograder"
    with zipfile.ZipFile(course.autograder_zip(lesson_id)) as archive:
        archive.extractall(tree / "source")
    with zipfile.ZipFile(submission) as archive:
        archive.extractall(tree / "submission")
    # The cgroup limit must allow for this machine's CUDA build of torch; the peak is what counts.
    result = measure([sys.executable, "-m", "dlcourse.grading.gradescope", str(tree)], cpus="0",
                     env={"DLCOURSE_MEMORY_MB": "3000"})
    report = json.loads((tree / "results" / "results.json").read_text())
    score = sum(t["score"] for t in report["tests"]), sum(t["max_score"] for t in report["tests"])
    return result, score


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("lessons", nargs="*")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    course = Course(ROOT)
    floor = bare_torch_mb()
    print(f"bare import torch here: {floor:.0f} MB; Gradescope estimate = excess + {CPU_TORCH_IMPORT_MB} MB")
    for lesson_id in args.lessons or course.lesson_ids():
        runs, scores = [], []
        for i in range(args.runs):
            with tempfile.TemporaryDirectory() as scratch:
                result, score = emulate(course, lesson_id, Path(scratch))
            runs.append(result)
            scores.append(score)
        seconds, peak = median_of(runs)
        excess = peak - floor
        print(f"{lesson_id}: median of {args.runs} on one core: {seconds:.0f} s, {excess:.0f} MB above bare torch, "
              f"~{excess + CPU_TORCH_IMPORT_MB:.0f} MB on Gradescope's CPU wheels (limit {GRADESCOPE_MB}); "
              f"scores {sorted(set(scores))}")


if __name__ == "__main__":
    main()
