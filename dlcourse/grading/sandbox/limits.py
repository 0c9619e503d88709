"""What a sandboxed run may use and see (:class:`Limits`, :class:`View`), what it did
(:class:`Outcome`), and the refusal raised where a promise cannot hold."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class SandboxUnavailable(RuntimeError):
    """Student code cannot be run safely here; the message names the cause and the fix."""


@dataclass(frozen=True)
class Limits:
    timeout: float                    # wall-clock seconds
    memory_mb: int | None = 2048      # the whole process tree: a cgroup limit, else polled private memory
    max_processes: int | None = 128   # processes and threads of the whole tree
    max_output_bytes: int = 200_000   # stdout+stderr kept; the rest is counted, not stored
    threads: int = 1                  # BLAS/OpenMP threads the command may use
    isolate_network: bool = True
    # Throwaway machines only: run student code where it cannot be confined (as root, or as
    # the grader's own user); every row then says so. Otherwise such a run is refused.
    allow_root: bool = False
    confinement: str = "auto"         # a name of confinement.CONFINEMENTS, or "auto": the strongest that works
    cpus: float | None = None         # CPU time per wall-clock second (0.5: half a CPU), a cgroup cpu quota
    disk_mb: int | None = 1024        # what the run may keep in its writable folders (polled), and its largest file
    max_files: int = 20_000           # files and folders in its writable folders (polled)


@dataclass
class Outcome:
    returncode: int | None
    seconds: float
    timed_out: bool = False
    out_of_memory: bool = False
    out_of_disk: bool = False          # more than disk_mb or max_files in its writable folders
    interrupted: bool = False          # stopped because the caller asked (Ctrl-C in a batch)
    output: str = ""
    output_bytes: int = 0
    peak_memory_mb: float = 0.0     # private memory of the whole tree, sampled (see supervision._private_kb)
    enforced: list[str] = field(default_factory=list)  # what was really in force
    not_enforced: list[str] = field(default_factory=list)  # promises this machine could not keep

    @property
    def output_truncated(self) -> bool:
        return self.output_bytes > len(self.output.encode(errors="replace"))


@dataclass(frozen=True)
class View:
    """What a sandboxed command may see: folders to read and folders to write. Only a
    confinement with a mount namespace hides the rest; otherwise permissions guard it."""

    readable: tuple[Path, ...] = ()
    writable: tuple[Path, ...] = ()


def thread_env(threads: int) -> dict[str, str]:
    """Environment that caps the BLAS/OpenMP thread pools, so parallel runs don't oversubscribe."""
    n = str(max(1, threads))
    return {"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n}
