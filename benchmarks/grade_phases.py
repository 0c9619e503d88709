"""`dlcourse ARGS...` with the grader's own phases timed, printed to stderr at exit:

    pre WALL CPU     process start to the first job sent to a judge (what the judge waits for)
    post WALL CPU    the last judge's report to the process's end (the outputs, mostly)
    grader_cpu CPU   this process's CPU time, every thread (the judge and the kernel not included)

    .venv/bin/python benchmarks/grade_phases.py grade --lesson dense-mnist SUBMISSION --out OUT

Run it with PYTHONPATH=<another checkout> to time that checkout's grader the same way.
"""

from __future__ import annotations

import atexit
import sys
import time

START = time.perf_counter()
marks: dict[str, tuple[float, float]] = {}


def main() -> int:
    from dlcourse.cli import main as dlcourse
    from dlcourse.grading import judge_client

    run = judge_client.Judge.run

    def timed_run(self, job, stop):
        marks.setdefault("sent", (time.perf_counter(), time.process_time()))
        try:
            return run(self, job, stop)
        finally:
            marks["reported"] = (time.perf_counter(), time.process_time())

    judge_client.Judge.run = timed_run   # type: ignore[method-assign]
    atexit.register(_report)
    return dlcourse(sys.argv[1:])


def _report() -> None:
    end = (time.perf_counter(), time.process_time())
    if "sent" not in marks:
        print("no job was sent to a judge", file=sys.stderr)
        return
    (sent, sent_cpu), (back, back_cpu) = marks["sent"], marks["reported"]
    print(f"pre {sent - START:.2f} {sent_cpu:.2f} post {end[0] - back:.2f} {end[1] - back_cpu:.2f} "
          f"grader_cpu {end[1]:.2f}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
