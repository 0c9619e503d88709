"""What the judge costs: `dlcourse grade` of each lesson's reference, wall time and peak memory
(median of --runs), and for dense-mnist `otter run` on the same file in the same run.

Peak memory is the resident memory summed over the whole process tree (grader, judge,
sandboxed runner and kernel), sampled every 20 ms (measure.py), as MB above a bare
`import torch`. With --before DIR (a checkout of an earlier commit, with its own .venv where its
toolkit differs), each lesson's reference is graded by that checkout's toolkit first, each
commit grading its own reference notebook (lessons change between commits), for a
before/after table; `otter run` grades the earlier commit's notebook with its zip.

    DLCOURSE_DATA=<full datasets> .venv/bin/python benchmarks/judge_cost.py [--runs 3] [--before DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.measure import bare_torch_mb, measure, median_of  # noqa: E402
from dlcourse.course import Course  # noqa: E402
from dlcourse.sample_submissions import reference_submission  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def grade_runs(checkout: Path, autograder: Path, submission: Path, out: Path, runs: int) -> tuple[float, float]:
    """`dlcourse grade` with the toolkit of ``checkout``: its own venv where it has one (the judge
    starts isolated, ``python -I``, so PYTHONPATH reaches only the grader), else its package first
    on this venv's path."""
    env = {"PYTHONPATH": str(checkout)}
    own = checkout / ".venv" / "bin" / "python"
    python = str(own) if checkout != ROOT and own.is_file() else sys.executable
    results = [measure([python, "-m", "dlcourse", "grade", "--autograder", str(autograder), str(submission),
                        "--out", str(out / f"run{i}")], env=env) for i in range(runs)]
    failed = [r.output[-500:] for r in results if r.returncode != 0 or ": ok " not in r.output]
    if failed:
        raise RuntimeError(f"grading failed: {failed[0]}")
    return median_of(results)


def own_reference(checkout: Path, lesson_id: str, folder: Path) -> Path:
    """The reference submission of ``checkout``'s own lesson (an earlier commit's notebook may
    call what this toolkit renamed, and the reverse), made by that checkout's code."""
    own = checkout / ".venv" / "bin" / "python"
    code = ("import sys; from pathlib import Path; from dlcourse.course import Course; "
            "from dlcourse.sample_submissions import reference_submission; c = Course(Path(sys.argv[1])); "
            "print(reference_submission(c, c.lesson(sys.argv[2]), Path(sys.argv[3])))")
    made = subprocess.run([str(own) if own.is_file() else sys.executable, "-c", code, str(checkout), lesson_id,
                           str(folder)], env={**os.environ, "PYTHONPATH": str(checkout)}, capture_output=True,
                          text=True, check=True)
    return Path(made.stdout.strip().splitlines()[-1])


def otter_runs(autograder: Path, submission: Path, out: Path, runs: int) -> tuple[float, float]:
    otter = Path(sys.executable).with_name("otter")
    results = []
    for i in range(runs):
        (out / f"otter{i}").mkdir(parents=True)
        results.append(measure([str(otter), "run", "-a", str(autograder), "-o", str(out / f"otter{i}"), str(submission)]))
        if not (out / f"otter{i}" / "results.json").is_file():
            raise RuntimeError(f"otter run failed: {results[-1].output[-500:]}")
    return median_of(results)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--before", type=Path, help="a checkout of the commit to compare with")
    parser.add_argument("--lessons", nargs="*", default=None)
    parser.add_argument("--otter-only", action="store_true", help="only `otter run` on dense-mnist (needs --before)")
    args = parser.parse_args()
    course = Course(ROOT)
    floor = bare_torch_mb()
    print(f"a bare import torch: {floor:.0f} MB; medians of {args.runs}")
    print("| lesson | grader | seconds | MB above import torch |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        os.chdir(scratch)  # so that `python -m dlcourse` takes the checkout on PYTHONPATH, not this folder
        for lesson_id in args.lessons or course.lesson_ids():
            lesson = course.lesson(lesson_id)
            submission = reference_submission(course, lesson, scratch / "in" / lesson_id)
            checkouts = ([("before", args.before)] if args.before else []) + [("after", ROOT)]
            checkouts = [] if args.otter_only else checkouts
            submissions = {"after": submission}
            if args.before:
                submissions["before"] = own_reference(args.before, lesson_id, scratch / "before" / "in" / lesson_id)
            for label, checkout in checkouts:
                autograder = checkout / "autograder" / lesson_id / f"{lesson_id}-autograder.zip"
                seconds, peak = grade_runs(checkout, autograder, submissions[label], scratch / label / lesson_id,
                                           args.runs)
                print(f"| {lesson_id} | dlcourse grade ({label}) | {seconds:.1f} | {peak - floor:.0f} |", flush=True)
            if lesson_id == "dense-mnist" and args.before:
                # Otter's own runner on the same file, with the zip of the commit it can still run.
                autograder = args.before / "autograder" / lesson_id / f"{lesson_id}-autograder.zip"
                seconds, peak = otter_runs(autograder, submissions["before"], scratch / "otter", args.runs)
                print(f"| {lesson_id} | otter run | {seconds:.1f} | {peak - floor:.0f} |", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
