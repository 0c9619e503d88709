"""Issue figures for the Gradescope autograders: one emulated Gradescope grading of each
lesson's reference submission, run the way a Gradescope container runs it.

Each run unpacks the lesson's built autograder zip and the reference submission into a
Gradescope-like tree and starts its entry point (``python -m dlcourse.grading.gradescope``)

- pinned to one core (``taskset``): Gradescope gives about half a CPU;
- inside one memory cgroup of 768 MB without swap, the container's limit, which is charged
  for private memory and page cache alike (the kernel reclaims cache before it kills);
- with the cgroup file system read-only, as in a container, so the grader falls back to
  polling its own limit, the path it takes on Gradescope;
- with the datasets evicted from the page cache, as in a fresh container;
- with the grader's default memory limit (700 MB of the 768).

Run it with the build of torch Gradescope installs, the CPU wheels (``benchmarks/cpu_env.sh``
makes ``.venv-cpu``): the CUDA build's libraries alone need ~400 MB more than that.

    DLCOURSE_DATA=<full datasets> .venv-cpu/bin/python benchmarks/gradescope_emulation.py [--runs 3] [LESSON...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.measure import ContainerRun, bare_torch_mb, measure_in_container  # noqa: E402
from dlcourse.course import Course  # noqa: E402
from dlcourse.sample_submissions import reference_submission  # noqa: E402
from dlcourse.settings import data_dir  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GRADESCOPE_MB = 768


def emulate(course: Course, lesson_id: str, scratch: Path, limit_mb: int) -> tuple[ContainerRun, tuple[float, float]]:
    submission = reference_submission(course, course.lesson(lesson_id), scratch / "in")
    tree = scratch / "autograder"
    with zipfile.ZipFile(course.autograder_zip(lesson_id)) as archive:
        archive.extractall(tree / "source")
    with zipfile.ZipFile(submission) as archive:
        archive.extractall(tree / "submission")
    run = measure_in_container([sys.executable, "-m", "dlcourse.grading.gradescope", str(tree)],
                               limit_mb=limit_mb, cold=(data_dir(),))
    report = json.loads((tree / "results" / "results.json").read_text())
    score = sum(t["score"] for t in report["tests"]), sum(t["max_score"] for t in report["tests"])
    return run, score


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("lessons", nargs="*")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--limit-mb", type=int, default=GRADESCOPE_MB)
    args = parser.parse_args()
    import torch

    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU"
    print(f"torch {torch.__version__} ({build} build): a bare import takes {bare_torch_mb():.0f} MB; "
          f"container limit {args.limit_mb} MB")
    course = Course(ROOT)
    for lesson_id in args.lessons or course.lesson_ids():
        runs, scores = [], set()
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as scratch:
                run, score = emulate(course, lesson_id, Path(scratch), args.limit_mb)
            runs.append(run)
            scores.add(score)
            print("  " + run.output.strip().splitlines()[-1])
        median = {name: statistics.median(getattr(r, name) for r in runs)
                  for name in ("seconds", "peak_charged_mb", "peak_anon_mb")}
        print(f"{lesson_id}: median of {args.runs} on one core: {median['seconds']:.0f} s; "
              f"peak charged {median['peak_charged_mb']:.0f} MB (anonymous {median['peak_anon_mb']:.0f} MB) "
              f"of {args.limit_mb}; OOM-killed runs {sum(r.oom_killed for r in runs)}; scores {sorted(scores)}")


if __name__ == "__main__":
    main()
