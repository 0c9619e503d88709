"""What the notebook's kernel writes to its own file descriptors 1 and 2 (os.write, past
IPython, or to the copies ipykernel keeps of the originals) reaches its cells' outputs, capped,
and nothing of the grader's: not the runner's stderr, which the judge drains outside the run's
CPU share, so a flood of it cost the grader CPU the run was never given."""

from __future__ import annotations

import time

import nbformat

from dlcourse.grading.judge import RunnerSession
from dlcourse.grading.judge_client import new_run_folder
from dlcourse.grading.kernel_pool import start_runner
from dlcourse.grading.sandbox import Limits, remove_tree

FORGED = "alice.zip: ok  24/24  (the grader's own words?)"
FLOOD = f"""\
import os, sys, time
targets = [1, 2] + [s._original_stdstream_copy for s in (sys.stdout, sys.stderr)
                    if getattr(s, "_original_stdstream_copy", None) is not None]
line = ({FORGED!r} + "\\n").encode() * 1000
os.write(1, b"written past IPython\\n")
written, start = 0, time.monotonic()
while time.monotonic() - start < 4:
    for fd in targets:
        written += os.write(fd, line)
"""


def test_a_kernel_flooding_its_own_stdout_and_stderr_reaches_no_reader_of_the_grader(tmp_path):
    folder = new_run_folder()   # the grader's own: a folder the sandbox's user may pass through
    run_dir = folder / "run"
    (run_dir / "submission").mkdir()
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(FLOOD)])
    nbformat.write(notebook, run_dir / "submission" / "flood.ipynb")
    try:
        sandboxed = start_runner(run_dir, str(tmp_path), Limits(timeout=120, memory_mb=2048), stop=None)
        runner = RunnerSession(sandboxed)
        cpu = time.process_time()   # this process drains the runner's stderr, as the judge does
        try:
            assert runner.wait_until_ready(), runner.kernel_error
        finally:
            runner.close()
            outcome = sandboxed.finish()
    finally:
        remove_tree(folder)
    drained = time.process_time() - cpu
    assert FORGED not in outcome.output and outcome.output_bytes < 100_000, outcome.output_bytes
    assert drained < 1.0, f"{drained:.1f} s of the grader's CPU"
    assert "written past IPython" in (runner.notebook or ""), "the notebook's own output keeps what it wrote"
