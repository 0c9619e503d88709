"""A batch worker's pre-started kernel (:class:`KernelPool`), and how the judge starts the
notebook runner in its sandbox, pre-started or not.

A kernel's start costs a submission about 1.5 s on a quiet 2-core machine (the runner's
imports, the kernel's start, ``import torch`` in its first cell), and none of it needs the
submission: a worker's judge pays it for the next submission while it measures this one.
"""

from __future__ import annotations

import compileall
import functools
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from ..settings import DATA_ENV, GRADING_ENV
from .sandbox import Limits, Sandboxed, SandboxUnavailable, View, give_to
from .wire import write_message

if TYPE_CHECKING:
    from .judge import JudgeJob


def limits_for(job: JudgeJob) -> Limits:
    """The sandbox's limits for ``job``'s run."""
    return Limits(timeout=job.timeout, memory_mb=job.memory_mb, threads=job.threads, cpus=job.cpus,
                  allow_root=job.allow_root, confinement=job.sandbox)


def start_runner(run_dir: Path, data_root: str, limits: Limits, stop: threading.Event | None,
                 held: bool = False) -> Sandboxed:
    """The notebook runner started in the sandbox, in ``run_dir``; ``held``: pre-started, it
    warms a kernel and waits for the word that its submission is staged (notebook_run)."""
    _compile_toolkit()
    # -I: the runner's working folder (the run's, which the kernel writes) is not on its module path
    return Sandboxed([sys.executable, "-I", "-m", "dlcourse.grading.notebook_run", str(run_dir), *(["--held"] if held else [])],
                     cwd=run_dir, env=sandbox_env(run_dir, data_root), limits=limits,
                     view=View(readable=(Path(data_root),), writable=(run_dir,)), stop=stop, held=held)


class KernelPool:
    """A batch worker's pre-started kernel: at most one, for its next submission.

    When a job names the folder of the next run (``JudgeJob.next_run_dir``, made by the grader,
    empty but for ``home/``), a runner is started there in its own sandbox (its own cgroups,
    user and namespaces, as any run) as soon as this job's run has ended; it starts a kernel
    and imports torch, and waits. The next job whose run folder and limits are the same takes
    it: its clock starts then, and the runner is told to go. Each pre-started kernel serves one
    submission and has run no student code before it: nothing is reused. One not taken (another
    folder, other limits, the batch ended) is stopped like any run: every process killed, its
    cgroups removed; its folder is the grader's to remove."""

    def __init__(self) -> None:
        self.held: tuple[str, str, Limits, Sandboxed] | None = None   # run folder, data root, limits, the run

    def start(self, job: JudgeJob) -> None:
        self.close()
        assert job.next_run_dir is not None
        limits = limits_for(job)
        try:
            self.held = (job.next_run_dir, job.data_root, limits,
                         start_runner(Path(job.next_run_dir), job.data_root, limits, stop=None, held=True))
        except SandboxUnavailable:
            pass  # the next job is refused with the reason when it comes

    def take(self, job: JudgeJob, stop: threading.Event) -> Sandboxed | None:
        """The kernel pre-started for ``job``'s folder and limits, its clock started and its
        submission (staged now) handed to the sandbox's user; None where there is none."""
        held, self.held = self.held, None
        if held is None:
            return None
        run_dir, data_root, limits, sandboxed = held
        if (run_dir, data_root, limits) != (job.run_dir, job.data_root, limits_for(job)) or sandboxed.process.poll() is not None:
            sandboxed.finish(grace=0)
            return None
        if sandboxed.uid is not None and (Path(run_dir) / "submission").is_dir():
            give_to(Path(run_dir) / "submission", sandboxed.uid)
        sandboxed.release(stop)
        try:
            write_message(sandboxed.stdin, {"op": "go"})
        except OSError:  # the runner ended while it waited
            sandboxed.finish(grace=0)
            return None
        return sandboxed

    def close(self) -> None:
        """Stop the kernel held, if any."""
        held, self.held = self.held, None
        if held is not None:
            held[3].finish(grace=0)


@functools.cache
def _compile_toolkit() -> None:
    """Byte-compile the toolkit's modules, once per process. The sandbox sees the toolkit
    read-only, so a module only the runner or the kernel imports (oracle.py, trim.py...) would
    otherwise be compiled from source in every run (about 0.1 s of CPU per submission). Where
    the toolkit's folder is not the grader's to write, nothing is written and nothing fails."""
    import dlcourse

    compileall.compile_dir(Path(dlcourse.__file__).parent, quiet=2)


def sandbox_env(run_dir: Path, data_root: str) -> dict[str, str]:
    """A small, explicit environment for the sandbox: nothing of the grader's own leaks in."""
    home = run_dir / "home"
    keep = ("PATH", "LANG", "LC_ALL", "TZ")
    return {**{k: os.environ[k] for k in keep if k in os.environ},
            DATA_ENV: data_root, GRADING_ENV: "1", "HOME": str(home),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "IPYTHONDIR": str(home / "ipython"),
            "MPLCONFIGDIR": str(home / "matplotlib"), "MPLBACKEND": "Agg",
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1",
            "JUPYTER_PLATFORM_DIRS": "1",
            "USER": "student", "LOGNAME": "student"}  # a run's own user has no account to look up
