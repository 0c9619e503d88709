"""Where a check finds the lesson's files, and whether the weights-measured checks
(check_accuracy, check_gap) measure, or only load.

In a student's notebook the lesson's settings and weights sit in the working directory, and
the checks measure. While the judge runs a submission's tests it says so for the length of
those tests (:func:`judged_in`: a context variable, so nothing process-wide and no change of
working directory): the files are in the judge's folder for that submission, and the checks
only check that the weights load into the student's network, since the clean room measures the
weights once, from the file, in a process no student code runs in.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from pathlib import Path
from typing import Iterator

_judged_folder: ContextVar[Path | None] = ContextVar("dlcourse_judged_folder", default=None)


@contextlib.contextmanager
def judged_in(folder: Path) -> Iterator[None]:
    """While this block runs, checks read the lesson's files from ``folder`` and only check
    that weights load (the judge's clean room measures them)."""
    token = _judged_folder.set(Path(folder))
    try:
        yield
    finally:
        _judged_folder.reset(token)


def clean_room_measures() -> bool:
    return _judged_folder.get() is not None


def lesson_folder() -> Path:
    """The folder holding the lesson's settings and the submitted weights."""
    return _judged_folder.get() or Path(".")
