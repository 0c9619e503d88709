"""Kernel-enforced limits for one run: a memory, a process-count and (where asked) a CPU
cgroup, v1 or v2, nested inside the grader's own group, so a limit placed on the grader (a
container, a systemd unit) also covers every run it starts.

A group is named ``dlcourse-OWNER-RANDOM``, OWNER the tag of the process that made it (the
judge: :mod:`.owners`). A judge killed with SIGKILL cannot remove its groups (its pre-started
kernel's, its running submission's); the next process here to make one removes, first, every
group of a gone owner beside where it makes its own, ending what still runs in it (student code
that outlived its judge, with no clock over it)."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import re
import signal
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from .limits import Limits
from .owners import OWNER, owner_gone, owner_tag

CGROUP_ROOT = Path("/sys/fs/cgroup")
CPU_PERIOD_US = 100_000  # the kernel's default period for a cgroup's CPU quota
GROUP_NAME = re.compile(rf"dlcourse-{OWNER}-[0-9a-f]{{12}}")


@functools.lru_cache(maxsize=1)
def cgroups_available() -> bool:
    """Whether runs here get kernel-enforced memory and process limits."""
    probe = Cgroups.create(Limits(timeout=1))
    if probe is None:
        return False
    probe.remove()
    return True


def _own_cgroup(controller: str) -> Path:
    """The folder of the cgroup this process is in, for ``controller`` ("" on cgroup v2).

    Groups made for a command nest inside it, so a limit placed on the grader itself (a
    container, a systemd unit, a benchmark) also covers every command the grader starts.
    """
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            mount = CGROUP_ROOT / controller if controller else CGROUP_ROOT
            return mount / path.lstrip("/")
    return CGROUP_ROOT / controller


def _delegates(group: Path, controllers: set[str]) -> bool:
    """Whether ``group`` (cgroup v2) hands ``controllers`` to groups made below it."""
    try:
        delegated = set((group / "cgroup.subtree_control").read_text().split())
    except OSError:
        return False
    return controllers <= delegated and os.access(group, os.W_OK)


def _quota_us(cpus: float) -> int:
    """CPU microseconds per ``CPU_PERIOD_US`` for ``cpus`` CPUs: 50000 for half a CPU."""
    return max(1000, round(cpus * CPU_PERIOD_US))  # the kernel refuses quotas under 1 ms


@dataclass
class Cgroups:
    """A memory and a pids cgroup made for one command, and a cpu one where ``Limits.cpus``
    asks (v1: a hierarchy each, memory first; v2: one group)."""

    dirs: list[Path]
    version: int
    enforced: tuple[str, ...]

    @property
    def procs_files(self) -> list[Path]:
        return [d / "cgroup.procs" for d in self.dirs]

    def joined(self, command: list[str]) -> list[str]:
        """``command`` started inside these groups: a shell joins them, then exec's the
        command, which keeps its pid."""
        joins = "; ".join(f"echo $$ > {p}" for p in self.procs_files)
        return ["sh", "-c", f'{joins}; exec "$@"', "sh", *command]

    @classmethod
    def create(cls, limits: Limits) -> Cgroups | None:
        """Groups for one run, or ``None`` where none can be made here. A CPU share that cannot
        be set leaves the memory and process limits in force (``enforced`` then lacks it)."""
        name = f"dlcourse-{owner_tag()}-{uuid.uuid4().hex[:12]}"
        _sweep_once(os.getpid())
        try:
            if _v2():
                group = cls._create_v2(name, limits)
            else:
                group = cls._create_v1(name, limits)
        except OSError:
            group = None
        if group is None and limits.cpus:
            return cls.create(dataclasses.replace(limits, cpus=None))
        return group

    @classmethod
    def _create_v1(cls, name: str, limits: Limits) -> Cgroups | None:
        memory, pids = _own_cgroup("memory") / name, _own_cgroup("pids") / name
        if not (memory.parent.is_dir() and pids.parent.is_dir() and os.access(memory.parent, os.W_OK)):
            return None
        memory.mkdir()
        group = cls([memory], 1, ("cgroup memory",))
        with group._removed_on_failure():
            if limits.memory_mb:
                (memory / "memory.limit_in_bytes").write_text(str(limits.memory_mb * 2**20))
                swap = memory / "memory.memsw.limit_in_bytes"
                if swap.exists():  # no escaping the limit into swap
                    swap.write_text(str(limits.memory_mb * 2**20))
            pids.mkdir()
            group.dirs.append(pids)
            group.enforced += ("cgroup pids",)
            if limits.max_processes:
                (pids / "pids.max").write_text(str(limits.max_processes))
            if limits.cpus:
                cpu = _own_cgroup("cpu") / name
                cpu.mkdir()
                group.dirs.append(cpu)
                group.enforced += ("cgroup cpu",)
                (cpu / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
                (cpu / "cpu.cfs_quota_us").write_text(str(_quota_us(limits.cpus)))
        return group

    @classmethod
    def _create_v2(cls, name: str, limits: Limits) -> Cgroups | None:
        # v2 allows controllers only below a group without processes of its own: our own
        # group qualifies when it was delegated that way (systemd does), else the root.
        needed = {"memory", "pids"} | ({"cpu"} if limits.cpus else set())
        parent = next((d for d in (_own_cgroup(""), CGROUP_ROOT) if _delegates(d, needed)), None)
        if parent is None:
            return None
        group_dir = parent / name
        group_dir.mkdir()
        group = cls([group_dir], 2, ("cgroup memory", "cgroup pids") + (("cgroup cpu",) if limits.cpus else ()))
        with group._removed_on_failure():
            if limits.memory_mb:
                (group_dir / "memory.max").write_text(str(limits.memory_mb * 2**20))
                (group_dir / "memory.swap.max").write_text("0")
            if limits.max_processes:
                (group_dir / "pids.max").write_text(str(limits.max_processes))
            if limits.cpus:
                (group_dir / "cpu.max").write_text(f"{_quota_us(limits.cpus)} {CPU_PERIOD_US}")
        return group

    @contextlib.contextmanager
    def _removed_on_failure(self):
        """Setting a limit failed: no half-made group stays behind (create() then returns None)."""
        try:
            yield
        except OSError:
            self.remove()
            raise

    def pids(self) -> set[int]:
        found = set()
        for procs in self.procs_files:
            try:
                found |= {int(line) for line in procs.read_text().split()}
            except OSError:
                pass
        return found

    def kill_all(self) -> None:
        """Kill every process in these groups. A loop that reads their list and kills it can be
        outrun by processes that fork (student code's fork bomb: a pid read has forked and left
        before its kill lands), so the kernel first stops their forks (:func:`fork_stop`)."""
        stop = fork_stop(self.dirs)
        if stop is not None:
            try:
                stop[0].write_text(stop[1])
            except OSError:
                pass   # the group is going already: the loop does the rest
        for _ in range(250):   # up to 2.5 s, looked at every 10 ms: a killed group empties in a few
            remaining = self.pids()
            if not remaining:
                return
            for pid in remaining:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.01)

    def oom_killed(self) -> bool:
        """Whether the kernel's OOM killer ended a process of this group (hitting the limit
        alone is not enough: page cache is reclaimed at the limit without killing anyone)."""
        return self.counters("memory.oom_control" if self.version == 1 else "memory.events")["oom_kill"] > 0

    def counters(self, name: str, folder: Path | None = None) -> dict[str, int]:
        """A "key value" file of the memory group (or of ``folder``) as numbers (missing keys read 0)."""
        counters: dict[str, int] = {}
        try:
            for line in ((folder or self.dirs[0]) / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                counters[key] = int(value)
        except (OSError, ValueError):
            pass
        return defaultdict(int, counters)

    def remove(self) -> None:
        for d in self.dirs:
            for _ in range(20):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # still busy for a moment after its last process died
                    time.sleep(0.05)


def _v2() -> bool:
    return (CGROUP_ROOT / "cgroup.controllers").is_file()


def fork_stop(dirs: list[Path]) -> tuple[Path, str] | None:
    """The file of the groups ``dirs`` to write, and what, so that none of their processes can
    start another while they are killed: v2's ``cgroup.kill`` (kernel 5.14+) kills them all at
    once. Else (v1, older v2) the pids group's limit set to 0 makes every fork and new thread
    fail, so the processes listed are all there are, and the kill loop ends them. (v1's freezer
    would stop forks too, but runs get no freezer group: a fourth hierarchy to make and join.)"""
    for name, value in (("cgroup.kill", "1"), ("pids.max", "0")):
        for folder in dirs:
            if (folder / name).is_file():
                return folder / name, value
    return None


@functools.cache
def _sweep_once(pid: int) -> None:
    """:func:`sweep_gone_owners`, once per process (``pid``: a forked child sweeps anew)."""
    sweep_gone_owners()


def sweep_gone_owners() -> None:
    """Remove the groups that gone owners left where this process makes its own, after killing
    what still runs in them. Only groups named as this module names them and
    owned by this process's user are looked at: nothing else here is touched."""
    if _v2():
        parents = [_own_cgroup(""), CGROUP_ROOT]
    else:
        parents = [_own_cgroup(c) for c in ("memory", "pids", "cpu")]   # in the order of a group's dirs
    gone: dict[str, list[Path]] = defaultdict(list)   # v1: a judge's group has a folder in each hierarchy
    for parent in dict.fromkeys(parents):   # each once (v2: our own group may be the root)
        try:
            entries = list(os.scandir(parent))
        except OSError:
            continue
        for entry in entries:
            found = GROUP_NAME.fullmatch(entry.name)
            try:
                ours = entry.is_dir(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_uid == os.geteuid()
            except OSError:
                continue
            if found and ours and owner_gone(found):
                gone[entry.name].append(Path(entry.path))
    for dirs in gone.values():   # killed as one: its pids folder stops the forks of what its memory folder lists
        group = Cgroups(dirs, 2 if _v2() else 1, ())
        group.kill_all()
        group.remove()
