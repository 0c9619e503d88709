"""Graders and judges killed with SIGKILL mid-run (a Dask worker, a judge running a submission or
holding a pre-started kernel) leave their scratch folders and cgroups; the next run on the machine
removes them, so the temporary folder and the cgroup tree end as they began, while a live
grader's folders beside them stay untouched (scratch.py, sandbox/cgroups.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import psutil
import pytest

from dlcourse.course import Course
from dlcourse.grading.batch import grade_batch
from dlcourse.grading.judge_client import Judge, JudgeFailed
from dlcourse.grading.pipeline import GradingOptions, grade_submission
from dlcourse.grading.sandbox.cgroups import GROUP_NAME
from dlcourse.grading.scratch import recorded_owner
from dlcourse.sample_submissions import load_mistakes, mistake_submission
from dlcourse.settings import SAMPLE_DIR
from helpers.dask_workers import kill_a_busy_worker
from helpers.leftovers import dlcourse_groups, gone_owners_groups, leftovers, scratch_left
from helpers.paths import ROOT, on_sample_data

COURSE = Course(ROOT)
DENSE = COURSE.lesson("dense-mnist")
TIMEOUT = 30   # ample for the crashing notebook on a loaded machine; the waiting one sleeps through it
CRASHED = "cell \"train_full = MNIST(train=True)\" raised NameError: name 'Flase' is not defined (+1 more)"
pytestmark = pytest.mark.slow
# A grader running beside the others: its scratch folder, with a run folder, kept while it lives.
LIVE_GRADER = """
import sys
from dlcourse.grading.scratch import scratch_folder
run = scratch_folder('run')
(run / 'kept').write_text('x')
print(run, flush=True)
sys.stdin.read()
"""


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    """A notebook that crashes in a few seconds and one that waits (sleeping, no CPU) until its timeout."""
    folder, parts = tmp_path_factory.mktemp("in"), tmp_path_factory.mktemp("parts")
    crashing = next(m for m in load_mistakes(DENSE) if m.name == "crashing-cell")
    shutil.copy(mistake_submission(COURSE, DENSE, crashing, parts), folder / "crashing.zip")
    waiting = nbformat.read(COURSE.solution_notebook(DENSE.id), as_version=4)
    waiting.cells.insert(3, nbformat.v4.new_code_cell("import time\nwhile True:\n    time.sleep(1)"))
    nbformat.write(waiting, folder / "waiting.ipynb")
    return folder


@pytest.fixture
def private():
    """A temporary folder for the graders of one test, which the sandbox's user may pass through."""
    folder = Path(tempfile.mkdtemp(prefix="dlcourse-lt-"))   # short: a kernel's socket path has 107 bytes
    os.chmod(folder, 0o711)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def live_grader(private):
    """A live grader's run folder in ``private``, with a file in it; the grader ends with the test."""
    process = subprocess.Popen([sys.executable, "-c", LIVE_GRADER], env={**os.environ, "TMPDIR": str(private)},
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdin is not None
    run = Path(process.stdout.readline().strip())
    yield run
    process.stdin.close()
    process.wait(timeout=20)


def next_run(batch: Path, out: Path, private: Path) -> None:
    """``dlcourse grade`` in a fresh process, its temporary folder ``private``: of the batch, the
    crashing notebook alone (a few seconds)."""
    only = out.parent / "next-in"
    only.mkdir()
    shutil.copy(batch / "crashing.zip", only)
    env = {**os.environ, "DLCOURSE_DATA": str(SAMPLE_DIR), "TMPDIR": str(private)}
    subprocess.run([sys.executable, "-m", "dlcourse", "grade", "--lesson", DENSE.id, str(only), "--workers", "1",
                    "--timeout", str(TIMEOUT), "--out", str(out)], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def only_the_live_graders(private: Path, live_run: Path) -> None:
    assert scratch_left(private) == [f"folder {live_run.parent.name}/{live_run.name}"]
    assert (live_run / "kept").read_text() == "x"


def test_a_worker_killed_mid_run_leaves_nothing_after_the_next_run(batch, tmp_path, monkeypatch, private, live_grader):
    from distributed import Client

    from dlcourse.grading.cluster import Dask, local_cluster

    groups = dlcourse_groups()
    monkeypatch.setenv("TMPDIR", str(private))   # the workers' temporary folder
    left_by_the_killed: list[str] = []
    with local_cluster(2) as cluster, Client(cluster) as watcher:
        def kill_a_busy_worker_and_wait() -> None:
            pid = kill_a_busy_worker(watcher)
            deadline = time.monotonic() + 60
            while psutil.pid_exists(pid) and time.monotonic() < deadline:   # until its nanny has reaped it
                time.sleep(0.05)
            left_by_the_killed.extend(p.name for p in private.iterdir()
                                      if (owner := recorded_owner(p)) and int(owner["pid"]) == pid)

        killer = threading.Thread(target=kill_a_busy_worker_and_wait)
        killer.start()
        with on_sample_data():
            summary = grade_batch(COURSE.autograder_zip(DENSE.id), batch, tmp_path / "out", timeout=TIMEOUT,
                                  progress=False, execution=Dask(address=cluster.scheduler_address), workers=2)
        killer.join()
    assert left_by_the_killed, "the killed worker left its scratch folder"
    assert {r.submission: r.status for r in summary.results.values()} == {"crashing.zip": "error",
                                                                          "waiting.ipynb": "timeout"}
    next_run(batch, tmp_path / "next", private)
    only_the_live_graders(private, live_grader)
    assert gone_owners_groups() == set()
    assert leftovers(private, groups) == scratch_left(private), "no process, no new cgroup"


def test_a_judge_killed_mid_run_or_holding_a_kernel_leaves_nothing_after_the_next_run(batch, monkeypatch, private,
                                                                                      live_grader):
    groups = dlcourse_groups()
    monkeypatch.setattr(tempfile, "tempdir", str(private))   # this process's scratch folders
    autograder = COURSE.autograder_zip(DENSE.id)

    def judges_groups(judge: Judge) -> set[Path]:
        assert judge.process is not None
        return {g for g in dlcourse_groups() if (found := GROUP_NAME.fullmatch(g.name)) and
                int(found["pid"]) == judge.process.pid}

    def killed(judge: Judge) -> set[Path]:
        """Kill ``judge`` with SIGKILL; the groups it leaves."""
        held = judges_groups(judge)
        assert held, "the judge had a run's groups"
        assert judge.process is not None
        judge.process.kill()
        judge.process.wait()
        assert all(group.is_dir() for group in held)
        return held

    with on_sample_data(), Judge() as judge:
        failed: list[BaseException] = []

        def grade_waiting() -> None:
            try:
                grade_submission(autograder, batch / "waiting.ipynb", GradingOptions(timeout=TIMEOUT), judge)
            except JudgeFailed as error:
                failed.append(error)

        grading = threading.Thread(target=grade_waiting)
        grading.start()
        deadline = time.monotonic() + 120
        while not (judge.process is not None and judges_groups(judge)):
            assert time.monotonic() < deadline, "the run started"
            time.sleep(0.2)
        time.sleep(2)
        mid_run = killed(judge)
        grading.join()
        assert failed, "the grader saw its judge die"
        # The judge that replaces it sweeps as it starts its run, then pre-starts a kernel and is killed too.
        result = grade_submission(autograder, batch / "crashing.zip", GradingOptions(timeout=TIMEOUT, prestart=True), judge)
        assert (result.status, result.reason) == ("error", CRASHED), "the notebook ran, up to its crash"
        assert not any(group.exists() for group in mid_run)
        held_kernel = killed(judge)
    with on_sample_data():
        result = grade_submission(autograder, batch / "crashing.zip", GradingOptions(timeout=TIMEOUT))
    assert (result.status, result.reason) == ("error", CRASHED)
    assert not any(group.exists() for group in held_kernel)
    assert gone_owners_groups() == set()
    only_the_live_graders(private, live_grader)
    assert leftovers(private, groups) == scratch_left(private), "no process, no new cgroup"
