"""Gradescope's entry point: ``python -m dlcourse.grading.gradescope /autograder``.

Grades ``/autograder/submission`` with the autograder unpacked in ``/autograder/source``, through
the same pipeline as ``dlcourse grade``, and always writes ``/autograder/results/results.json``:
a looping submission is stopped by the pipeline's own timeout, well before Gradescope's limit,
and even a failure of the grader itself becomes a result the student and instructor can read.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path

from ..lesson import LESSON_FILE, Lesson
from ..settings import MEMORY_ENV
from .pipeline import MEASURE_SECONDS, GradingOptions, grade_submission

GRADESCOPE_LIMIT = 600      # Gradescope's default timeout, seconds
SAFETY = 60                 # start-up, staging and writing results
GRADESCOPE_MEMORY_MB = 700  # of the 768 MB Gradescope gives; the rest is the grader's own (MEMORY_ENV overrides)


def main(root: Path) -> int:
    start = time.monotonic()
    results = root / "results"
    results.mkdir(parents=True, exist_ok=True)
    close_grader_folders(root)
    try:
        lesson = Lesson.load(root / "source" / "files" / LESSON_FILE)
        timeout = min(lesson.grading_timeout, GRADESCOPE_LIMIT - MEASURE_SECONDS - SAFETY)
        memory = int(os.environ.get(MEMORY_ENV, GRADESCOPE_MEMORY_MB))
        result = grade_submission(root / "source", root / "submission",
                                  GradingOptions(timeout=timeout, memory_mb=memory, threads=1))
        report = result.to_gradescope()
        print(f"{result.status}: {result.score:g}/{result.possible:g} in {time.monotonic() - start:.0f} s"
              + (f" ({result.reason})" if result.reason else ""))
        print(f"enforced: {', '.join(result.enforced) or 'nothing'}")  # stdout is for the instructor: hidden
        for promise in result.not_enforced:
            print(f"WARNING, not enforced: {promise}")
        for flag in result.flags:
            print(f"flag: {flag}")
    except Exception:
        traceback.print_exc()
        report = {"score": 0, "output": "The autograder itself failed on this submission; your instructor "
                                        "has been shown the error and will grade it by hand.",
                  "tests": [], "stdout_visibility": "hidden"}
    tmp = results / ".results.json.tmp"
    tmp.write_text(json.dumps(report, indent=1))
    tmp.replace(results / "results.json")
    return 0


def close_grader_folders(root: Path) -> None:
    """Hidden tests, the toolkit's source and the results: closed to every other user, the
    sandbox's included (Gradescope's container has no namespaces to hide them in)."""
    for folder in (root / "source", root / "results"):
        os.chmod(folder, 0o700)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "/autograder")))
