"""Grading beyond one run on one machine: a batch split into shards plus a collect step, and a
batch on Dask workers (a LocalCluster on loopback, one worker killed mid-run), each gives the
same gradebook as one run on this machine's threads."""

from __future__ import annotations

import csv
import shutil
import threading
from pathlib import Path

import nbformat
import pytest

from dlcourse.cli import main
from dlcourse.course import Course
from dlcourse.grading.batch import grade_batch
from dlcourse.sample_submissions import load_mistakes, mistake_submission, reference_submission, stub_submission
from helpers.dask_workers import kill_a_busy_worker
from helpers.paths import ROOT, on_sample_data

COURSE = Course(ROOT)
DENSE = COURSE.lesson("dense-mnist")
TIMEOUT = 60   # seconds per notebook: the loop's row says so; ample for the others on a loaded machine
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    """The reference, the untouched stub, a notebook that never ends and one that crashes."""
    folder, scratch = tmp_path_factory.mktemp("in"), tmp_path_factory.mktemp("parts")
    shutil.copy(reference_submission(COURSE, DENSE, scratch), folder / "reference.zip")
    shutil.copy(stub_submission(COURSE, DENSE, scratch), folder / "stub.ipynb")
    crashing = next(m for m in load_mistakes(DENSE) if m.name == "crashing-cell")
    shutil.copy(mistake_submission(COURSE, DENSE, crashing, scratch), folder / "crashing.zip")
    loop = nbformat.read(COURSE.solution_notebook(DENSE.id), as_version=4)
    loop.cells.insert(3, nbformat.v4.new_code_cell("while True:\n    pass"))
    nbformat.write(loop, folder / "loop.ipynb")
    return folder


@pytest.fixture(scope="module")
def one_run(batch, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("threads")
    with on_sample_data():
        grade_batch(COURSE.autograder_zip(DENSE.id), batch, out, workers=2, timeout=TIMEOUT, progress=False)
    return out


def same_books(one: Path, other: Path) -> None:
    """The same files, except the cgroup CPU share in submissions.csv's ``enforced`` column: a run
    gets one only while another runs beside it, which depends on how the batch was split."""
    for name in ("gradebook.csv", "submissions.csv", "report.md"):
        assert _without_cpu_share((other / name).read_text()) == _without_cpu_share((one / name).read_text()), name


def _without_cpu_share(text: str) -> str:
    return text.replace(", cgroup cpu,", ",")


def test_one_run_grades_every_kind(one_run):
    with open(one_run / "gradebook.csv", newline="") as f:
        statuses = {row["submission"]: row["status"] for row in csv.DictReader(f)}
    assert statuses == {"reference.zip": "ok", "stub.ipynb": "missing-weights", "crashing.zip": "error",
                        "loop.ipynb": "timeout"}


def test_three_shards_and_a_collect_step_give_the_same_gradebook(batch, one_run, tmp_path):
    out = tmp_path / "out"
    with on_sample_data():
        for index in (1, 2, 3):
            grade_batch(COURSE.autograder_zip(DENSE.id), batch, out, workers=2, timeout=TIMEOUT, progress=False,
                        shard=(index, 3))
            assert not (out / "gradebook.csv").exists(), "a shard writes only its own results"
    assert len(list((out / "results").glob("*.json"))) == 4, "the shards together graded each submission once"
    assert main(["gradebook", str(out)]) == 0
    same_books(one_run, out)


def test_a_dask_local_cluster_gives_the_same_gradebook_and_retries_a_killed_worker(batch, one_run, tmp_path):
    from distributed import Client

    from dlcourse.grading.cluster import Dask, local_cluster

    killed: list[int] = []
    with local_cluster(2) as cluster, Client(cluster) as watcher:
        killer = threading.Thread(target=lambda: killed.append(kill_a_busy_worker(watcher)))
        killer.start()
        with on_sample_data():
            summary = grade_batch(COURSE.autograder_zip(DENSE.id), batch, tmp_path / "out", timeout=TIMEOUT,
                                  progress=False, execution=Dask(address=cluster.scheduler_address), workers=2)
        killer.join()
    assert killed, "a worker was killed while it graded"
    assert len(summary.results) == 4 and summary.graded == 4, "no row lost"
    same_books(one_run, tmp_path / "out")
    # Inside the workers the sandbox enforced what it does here (submissions.csv's column, compared above).
    assert all(result.enforced for result in summary.results.values())
