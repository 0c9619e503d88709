"""Wall time and peak memory of a command and everything it starts, sampled every 20 ms.

``measure``: the largest sum of resident memory over the command's process tree, reported
by the benchmarks as MB above a bare `import torch` (the floor every grading run shares),
so figures from machines with different torch builds compare.

``measure_in_container``: what a memory cgroup is charged, the accounting a container's
limit (Gradescope's 768 MB) enforces.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil

from dlcourse.grading.sandbox import CGROUP_ROOT, own_cgroup


@dataclass
class Measurement:
    seconds: float
    peak_mb: float
    returncode: int
    output: str


def measure(command: list[str], env: dict | None = None, cpus: str | None = None, timeout: float = 1800) -> Measurement:
    """Run ``command`` (pinned to ``cpus``, e.g. "0", with taskset) and measure it."""
    if cpus is not None:
        command = ["taskset", "-c", cpus, *command]
    start = time.perf_counter()
    process = subprocess.Popen(command, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    peak = [0.0]
    done = threading.Event()

    def sample():
        root = psutil.Process(process.pid)
        while not done.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                peak[0] = max(peak[0], sum(_rss(p) for p in tree) / 2**20)
            except psutil.Error:
                pass
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = process.communicate(timeout=timeout)
    done.set()
    sampler.join()
    return Measurement(time.perf_counter() - start, peak[0], process.returncode, output)


def _rss(process: psutil.Process) -> int:
    try:
        return process.memory_info().rss
    except psutil.Error:
        return 0


def bare_torch_mb(repeats: int = 3) -> float:
    """Peak resident memory of `python -c "import torch"` (median of a few runs)."""
    return statistics.median(measure([sys.executable, "-c", "import torch"]).peak_mb for _ in range(repeats))


def median_of(runs: list[Measurement]) -> tuple[float, float]:
    return statistics.median(r.seconds for r in runs), statistics.median(r.peak_mb for r in runs)


@dataclass
class ContainerRun:
    seconds: float
    peak_charged_mb: float   # everything the cgroup was charged: private memory and page cache
    peak_anon_mb: float      # private (anonymous) memory alone: what cannot be reclaimed
    oom_kills: int
    returncode: int
    output: str


def measure_in_container(command: list[str], limit_mb: int, cpus: str = "0", cold: tuple[Path, ...] = (),
                         timeout: float = 1800) -> ContainerRun:
    """Run ``command`` the way a Gradescope container runs the autograder: in one memory
    cgroup of ``limit_mb`` without swap, on ``cpus``, with the cgroup file system read-only
    (so the grader cannot make cgroups of its own), and the files under ``cold`` evicted
    from the page cache first, as in a fresh container. Needs root and cgroups."""
    for folder in cold:
        for path in folder.rglob("*"):
            if path.is_file():
                _evict(path)
    group = _MemoryGroup(limit_mb)
    read_only = ('for m in $(grep " /sys/fs/cgroup" /proc/self/mountinfo | cut -d" " -f5); '
                 'do mount -o remount,bind,ro "$m"; done')
    wrapped = ["sh", "-c", f'echo $$ > {group.procs}; exec "$@"', "sh",
               "unshare", "--mount", "sh", "-c", f'{read_only}; exec "$@"', "sh", "taskset", "-c", cpus, *command]
    start = time.perf_counter()
    process = subprocess.Popen(wrapped, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak_anon = [0.0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak_anon[0] = max(peak_anon[0], group.anon_mb())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = process.communicate(timeout=timeout)
    done.set()
    sampler.join()
    run = ContainerRun(time.perf_counter() - start, group.peak_mb(), peak_anon[0], group.oom_kills(),
                       process.returncode, output)
    group.remove()
    return run


def _evict(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


class _MemoryGroup:
    """A memory cgroup (v1 or v2) inside this process's own, with a limit and no swap."""

    def __init__(self, limit_mb: int) -> None:
        self.v2 = not (CGROUP_ROOT / "memory").is_dir()
        self.dir = own_cgroup("" if self.v2 else "memory") / f"benchmark-{uuid.uuid4().hex[:8]}"
        self.dir.mkdir()
        limit = str(limit_mb * 2**20)
        if self.v2:
            self._write("memory.max", limit)
            self._write("memory.swap.max", "0")
        else:
            self._write("memory.limit_in_bytes", limit)
            if (self.dir / "memory.memsw.limit_in_bytes").exists():
                self._write("memory.memsw.limit_in_bytes", limit)
        self.procs = self.dir / "cgroup.procs"

    def _write(self, name: str, value: str) -> None:
        (self.dir / name).write_text(value)

    def _stat(self, name: str) -> dict[str, int]:
        return {k: int(v) for k, v in (line.split() for line in (self.dir / name).read_text().splitlines())}

    def anon_mb(self) -> float:
        return self._stat("memory.stat")["anon" if self.v2 else "total_rss"] / 2**20

    def peak_mb(self) -> float:
        return int((self.dir / ("memory.peak" if self.v2 else "memory.max_usage_in_bytes")).read_text()) / 2**20

    def oom_kills(self) -> int:
        return self._stat("memory.events" if self.v2 else "memory.oom_control").get("oom_kill", 0)

    def remove(self) -> None:
        for _ in range(100):
            try:
                self.dir.rmdir()
                return
            except OSError:  # busy for a moment after its last process exits
                time.sleep(0.05)
