"""The reader's own cost: finding and reading the 100 dense-mnist submissions of bulk_grade.py's
mix (discovery, archives, repair steps, the tamper scan), the median of 3 runs; and, once, a
notebook built to cost a reader time (``--cells`` code cells of 100 lines). It measures the
checkout it is in: run it in two checkouts, in the same session, to compare.

    .venv/bin/python benchmarks/reader_cost.py [--n 100] [--cells 300]
"""

from __future__ import annotations

import argparse
import inspect
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bulk_grade import make_batch  # noqa: E402
from dlcourse.course import Course  # noqa: E402
from dlcourse.grading.inputs import discover  # noqa: E402
from dlcourse.grading.submission import SubmissionProblem, read_submission  # noqa: E402
from dlcourse.grading.tamper import scan_notebook  # noqa: E402


def read_all(folder: Path, lesson) -> int:
    """Discover ``folder`` and read (and scan) every submission in it; the number read."""
    takes_lesson = "lesson" in inspect.signature(read_submission).parameters
    read = 0
    for entry in discover(folder).entries:
        try:
            sub = read_submission(entry, lesson) if takes_lesson else read_submission(entry.path)
            scan_notebook(sub.notebook)
            read += 1
        except SubmissionProblem:
            pass
    return read


def timed(run, repeats: int = 3) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--cells", type=int, default=300, help="code cells (100 lines each) of the costly notebook")
    args = parser.parse_args()
    course = Course.find(Path(__file__).resolve().parents[1])
    lesson = course.lesson("dense-mnist")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "batch"
        make_batch(course, folder, args.n)
        median, runs = timed(lambda: read_all(folder, lesson))
        print(f"read {args.n} submissions: median {median:.2f} s ({', '.join(f'{t:.2f}' for t in runs)})")
        many = json.loads(course.solution_notebook(lesson.id).read_text())
        many["cells"] += [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                           "source": "x = 1\n" * 100} for _ in range(args.cells)]
        attack = Path(scratch) / "many" / lesson.notebook
        attack.parent.mkdir()
        attack.write_text(json.dumps(many))
        seconds, _ = timed(lambda: read_all(attack.parent, lesson), repeats=1)  # minutes before the bounds: once
        print(f"read a {attack.stat().st_size / 1e6:.1f} MB notebook of {args.cells} code cells: {seconds:.2f} s (one run)")


if __name__ == "__main__":
    main()
