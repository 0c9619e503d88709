"""What the judge costs: `dlcourse grade` of each lesson's reference, wall time and peak memory
(median of --runs), and for dense-mnist `otter run` on the same file in the same run.

Peak memory is the resident memory summed over the whole process tree (grader, judge,
sandboxed runner and kernel), sampled every 20 ms (measure.py), as MB above a bare
`import torch`. With --before DIR (a checkout of an earlier commit, with its own .venv where its
toolkit differs), each lesson's reference is graded by that checkout's toolkit first, each
commit grading its own reference notebook (lessons change between commits), for a
before/after table; `otter run` grades the earlier commit's notebook with its zip.

With --before, the same work is also timed by both toolkits in pairs (--pairs, default 5): the
earlier commit's reference graded with the earlier commit's autograder zip (the same notebook
and the same tests, so only the grading core differs), before and after alternately, each pair
in the other order than the last, so that a machine whose load drifts charges both alike. The
medians and the median of the pairs' differences are printed with the load average; on a
shared machine compare the differences, not the absolute seconds.

    DLCOURSE_DATA=<full datasets> .venv/bin/python benchmarks/judge_cost.py [--runs 3] [--before DIR] [--pairs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.measure import Measurement, bare_torch_mb, measure, median_of  # noqa: E402
from dlcourse.course import Course  # noqa: E402
from dlcourse.sample_submissions import reference_submission  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def grade_runs(checkout: Path, autograder: Path, submission: Path, out: Path, runs: int) -> tuple[float, float]:
    """`dlcourse grade` with the toolkit of ``checkout`` (see :func:`grade_once`), ``runs`` times:
    the median seconds and peak MB."""
    return median_of([grade_once(checkout, autograder, submission, out / f"run{i}") for i in range(runs)])


def grade_once(checkout: Path, autograder: Path, submission: Path, out: Path) -> Measurement:
    """`dlcourse grade` with the toolkit of ``checkout``: its own venv where it has one (the judge
    starts isolated, ``python -I``, so PYTHONPATH reaches only the grader), else its package first
    on this venv's path. RuntimeError if the grade is not ``ok``."""
    env = {"PYTHONPATH": str(checkout)}
    own = checkout / ".venv" / "bin" / "python"
    python = str(own) if checkout != ROOT and own.is_file() else sys.executable
    result = measure([python, "-m", "dlcourse", "grade", "--autograder", str(autograder), str(submission),
                      "--out", str(out)], env=env)
    if result.returncode != 0 or ": ok " not in result.output:
        raise RuntimeError(f"grading failed: {result.output[-500:]}")
    return result


def paired_runs(before: Path, autograder: Path, submission: Path, out: Path, pairs: int) -> None:
    """The same notebook and autograder graded by ``before``'s toolkit and this one, alternately
    (before-after, then after-before, ...); prints each pair and the medians. A pair with a grade
    that is not ``ok`` (a timeout on an overloaded machine) is left out, and said so."""
    seconds: dict[str, list[float]] = {"before": [], "after": []}
    load = os.getloadavg()[0]
    for i in range(pairs):
        order = [("before", before), ("after", ROOT)]
        try:
            pair = {label: grade_once(checkout, autograder, submission, out / f"{label}{i}").seconds
                    for label, checkout in (order if i % 2 == 0 else order[::-1])}
        except RuntimeError as failed:   # a grade that timed out on a loaded machine: the pair is left out
            print(f"pair {i + 1} left out: {str(failed)[:200]}", flush=True)
            continue
        for label, value in pair.items():
            seconds[label].append(value)
        print(f"pair {i + 1}: before {pair['before']:.1f} s, after {pair['after']:.1f} s", flush=True)
    if not seconds["before"]:
        return
    pairs = len(seconds["before"])
    differences = [a - b for a, b in zip(seconds["after"], seconds["before"])]
    print(f"same notebook, {pairs} pairs (load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end): "
          f"before {statistics.median(seconds['before']):.1f} s ({min(seconds['before']):.1f}-{max(seconds['before']):.1f}), "
          f"after {statistics.median(seconds['after']):.1f} s ({min(seconds['after']):.1f}-{max(seconds['after']):.1f}), "
          f"after minus before: median {statistics.median(differences):+.1f} s "
          f"({min(differences):+.1f} to {max(differences):+.1f})", flush=True)


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
    parser.add_argument("--pairs", type=int, default=5, help="with --before: pairs of the same notebook, interleaved")
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
            if args.before and args.pairs and not args.otter_only:
                paired_runs(args.before, args.before / "autograder" / lesson_id / f"{lesson_id}-autograder.zip",
                            submissions["before"], scratch / "pairs" / lesson_id, args.pairs)
            if lesson_id == "dense-mnist" and args.before:
                # Otter's own runner on the same file, with the zip of the commit it can still run.
                autograder = args.before / "autograder" / lesson_id / f"{lesson_id}-autograder.zip"
                seconds, peak = otter_runs(autograder, submissions["before"], scratch / "otter", args.runs)
                print(f"| {lesson_id} | otter run | {seconds:.1f} | {peak - floor:.0f} |", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
