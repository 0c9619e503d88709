"""Failure messages of hidden tests that name the input that failed.

Hidden tests draw their inputs per submission (the grader derives the randomness from the
submission, so a regrade draws the same ones). Their results reach students once grades are
published; a message that names the input lets a student rerun exactly the case that failed.
"""

from __future__ import annotations

import contextlib
from typing import Iterator


@contextlib.contextmanager
def for_input(call: str) -> Iterator[None]:
    """Whatever fails inside the block fails as one line that starts with ``call``, e.g.
    ``for flat_features((3, 35, 12)): flat_features should multiply ...``.

    ``call`` says how to rebuild the input (Python a student can run); an error raised by the
    student's own code keeps its type name.
    """
    try:
        yield
    except Exception as error:
        text = " ".join(str(error).split())
        if not isinstance(error, AssertionError):
            text = f"{type(error).__name__}: {text}" if text else type(error).__name__
        raise AssertionError(f"for {call}: {text}" if text else f"for {call}") from None
