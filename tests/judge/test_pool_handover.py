"""The judge's pool of pre-started kernels (kernel_pool.KernelPool): a held run is handed out once,
to the job it was started for, and stopped otherwise; a held run's clock starts when it is
handed out. (A whole batch through the pool: tests/scale/test_kernel_pool.py.)"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

from dlcourse.grading.judge import JudgeJob
from dlcourse.grading.kernel_pool import KernelPool, limits_for
from dlcourse.grading.notebook_run import _shadows
from dlcourse.grading.sandbox import Sandboxed, View


def job(run_dir: Path, **changes) -> JudgeJob:
    made = JudgeJob(workdir="", autograder="", run_dir=str(run_dir), data_root=str(run_dir.parent), weights={},
                    submission_digest="", timeout=20, memory_mb=512)
    return dataclasses.replace(made, **changes)


def held_run(run_dir: Path, for_job: JudgeJob, command: tuple[str, ...] = ("cat",)) -> tuple:
    """What KernelPool.start holds, with ``cat`` (it waits on its stdin) for the runner."""
    run_dir.mkdir(parents=True, exist_ok=True)
    limits = limits_for(for_job)
    run = Sandboxed(list(command), cwd=run_dir, env={"PATH": "/usr/bin:/bin"}, limits=limits,
                    view=View(writable=(run_dir,)), held=True)
    return (str(run_dir), for_job.data_root, limits, run)


def test_a_held_kernel_is_handed_to_its_job_once(tmp_path):
    pool, first = KernelPool(), job(tmp_path / "run")
    pool.held = held_run(tmp_path / "run", first)
    run = pool.take(first, threading.Event())
    assert run is not None and run.process.poll() is None
    assert pool.take(first, threading.Event()) is None, "never handed to a second submission"
    run.finish(grace=0)


def test_a_held_kernel_for_another_folder_or_other_limits_is_stopped(tmp_path):
    for other in (job(tmp_path / "elsewhere"), job(tmp_path / "run", memory_mb=1024), job(tmp_path / "run", timeout=30)):
        pool = KernelPool()
        pool.held = held_run(tmp_path / "run", job(tmp_path / "run"))
        run = pool.held[3]
        assert pool.take(other, threading.Event()) is None
        assert run.process.poll() is not None and pool.held is None, "stopped, not kept for later"


def test_a_held_kernel_not_taken_is_stopped_when_the_pool_closes(tmp_path):
    pool = KernelPool()
    pool.held = held_run(tmp_path / "run", job(tmp_path / "run"))
    run = pool.held[3]
    pool.close()
    assert run.process.poll() is not None and pool.held is None


def test_a_held_run_has_no_clock_until_it_is_released(tmp_path):
    first = job(tmp_path / "run", timeout=0.3)
    pool = KernelPool()
    pool.held = held_run(tmp_path / "run", first, ("sleep", "60"))
    run = pool.held[3]
    run.ended.wait(1.0)   # three timeouts' worth of waiting, held
    assert run.process.poll() is None and not run.outcome.timed_out
    assert pool.take(first, threading.Event()) is run
    outcome = run.finish(grace=60)
    assert outcome.timed_out and outcome.seconds < 30, "a released run's timeout counts from its release"


def test_a_submission_shipping_a_module_the_warm_kernel_imported_gets_a_cold_kernel(tmp_path):
    (tmp_path / "helpers.py").write_text("")
    assert not _shadows(tmp_path, {"torch", "numpy", "dlcourse"})
    for name in ("torch.py", "numpy"):
        folder = tmp_path / name.replace(".", "-")
        folder.mkdir()
        (folder / name).mkdir() if "." not in name else (folder / name).write_text("")
        assert _shadows(folder, {"torch", "numpy", "dlcourse"}), name


def test_the_runners_working_folder_is_not_on_its_module_path(tmp_path, monkeypatch):
    """The runner works in the run's folder, which the student's kernel writes: a module the
    kernel left there must never be what a later import of the runner loads."""
    import subprocess
    import sys

    from dlcourse.grading import kernel_pool

    started: list[list[str]] = []
    monkeypatch.setattr(kernel_pool, "Sandboxed", lambda command, **_: started.append(command))
    kernel_pool.start_runner(tmp_path, str(tmp_path), limits_for(job(tmp_path)), stop=None)
    flags = started[0][1:started[0].index("-m")]
    (tmp_path / "planted.py").write_text("")
    probe = subprocess.run([sys.executable, *flags, "-c", "import importlib.util as u; print(u.find_spec('planted'))"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert probe.stdout.strip() == "None", probe.stdout + probe.stderr
