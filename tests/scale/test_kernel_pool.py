"""A batch worker pre-starts its next sandboxed kernel while it grades (kernel_pool.KernelPool): the
gradebook is the one a batch without it writes, each kernel serves one submission (what one
submission leaves behind, the next on the same worker never sees), and nothing outlives the
batch, finished or interrupted: no process, cgroup or scratch folder."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

from dlcourse.course import Course
from dlcourse.grading.batch import grade_batch
from dlcourse.grading.sandbox import Limits, SandboxUnavailable, bubblewrap_works, plan_for
from dlcourse.sample_submissions import load_mistakes, mistake_submission, reference_submission, stub_submission
from dlcourse.settings import SAMPLE_DIR
from helpers.leftovers import dlcourse_groups, leftovers
from helpers.paths import ROOT, on_sample_data

COURSE = Course(ROOT)
DENSE = COURSE.lesson("dense-mnist")
TIMEOUT = 25
pytestmark = pytest.mark.slow
TRACES = ("os.getcwd()", "os.environ['HOME']", "'/tmp'", "'/dev/shm'")
LEAVE_TRACES = f"""import os, pathlib, subprocess, sys
for folder in ({", ".join(TRACES)}):
    try:
        pathlib.Path(folder, 'left-by-a').write_text('a')
    except OSError:
        pass
subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)  # left-by-a'], start_new_session=True)
"""
LOOK_FOR_TRACES = f"""import json, os, pathlib
seen = [str(p) for folder in ({", ".join(TRACES)}) for p in pathlib.Path(folder).glob('left-by-a')]
for pid in filter(str.isdigit, os.listdir('/proc')):
    try:
        if b'left-by-a' in pathlib.Path('/proc', pid, 'cmdline').read_bytes():
            seen.append(pid)
    except OSError:
        pass
