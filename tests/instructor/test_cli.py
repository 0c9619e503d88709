"""The `dlcourse` command as instructors use it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dlcourse.data import SAMPLE_DIR
from dlcourse.sample_submissions import reference_submission
from helpers.paths import ROOT


def dlcourse(*args, env=None, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "dlcourse", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


def test_unknown_lesson_is_one_line_not_a_traceback():
    done = dlcourse("grade", "--lesson", "no-such-lesson", "x.ipynb")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "no lesson 'no-such-lesson'" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_reference_failing_its_checks_is_one_line_and_saves_nothing(course, monkeypatch, capsys):
    from dlcourse import reference
    from dlcourse.cli import main
    from dlcourse.execute import NotebookFailed

    def failing(*args, **kwargs):
        raise NotebookFailed('the reference fails grader.check("accuracy") (test accuracy 74.10%)')

    monkeypatch.setattr(reference, "train_reference", failing)
    monkeypatch.setattr(reference, "save_reference", lambda *a: pytest.fail("a failing reference was saved"))
    assert main(["train", "dense-mnist"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "dense-mnist was not saved" in error and "74.10%" in error


def test_outside_a_course_is_one_line(tmp_path):
    done = dlcourse("build", cwd=tmp_path, env={"DLCOURSE_COURSE": ""})
    assert done.returncode == 2 and "no course" in done.stderr and "Traceback" not in done.stderr


def test_build_check_passes_on_a_clean_tree():
    done = dlcourse("build", "--check")
    assert done.returncode == 0, done.stdout
    assert "generated files match their sources" in done.stdout


@pytest.mark.slow
def test_grade_one_submission_prints_a_table_and_writes_results(course, tmp_path):
    submission = reference_submission(course, course.lesson("dense-mnist"), tmp_path / "in")
    out = tmp_path / "out"
    done = dlcourse("grade", "--lesson", "dense-mnist", str(submission), "--out", str(out),
                    env={"DLCOURSE_DATA": str(SAMPLE_DIR)})
    assert done.returncode == 0, done.stderr
    assert "reference.zip: ok  24/24" in done.stdout
    assert "without encryption" not in done.stdout + done.stderr  # kernels talk over private Unix sockets
    for question in ("prepare", "flatten", "model", "parameters", "accuracy"):
        assert question in done.stdout
    assert "more_epochs      graded by hand (2 points, not in this score)" in done.stdout
    record = json.loads((out / "results" / "reference.zip.json").read_text())
    assert record["result"]["score"] == 24 and record["result"]["status"] == "ok"
    assert (out / "gradebook.csv").is_file() and (out / "report.md").is_file()


def test_kernels_start_without_the_unencrypted_tcp_warning(tmp_path):
    """ipykernel warns at every start of a kernel on TCP; ours use Unix sockets (execute.kernel_manager)."""
    code = ("import nbformat, pathlib; from dlcourse.execute import execute_notebook, kernel_manager;"
            "nb = execute_notebook(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('print(6 * 7)')]),"
            " pathlib.Path('.')); print(nb.cells[0].outputs[0]['text'].strip(), kernel_manager().transport)")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["42", "ipc"]
    assert "without encryption" not in done.stderr, done.stderr
    assert not list(tmp_path.iterdir())  # no socket files left in the notebook's folder


def test_a_notebook_run_stops_its_kernel(tmp_path):
    """A kernel outliving its run keeps the run's data in memory: four calibration runs in one
    process held four CIFAR-10 kernels, each logging "Parent appears to have exited" at the end."""
    from nbformat.v4 import new_code_cell, new_notebook

    from dlcourse.execute import execute_notebook

    nb = execute_notebook(new_notebook(cells=[new_code_cell("import os; print(os.getpid())")]), tmp_path)
    kernel = Path("/proc", nb.cells[0].outputs[0]["text"].strip())
    assert not kernel.exists(), "the kernel is still running after execute_notebook returned"


def test_a_kernel_killed_mid_cell_is_noticed_at_once(tmp_path):
    """A kernel killed from outside (SIGKILL, as an OOM kill) ends the run with DeadKernelError
    within seconds, over our Unix sockets too, not after the grader's whole time limit."""
    code = ("import nbformat, time; from nbclient import NotebookClient; from dlcourse.execute import kernel_manager;"
            "nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("
            "'import os, signal; os.kill(os.getpid(), signal.SIGKILL)')]);"
            "client = NotebookClient(nb, km=kernel_manager(), timeout=None); start = time.monotonic()\n"
            "try:\n    client.execute()\nexcept Exception as error:\n    print(type(error).__name__, time.monotonic() - start)")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    name, seconds = done.stdout.split()
    assert name == "DeadKernelError" and float(seconds) < 20, done.stdout + done.stderr
