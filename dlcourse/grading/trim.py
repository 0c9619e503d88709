"""Give the memory a process freed back to the system, between the steps of a grade.

glibc's allocator keeps memory a program frees for its next allocations instead of returning
it, so a kernel that evaluated 10,000 test images still holds tens of MB it no longer uses,
and holds them while the judge's tests ask it questions; the judge likewise keeps what each
test file's temporaries took. That is when a Gradescope container (768 MB for every process
of the grade) is fullest (benchmarks/README.md, "Gradescope emulation"). So the kernel calls
:func:`release_freed_memory` after each of the notebook's cells (:func:`after_each_cell`, set by
:mod:`.notebook_run`) and after
each answer to the judge (:mod:`.oracle`), and the judge after each test file (:mod:`.judge`):
a few milliseconds each. It changes no value anywhere. Where the C library has no
``malloc_trim`` (not glibc), it does nothing.
"""

from __future__ import annotations

import ctypes


def release_freed_memory() -> None:
    """Return this process's freed heap memory to the system (glibc's ``malloc_trim(0)``)."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (AttributeError, OSError):  # not glibc
        pass


def after_each_cell(shell, on: bool) -> None:
    """Have IPython ``shell`` call :func:`release_freed_memory` after every cell it runs (its
    ``post_run_cell`` event), or no longer. Why a hook, not a hidden cell after each cell: each
    hidden cell is one more request to the kernel and back, which cost more CPU than the trim."""
    (shell.events.register if on else shell.events.unregister)("post_run_cell", _trim_after_cell)


def _trim_after_cell(result) -> None:
    release_freed_memory()
