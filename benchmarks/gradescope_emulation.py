"""Issue figures for the Gradescope autograders: one emulated Gradescope grading of each
lesson's reference submission, run the way a Gradescope container runs it.

Each run unpacks the lesson's built autograder zip and the reference submission into a
Gradescope-like tree and starts its entry point (``python -m dlcourse.grading.gradescope``)

- with half a CPU, Gradescope's default: a cgroup CPU quota of 50 ms per 100 ms (cgroup v2's
  ``cpu.max`` "50000 100000", v1's CFS quota), never more, and the largest CPU weight, so other
  work on a shared machine cannot hold it below that either;
- inside the same cgroup, a memory limit of 768 MB without swap, the container's limit, which
  is charged for private memory and page cache alike (the kernel reclaims cache before it kills);
- with the cgroup file system read-only, as in a container, so the grader falls back to
  polling its own limit, the path it takes on Gradescope;
- with the datasets as the image's set-up leaves them (setup.sh's `dlcourse data fetch`, which
  also writes CIFAR-10's raw pixel file that grading maps), then evicted from the page cache, as in
  a fresh container;
- with the grader told the container's memory limit (``DLCOURSE_GRADESCOPE_MEMORY_MB``), as
  ``lesson.yaml`` tells it on Gradescope: the notebook gets 700 MB of 768.

Run it with the build of torch Gradescope installs, the CPU wheels (``benchmarks/cpu_env.sh``
makes ``.venv-cpu``): the CUDA build's libraries alone need ~400 MB more than that.

    DLCOURSE_DATA=<full datasets> .venv-cpu/bin/python benchmarks/gradescope_emulation.py [--runs 3] [--cpus 0.5] [LESSON...]

Each run's line gives the load average of the machine at its start, and how many of the
quota's 100 ms periods it ran in and was stopped at the quota in (nearly all: it had its half
CPU throughout, other work on the machine notwithstanding).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.measure import ContainerRun, bare_torch_mb, measure_in_container  # noqa: E402
from dlcourse.course import Course  # noqa: E402
from dlcourse.sample_submissions import reference_submission  # noqa: E402
from dlcourse.settings import GRADESCOPE_MEMORY_ENV, data_dir  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GRADESCOPE_MB = 768
GRADESCOPE_CPUS = 0.5


def emulate(course: Course, lesson_id: str, scratch: Path, limit_mb: int,
            cpus: float) -> tuple[ContainerRun, tuple[float, float]]:
    submission = reference_submission(course, course.lesson(lesson_id), scratch / "in")
    tree = scratch / "autograder"
    with zipfile.ZipFile(course.autograder_zip(lesson_id)) as archive:
        archive.extractall(tree / "source")
    with zipfile.ZipFile(submission) as archive:
        archive.extractall(tree / "submission")
    run = measure_in_container([sys.executable, "-m", "dlcourse.grading.gradescope", str(tree)],
                               limit_mb=limit_mb, cpus=cpus, cold=(data_dir(),))
    report = json.loads((tree / "results" / "results.json").read_text())
    score = sum(t["score"] for t in report["tests"]), sum(t["max_score"] for t in report["tests"])
    for test in report["tests"]:  # a reference that loses points: what the student would read, and the grader's output
        if test["score"] < test["max_score"]:
            print(f"    lost {test['max_score'] - test['score']:g} on {test['name']}: {test['output']}")
    if score[0] < score[1]:
        print("    " + run.output.strip().replace("\n", "\n    "))
    return run, score


def verdict(output: str) -> str:
    """The grader's line with the status and score ("ok: 14/14 in 20 s"), else its last line."""
    lines = output.strip().splitlines() or [""]
    return next((line for line in lines if re.match(r"[a-z-]+: [\d.]+/[\d.]+ in \d+ s", line)), lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("lessons", nargs="*")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--limit-mb", type=int, default=GRADESCOPE_MB)
    parser.add_argument("--cpus", type=float, default=GRADESCOPE_CPUS)
    args = parser.parse_args()
    import torch

    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU"
    print(f"torch {torch.__version__} ({build} build): a bare import takes {bare_torch_mb():.0f} MB; "
          f"container limits {args.cpus:g} CPU and {args.limit_mb} MB")
    course = Course(ROOT)
    # setup.sh's step: without CIFAR-10's raw pixel file, a sandboxed kernel (which cannot write
    # it) reads the 180 MB of pixels into its own memory, which no Gradescope image does
    subprocess.run([sys.executable, "-m", "dlcourse", "data", "fetch"], check=True)
    os.environ[GRADESCOPE_MEMORY_ENV] = str(args.limit_mb)  # the grader divides the container's memory, as on Gradescope
    for lesson_id in args.lessons or course.lesson_ids():
        runs, scores = [], set()
        for _ in range(args.runs):
            load = "/".join(f"{x:.2f}" for x in os.getloadavg())
            with tempfile.TemporaryDirectory() as scratch:
                run, score = emulate(course, lesson_id, Path(scratch), args.limit_mb, args.cpus)
            runs.append(run)
            scores.add(score)
            print(f"  load {load} at start: {run.seconds:.0f} s, at the quota in {run.throttled} of {run.periods} "
                  f"periods, peak charged {run.peak_charged_mb:.0f} MB (anonymous {run.peak_anon_mb:.0f} MB: "
                  + ", ".join(f"{role} {mb:.0f}" for role, mb in sorted(run.at_peak.items(), key=lambda x: -x[1]))
                  + "); " + verdict(run.output), flush=True)
        median = {name: statistics.median(getattr(r, name) for r in runs)
                  for name in ("seconds", "peak_charged_mb", "peak_anon_mb")}
        print(f"{lesson_id}: median of {args.runs} at {args.cpus:g} CPU: {median['seconds']:.0f} s; "
              f"peak charged {median['peak_charged_mb']:.0f} MB "
              f"(anonymous {median['peak_anon_mb']:.0f} MB) of {args.limit_mb}; "
              f"OOM-killed runs {sum(r.oom_killed for r in runs)}; scores {sorted(scores)}", flush=True)


if __name__ == "__main__":
    main()
