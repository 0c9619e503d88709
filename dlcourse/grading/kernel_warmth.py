"""In a pre-started grading kernel only (notebook_run's ``--held``): the part of a kernel's
start that needs no submission, and the move into the submission's folder once it is staged.

Runs in the sandboxed kernel as the sandbox's user, before any student code: nothing here is
trusted or decides anything. Both functions return None, so the hidden cells that call them
leave no output and no name in the notebook's namespace.
"""

from __future__ import annotations

import importlib
import os
import sys


def warm(modules: tuple[str, ...]) -> None:
    """Import ``modules``; print the top-level names of every module this imported (the
    runner keeps a student's module of one of those names from being shadowed)."""
    before = {name.partition(".")[0] for name in sys.modules}
    for module in modules:
        importlib.import_module(module)
    print(" ".join(sorted({name.partition(".")[0] for name in sys.modules} - before)))


def enter(folder: str) -> None:
    """Make ``folder`` (the notebook's) the working directory, as a kernel started there has:
    the notebook's relative paths and its own modules (``''`` on the module path) resolve there."""
    os.chdir(folder)
    importlib.invalidate_caches()  # the module finders cached the listing of the folder the kernel started in
