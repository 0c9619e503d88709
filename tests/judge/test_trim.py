"""The runner and the judge hand memory their process freed back to the system between the
steps of a grade (grading/trim.py): what lets regularization grade inside Gradescope's 768 MB."""

from __future__ import annotations

import ctypes
import subprocess
import sys
import textwrap

import pytest



def has_malloc_trim() -> bool:
    try:
        return callable(ctypes.CDLL(None).malloc_trim)
    except (AttributeError, OSError):
        return False


@pytest.mark.skipif(not has_malloc_trim(), reason="glibc's malloc_trim is not in this C library")
@pytest.mark.parametrize("hooked, freed", [("on", True), ("off", False), ("on-then-off", False)])
def test_memory_a_cell_freed_goes_back_to_the_system_once_the_cell_has_run(hooked, freed):
    # 100 MB of 2 kB blocks, every 100th kept: the freed runs between them are too far below the
    # top of the heap for glibc to return on its own; only a trim gives them back.
    program = textwrap.dedent("""
        import sys
        from IPython.core.interactiveshell import InteractiveShell
        from dlcourse.grading.trim import after_each_cell

        def anon_mb():
            with open("/proc/self/status") as f:
                return next(int(line.split()[1]) // 1024 for line in f if line.startswith("RssAnon"))

        shell = InteractiveShell.instance()
        shell.user_ns["anon_mb"] = anon_mb
        if sys.argv[1] != "off":
            after_each_cell(shell, True)
        if sys.argv[1] == "on-then-off":
            after_each_cell(shell, False)
        shell.run_cell("blocks = [bytes(2048) for _ in range(50_000)]\\nkept = blocks[::100]\\ndel blocks\\nbefore = anon_mb()")
        print(shell.user_ns["before"] - anon_mb())
    """)
    run = subprocess.run([sys.executable, "-c", program, hooked], capture_output=True, text=True, timeout=60)
    assert (int(run.stdout) > 50) == freed, run.stdout + run.stderr
