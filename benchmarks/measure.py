"""Wall time and peak memory of a command and everything it starts, sampled every 20 ms.

``measure``: the largest sum of resident memory over the command's process tree, reported
by the benchmarks as MB above a bare `import torch` (the floor every grading run shares),
so figures from machines with different torch builds compare.

``measure_in_container``: what a memory cgroup is charged, the accounting a container's
limit (Gradescope's 768 MB) enforces, under a cgroup CPU quota (Gradescope's half a CPU).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import psutil

from dlcourse.grading.sandbox import Cgroups, Limits


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

    def tree_rss_mb(process: subprocess.Popen) -> float:
        root = psutil.Process(process.pid)
        return sum(_rss(p) for p in [root, *root.children(recursive=True)]) / 2**20

    seconds, peak, process, output = _run_sampled(command, tree_rss_mb, {**os.environ, **(env or {})}, timeout)
    return Measurement(seconds, peak, process.returncode, output)


def _run_sampled(command: list[str], reading: Callable[[subprocess.Popen], float], env: dict | None,
                 timeout: float) -> tuple[float, float, subprocess.Popen, str]:
    """Run ``command`` to its end, taking ``reading`` every 20 ms; returns the seconds, the
    largest reading, the finished process and its output."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = [0.0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            try:
                peak[0] = max(peak[0], reading(process))
            except psutil.Error:
                pass
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = process.communicate(timeout=timeout)
    done.set()
    sampler.join()
    return time.perf_counter() - start, peak[0], process, output


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
    periods: int             # CPU quota periods (100 ms) in which the command ran
    throttled: int           # of those, the periods that stopped it at its quota: nearly all, the quota bound it
    peak_charged_mb: float   # everything the cgroup was charged: private memory and page cache
    peak_anon_mb: float      # private (anonymous) memory alone: what cannot be reclaimed
    oom_killed: bool
    returncode: int
    output: str
    at_peak: dict[str, float] = field(default_factory=dict)  # process role -> its anonymous MB at that peak


def measure_in_container(command: list[str], limit_mb: int, cpus: float, cold: tuple[Path, ...] = (),
                         timeout: float = 1800) -> ContainerRun:
    """Run ``command`` the way a Gradescope container runs the autograder: in one cgroup with
    a memory limit of ``limit_mb`` without swap and a CPU quota of ``cpus`` CPUs (cgroup v2's
    ``cpu.max``, v1's CFS quota) and the largest CPU weight, so other work on a shared machine
    cannot hold it below its quota (its time measures the quota, not the machine's load), with
    the cgroup file system read-only (so the grader cannot make cgroups of its own), and the
    files under ``cold`` evicted from the page cache first, as in a fresh container. Needs root
    and cgroups with the memory, pids and cpu controllers."""
    for folder in cold:
        for path in folder.rglob("*"):
            if path.is_file():
                _evict(path)
    group = Cgroups.create(Limits(timeout=timeout, memory_mb=limit_mb, max_processes=None, cpus=cpus))
    if group is None:
        raise RuntimeError("measuring as a container needs root and writable memory, pids and cpu cgroups")
    _largest_cpu_weight(group.dirs[-1])
    read_only = ('for m in $(grep " /sys/fs/cgroup" /proc/self/mountinfo | cut -d" " -f5); '
                 'do mount -o remount,bind,ro "$m"; done')
    wrapped = group.joined(["unshare", "--mount", "sh", "-c", f'{read_only}; exec "$@"', "sh", *command])
    at_peak: dict[str, float] = {}
    highest = [0.0]

    def reading(_) -> float:
        anon = anon_mb(group)
        if anon > highest[0]:  # who holds it: read only when a new peak is seen
            highest[0] = anon
            at_peak.clear()
            at_peak.update(anon_by_role(group.pids()))
        return anon

    try:
        seconds, peak_anon, process, output = _run_sampled(wrapped, reading, None, timeout)
        return ContainerRun(seconds, *cpu_periods(group), peak_mb(group), peak_anon, group.oom_killed(),
                            process.returncode, output, dict(at_peak))
    finally:
        group.remove()


def anon_mb(group: Cgroups) -> float:
    """The anonymous memory ``group`` holds now: what cannot be reclaimed."""
    return group.counters("memory.stat")["total_rss" if group.version == 1 else "anon"] / 2**20


# A grading process's role, from its command line: the grader (Gradescope's entry point), the
# judge, the notebook runner (and bubblewrap around it), the student's kernel.
ROLES = (("grading.gradescope", "grader"), ("grading.judge", "judge"), ("notebook_run", "runner"),
         ("ipykernel", "kernel"), ("bwrap", "runner"))


def anon_by_role(pids: set[int]) -> dict[str, float]:
    """Anonymous resident MB (``RssAnon``) of each role among ``pids``, summed per role."""
    roles: dict[str, float] = {}
    for pid in pids:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        anon = next((int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("RssAnon:")), 0.0)
        role = next((name for key, name in ROLES if key in command), "other")
        roles[role] = roles.get(role, 0.0) + anon
    return roles


def peak_mb(group: Cgroups) -> float:
    """The most ``group`` was ever charged, page cache included."""
    name = "memory.max_usage_in_bytes" if group.version == 1 else "memory.peak"
    try:
        return int((group.dirs[0] / name).read_text()) / 2**20
    except (OSError, ValueError):
        return 0.0


def cpu_periods(group: Cgroups) -> tuple[int, int]:
    """(periods of the CPU quota in which ``group`` ran, periods that stopped it at its quota):
    the two nearly equal mean the group always got its whole quota, no more, no less."""
    if "cgroup cpu" not in group.enforced:
        return 0, 0
    stat = group.counters("cpu.stat", group.dirs[-1])
    return stat["nr_periods"], stat["nr_throttled"]


def _largest_cpu_weight(cpu_group: Path) -> None:
    """The kernel's largest CPU weight for ``cpu_group`` (v2 ``cpu.weight``, v1 ``cpu.shares``):
    first claim on the CPU, up to its quota."""
    for name, largest in (("cpu.weight", 10_000), ("cpu.shares", 262_144)):
        if (cpu_group / name).is_file():
            (cpu_group / name).write_text(str(largest))
            return
    raise RuntimeError(f"{cpu_group} has no CPU weight to set")


def _evict(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
