"""Supervise one confined command: start it in its cgroups under its confinement's plan, watch
its time and memory, and on every way out kill everything it started and remove its groups.

Each command runs in its own session (process group). Where cgroups are unavailable, memory is
watched by polling instead (a fast enough bomb can outrun a poll; the OOM killer is then the
backstop). A wall-clock timeout always applies, and on any exit every process the command
started is killed, the kernel's included: Jupyter starts kernels in a session of their own,
out of reach of a process-group kill.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import psutil

from .cgroups import Cgroups
from .confinement import plan_for
from .limits import Limits, Outcome, View, thread_env

POLL_SECONDS = 0.1
# The writable folders are walked at most this share of the time: every poll while they hold
# a few files (a fast writer then overshoots its limit by one poll's writing), less often as
# a walk gets dearer (20,000 entries), so the watchdog never costs a run much of a CPU.
DISK_WALK_SHARE = 0.1


class Sandboxed:
    """A command running under ``limits``: talk to it through ``stdin`` and ``stdout``,
    then :meth:`finish`. A watchdog thread ends it at its time or memory limit, or when
    ``stop`` is set; its stderr is kept (capped) as the outcome's output.

    A ``held`` command (a pre-started kernel waiting for its submission, see judge.py) runs
    without a clock until :meth:`release`: its timeout counts from then; its memory, process
    and disk limits apply from the start.

    Raises :class:`~.limits.SandboxUnavailable` (before starting anything) where the command
    could not be confined as ``limits`` asks."""

    def __init__(self, command: list[str], *, cwd: Path, env: dict[str, str], limits: Limits,
                 view: View = View(), stop: threading.Event | None = None, held: bool = False) -> None:
        self.limits, self.stop, self.held = limits, stop, held
        env = {**env, **thread_env(limits.threads)}
        plan = plan_for(limits, view)
        try:
            self.cgroups = Cgroups.create(limits)
            enforced = (list(self.cgroups.enforced) if self.cgroups else []) + plan.enforced
            not_enforced = list(plan.not_enforced)
            if not self.cgroups:
                not_enforced.append("cgroup limits (memory is polled instead)")
            elif limits.cpus and "cgroup cpu" not in self.cgroups.enforced:
                not_enforced.append("a CPU share of its own (no cpu cgroup here)")
            self.uid = plan.uid   # the user the run's files must belong to (None: the grader's)
            if plan.uid is not None:
                for folder in view.writable:
                    give_to(folder, plan.uid)
            self.writable = view.writable
            prefix = plan.prefix + _file_size_limit(limits.disk_mb)
            prefix = self.cgroups.joined(prefix) if self.cgroups else prefix
            self.start = time.monotonic()
            self.process = subprocess.Popen(prefix + command, cwd=cwd, env=env, stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                                            pass_fds=plan.pass_fds)
        finally:
            for fd in plan.pass_fds:   # the command has its own copies
                os.close(fd)
        assert self.process.stdin is not None and self.process.stdout is not None   # both are pipes
        self.stdin, self.stdout = self.process.stdin, self.process.stdout
        self.reader = _CappedReader(self.process.stderr, limits.max_output_bytes)
        self.outcome = Outcome(returncode=None, seconds=0.0, enforced=enforced, not_enforced=not_enforced)
        self.seen: dict[int, psutil.Process] = {}
        self.ended = threading.Event()
        self.watchdog = threading.Thread(target=self._watch, daemon=True)
        self.watchdog.start()

    def _watch(self) -> None:
        outcome, limits = self.outcome, self.limits
        next_disk_walk = 0.0
        while self.process.poll() is None and not self.ended.is_set():
            memory = self._memory_mb()
            outcome.peak_memory_mb = max(outcome.peak_memory_mb, memory)
            if not self.held and time.monotonic() - self.start > limits.timeout:
                outcome.timed_out = True
                break
            if limits.memory_mb and not self.cgroups and memory > limits.memory_mb:
                outcome.out_of_memory = True
                break
            if limits.disk_mb and time.monotonic() >= next_disk_walk:
                walk_started = time.monotonic()
                if not _within_disk_limit(self.writable, limits):
                    outcome.out_of_disk = True
                    break
                walked = time.monotonic() - walk_started
                next_disk_walk = walk_started + walked / DISK_WALK_SHARE
            if self.stop is not None and self.stop.is_set():
                outcome.interrupted = True
                break
            self.ended.wait(POLL_SECONDS)  # finish() wakes it at once, not after a sleep
        if self.process.poll() is None:
            self._kill()

    def _memory_mb(self) -> float:
        """Private resident memory of the run's processes. In cgroups, their list is the
        groups' own (one file: no process leaves its groups); without, the process tree,
        remembering every process seen so that all are killed at the end. (Walking the tree
        reads every process on the machine: about 2 ms a poll, several per cent of a core
        with a batch's runs watched at once.)"""
        if self.cgroups:
            return sum(_private_kb(pid) for pid in self.cgroups.pids() | {self.process.pid}) / 1024
        return _tree_memory_mb(self.process.pid, self.seen)

    def _kill(self) -> None:
        _kill_everything(self.process, self.seen, self.cgroups)

    def release(self, stop: threading.Event | None) -> None:
        """Start a ``held`` command's clock now, and stop it early when ``stop`` is set."""
        self.start, self.stop, self.held = time.monotonic(), stop, False

    @property
    def seconds_left(self) -> float:
        return self.limits.timeout - (time.monotonic() - self.start)

    def finish(self, grace: float = 10.0) -> Outcome:
        """Wait up to ``grace`` seconds for the command to end, then end it and everything it
        started; the outcome of the whole run."""
        try:
            self.process.wait(timeout=max(0.0, min(grace, self.seconds_left + 1)))
        except subprocess.TimeoutExpired:
            pass
        self.ended.set()
        self._kill()
        self.watchdog.join()
        for stream in (self.stdin, self.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self.reader.join()
        outcome = self.outcome
        outcome.returncode = self.process.returncode
        outcome.seconds = time.monotonic() - self.start
        outcome.output, outcome.output_bytes = self.reader.text(), self.reader.total
        if self.cgroups:
            outcome.out_of_memory |= self.cgroups.oom_killed()
            self.cgroups.remove()
        return outcome


def run_limited(command: list[str], *, cwd: Path, env: dict[str, str], limits: Limits,
                view: View = View(), stop: threading.Event | None = None) -> Outcome:
    """Run ``command`` under ``limits``; returns once it and everything it started are gone.
    Its stdout and stderr together are the outcome's output."""
    run = Sandboxed(["sh", "-c", 'exec "$@" 2>&1', "sh", *command], cwd=cwd, env=env, limits=limits,
                    view=view, stop=stop)
    run.stdin.close()
    kept = _CappedReader(run.stdout, limits.max_output_bytes)
    outcome = run.finish(grace=limits.timeout + 1)
    kept.join()
    outcome.output, outcome.output_bytes = kept.text() + outcome.output, kept.total + outcome.output_bytes
    return outcome


def _file_size_limit(disk_mb: int | None) -> list[str]:
    """A command prefix that caps every file the run writes at ``disk_mb`` (SIGXFSZ past it),
    where util-linux's prlimit is installed; the total is polled (:func:`_within_disk_limit`)."""
    if not disk_mb or not shutil.which("prlimit"):
        return []
    return ["prlimit", f"--fsize={disk_mb * 2**20}", "--"]


def _within_disk_limit(folders: tuple[Path, ...], limits: Limits) -> bool:
    """Whether ``folders`` hold at most ``limits.disk_mb`` of allocated blocks in at most
    ``limits.max_files`` entries. Walks without recursion or links, and stops counting at
    the limit, so a tree made to be slow to walk costs no more than the limit."""
    used, entries, stack = 0, 0, [str(folder) for folder in folders]
    while stack:
        try:
            with os.scandir(stack.pop()) as found:
                for entry in found:
                    entries += 1
                    if entries > limits.max_files:
                        return False
                    info = entry.stat(follow_symlinks=False)
                    used += info.st_blocks * 512
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
        except OSError:
            continue
    return limits.disk_mb is None or used <= limits.disk_mb * 2**20


def give_to(folder: Path, uid: int) -> None:
    """Hand ``folder`` and what is in it to ``uid`` (its parents must already be passable)."""
    for path in (folder, *folder.rglob("*")):
        os.chown(path, uid, uid, follow_symlinks=False)


FOLDERS_HELD = 64   # directory descriptors remove_tree holds at once


def remove_tree(path: Path) -> None:
    """Remove ``path`` and everything under it, however deep (a run may leave a folder nested
    thousands deep, past ``PATH_MAX``, Python's recursion limit and the open-files limit) and
    whatever its modes. Walks with directory descriptors and an explicit stack, at most
    :data:`FOLDERS_HELD` open at once: a folder deeper than that is first moved up into ``path``
    and removed from there. Never follows a link."""
    try:
        top = _open_folder(path)
    except FileNotFoundError:
        return
    except NotADirectoryError:
        path.unlink(missing_ok=True)
        return
    stack: list[tuple[int, str]] = [(top, "")]  # open folders, each with its name in the one below
    try:
        while stack:
            fd, name = stack[-1]
            os.fchmod(fd, 0o700)  # a run may leave a folder closed even to its owner
            child = None
            for entry in os.scandir(fd):
                if entry.is_dir(follow_symlinks=False):
                    child = entry.name
                    break
                os.unlink(entry.name, dir_fd=fd)
            if child is not None:
                if len(stack) < FOLDERS_HELD:
                    stack.append((_open_folder(child, fd), child))
                else:  # one descriptor per level would run out (EMFILE) on a tree thousands deep
                    os.rename(child, f".deep-{secrets.token_hex(8)}", src_dir_fd=fd, dst_dir_fd=top)
                continue
            stack.pop()
            os.close(fd)
            if stack:
                os.rmdir(name, dir_fd=stack[-1][0])
    finally:
        for fd, _ in stack:
            os.close(fd)
    os.rmdir(path)


def _open_folder(name: str | Path, dir_fd: int | None = None) -> int:
    """A descriptor of the folder ``name`` (never a link), opened even where a run closed it to
    its owner (mode 0: a grader that is not root may not read it, and student code runs as the
    grader's user there): it is first opened up through a descriptor that needs no access."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except PermissionError:
        reference = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
        try:
            os.chmod(f"/proc/self/fd/{reference}", 0o700)   # fchmod refuses an O_PATH descriptor
        finally:
            os.close(reference)
        return os.open(name, flags, dir_fd=dir_fd)


def _tree_memory_mb(pid: int, seen: dict[int, psutil.Process]) -> float:
    """Private resident memory of ``pid`` and its descendants; remembers every process seen."""
    try:
        root = psutil.Process(pid)
        family = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for proc in family:
        seen.setdefault(proc.pid, proc)
        total += _private_kb(proc.pid)
    return total / 1024


def private_mb(pid: int) -> float:
    """Private resident memory of one process, in MB (see :func:`_private_kb`)."""
    return _private_kb(pid) / 1024


def _private_kb(pid: int) -> int:
    """Anonymous plus shared-memory resident kB of one process: what fills a memory limit.
    Mapped files (libraries, the memory-mapped datasets) are left out: they are page cache,
    shared between processes and reclaimable, and counting them per process would stop a
    healthy run (a memory cgroup charges them once, and reclaims them before killing)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return sum(int(m) for m in re.findall(r"^Rss(?:Anon|Shmem):\s+(\d+) kB", status, re.M))


def _kill_everything(process: subprocess.Popen, seen: dict[int, psutil.Process],
                     cgroups: Cgroups | None) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for proc in seen.values():  # kernels and anything else that left the process group
        try:
            proc.kill()
        except psutil.Error:
            pass
    if cgroups:
        cgroups.kill_all()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


class _CappedReader(threading.Thread):
    """Drain a pipe, keeping only the first ``cap`` bytes (a flood of output can't fill memory)."""

    def __init__(self, pipe, cap: int) -> None:
        super().__init__(daemon=True)
        self.pipe, self.cap, self.total = pipe, cap, 0
        self.kept = bytearray()
        self.start()

    def run(self) -> None:
        for chunk in iter(lambda: self.pipe.read1(65536), b""):
            self.total += len(chunk)
            room = self.cap - len(self.kept)
            if room > 0:
                self.kept += chunk[:room]
        self.pipe.close()

    def text(self) -> str:
        return self.kept.decode(errors="replace")