print('TRACES', json.dumps({{'seen': seen, 'warm': WARM}}))
"""


def solution_with(cells: dict[int, str]) -> nbformat.NotebookNode:
    notebook = nbformat.read(COURSE.solution_notebook(DENSE.id), as_version=4)
    for index, source in sorted(cells.items(), reverse=True):
        notebook.cells.insert(index, nbformat.v4.new_code_cell(source))
    return notebook


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    """The reference, the untouched stub, a notebook that crashes and one that never ends."""
    folder, scratch = tmp_path_factory.mktemp("in"), tmp_path_factory.mktemp("parts")
    shutil.copy(reference_submission(COURSE, DENSE, scratch), folder / "a-reference.zip")
    shutil.copy(stub_submission(COURSE, DENSE, scratch), folder / "b-stub.ipynb")
    crashing = next(m for m in load_mistakes(DENSE) if m.name == "crashing-cell")
    shutil.copy(mistake_submission(COURSE, DENSE, crashing, scratch), folder / "c-crashing.zip")
    nbformat.write(solution_with({3: "while True:\n    pass"}), folder / "d-loop.ipynb")
    shutil.copy(reference_submission(COURSE, DENSE, scratch), folder / "e-reference.zip")
    return folder


@pytest.fixture
def scratch():
    """Folders for the grader's scratch folders, to count what is left in them: in the system's
    temporary folder, which the sandbox's user may pass through (pytest's own may be closed)."""
    made: list[Path] = []

    def new() -> Path:
        made.append(Path(tempfile.mkdtemp(prefix="dlcourse-pool-test-")))
        os.chmod(made[-1], 0o711)
        return made[-1]

    yield new
    for folder in made:
        shutil.rmtree(folder, ignore_errors=True)


def graded(batch: Path, out: Path, scratch: Path, monkeypatch, **options) -> dict[str, str]:
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))   # the grader's scratch folders, to count them after
    with on_sample_data():
        grade_batch(COURSE.autograder_zip(DENSE.id), batch, out, timeout=TIMEOUT, progress=False, **options)
    monkeypatch.undo()
    return {name: (out / name).read_text() for name in ("gradebook.csv", "submissions.csv", "report.md")}


def test_the_pool_grades_as_a_batch_without_it_and_leaves_nothing(batch, tmp_path, monkeypatch, scratch):
    groups, folder = dlcourse_groups(), scratch()
    pooled = graded(batch, tmp_path / "pooled", folder, monkeypatch, workers=1)
    assert leftovers(folder, groups) == []
    cold = graded(batch, tmp_path / "cold", scratch(), monkeypatch, workers=1, prestart=False)
    for name, text in cold.items():
        assert pooled[name] == text, name
    with open(tmp_path / "pooled" / "submissions.csv", newline="") as f:
        statuses = {row["submission"]: row["status"] for row in csv.DictReader(f)}
    assert statuses == {"a-reference.zip": "ok", "b-stub.ipynb": "missing-weights", "c-crashing.zip": "error",
                        "d-loop.ipynb": "timeout", "e-reference.zip": "ok"}


@pytest.mark.parametrize("sandbox", ["bubblewrap", "permissions"])
def test_a_kernel_started_ahead_never_sees_what_the_previous_submission_left(tmp_path, monkeypatch, scratch, sandbox):
    """Submission A writes files wherever it may and leaves a process running; B, graded next on
    the same worker in the kernel started while A was graded, finds none of it, under either
    confinement."""
    if sandbox == "bubblewrap" and not bubblewrap_works():
        pytest.skip("bubblewrap does not start here")
    try:
        plan_for(Limits(timeout=1, confinement=sandbox))
    except SandboxUnavailable as refusal:
        pytest.skip(f"no {sandbox} sandbox here: {refusal}")
    folder = tmp_path / "in"
    folder.mkdir()
    warm = {0: "import sys\nWARM = 'torch' in sys.modules  # imported before the notebook's first cell?"}
    nbformat.write(solution_with({**warm, 4: LEAVE_TRACES}), folder / "a.ipynb")
    nbformat.write(solution_with({**warm, 4: LOOK_FOR_TRACES}), folder / "b.ipynb")
    groups, private = dlcourse_groups(), scratch()
    graded(folder, tmp_path / "out", private, monkeypatch, workers=1, sandbox=sandbox)
    printed = [output.get("text", "") for path in (tmp_path / "out" / "notebooks").glob("*.ipynb")
               for cell in nbformat.read(path, as_version=4).cells for output in cell.get("outputs", [])]
    report = json.loads(next(text for text in printed if text.startswith("TRACES")).split(" ", 1)[1])
    assert report["warm"], "B ran in the kernel pre-started while A was graded"
    assert report["seen"] == []
    assert leftovers(private, groups) == []


def test_a_single_submissions_kernel_starts_while_it_is_read_and_a_refused_one_leaves_nothing(tmp_path, monkeypatch,
                                                                                            scratch):
    """A judge's first kernel starts before its submission is read (pipeline's ``early_kernel``):
    a submission graded alone finds torch imported in its first cell, as a batch's later ones do.
    Where the submission is then refused unread (not a notebook), that kernel is stopped with
    the judge: no process, cgroup or folder is left."""
    alone, refused = tmp_path / "alone", tmp_path / "refused"
    alone.mkdir()
    refused.mkdir()
    nbformat.write(solution_with({0: "import sys\nprint('WARM', 'torch' in sys.modules)"}), alone / "a.ipynb")
    (refused / "b.ipynb").write_text('{"cells": [')
    groups, private = dlcourse_groups(), scratch()
    graded(alone, tmp_path / "out", private, monkeypatch, workers=1)
    (executed,) = (tmp_path / "out" / "notebooks").glob("*.ipynb")
    notebook = nbformat.read(executed, as_version=4)
    assert "WARM True" in notebook.cells[0].outputs[0]["text"]
    assert "invalid-notebook" in graded(refused, tmp_path / "out-refused", private, monkeypatch, workers=1)["submissions.csv"]
    assert leftovers(private, groups) == []


def test_an_interrupted_batch_leaves_no_kernel_behind(batch, tmp_path, scratch):
    private, groups = scratch(), dlcourse_groups()
    env = {**os.environ, "DLCOURSE_DATA": str(SAMPLE_DIR), "TMPDIR": str(private)}
    command = [sys.executable, "-m", "dlcourse", "grade", "--lesson", DENSE.id, str(batch), "--workers", "1",
               "--timeout", str(TIMEOUT), "--out", str(tmp_path / "out")]
    # SIGINT as at a terminal (a shell without job control would start the child ignoring it)
    grading = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    results = tmp_path / "out" / "results"
    deadline = time.monotonic() + 300
    # the first result is saved after its judge started the next kernel: one is running or waiting now
    while time.monotonic() < deadline and not list(results.glob("*.json")):
        time.sleep(0.2)
    grading.send_signal(signal.SIGINT)
    assert grading.wait(timeout=120) != 0
    assert leftovers(private, groups) == []
