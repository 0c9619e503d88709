"""Run an untrusted command under limits, and always clean up after it.

Each command runs in its own session (process group) and, where the machine allows it:

- a bubblewrap sandbox (``bwrap``): its own mount namespace that shows only the system's
  programs and libraries, the Python installation, the course toolkit and the datasets,
  read-only, plus the folders it may write; a private ``/tmp``; its own PID namespace and
  ``/proc``; its own network namespace with only loopback (Jupyter's kernel talks to its
  client over loopback);
- an unprivileged user (``nobody``) when started as root, so student code can write only
  to the folders it is given; without bubblewrap, the same promises rest on permissions
  (see :func:`sandbox_plan`), and a Python that ``nobody`` cannot reach is refused;
- its own memory and process-count cgroup (cgroup v1 or v2), so a memory bomb or a fork
  loop is stopped by the kernel and counted; and, where asked (``Limits.cpus``), a CPU quota
  in the same group, as a container's CPU limit.

Where cgroups are unavailable, memory is watched by polling instead (a fast enough bomb can
outrun a poll; the OOM killer is then the backstop). A wall-clock timeout always applies,
and on any exit every process the command started is killed, the kernel's included: Jupyter
starts kernels in a session of their own, out of reach of a process-group kill.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import psutil

CGROUP_ROOT = Path("/sys/fs/cgroup")
POLL_SECONDS = 0.1
NOBODY = 65534
CPU_PERIOD_US = 100_000  # the kernel's default period for a cgroup's CPU quota
SYSTEM_FOLDERS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")


class SandboxUnavailable(RuntimeError):
    """Student code cannot be run safely here; the message names the path and the fix."""


@dataclass(frozen=True)
class Limits:
    timeout: float                    # wall-clock seconds
    memory_mb: int | None = 2048      # the whole process tree: a cgroup limit, else polled private memory
    max_processes: int | None = 128   # processes and threads of the whole tree
    max_output_bytes: int = 200_000   # stdout+stderr kept; the rest is counted, not stored
    threads: int = 1                  # BLAS/OpenMP threads the command may use
    isolate_network: bool = True
    drop_privileges: bool = True      # run as nobody when started as root
    allow_root: bool = False          # throwaway machines only: run as root where nobody cannot
    bubblewrap: bool | None = None    # None: use bubblewrap wherever it works; False: permissions alone
    cpus: float | None = None         # CPU time per wall-clock second (0.5: half a CPU), a cgroup cpu quota


@dataclass
class Outcome:
    returncode: int | None
    seconds: float
    timed_out: bool = False
    out_of_memory: bool = False
    interrupted: bool = False          # stopped because the caller asked (Ctrl-C in a batch)
    output: str = ""
    output_bytes: int = 0
    peak_memory_mb: float = 0.0     # private memory of the whole tree, sampled (see _private_kb)
    enforced: list[str] = field(default_factory=list)  # what was really in force
    not_enforced: list[str] = field(default_factory=list)  # promises this machine could not keep

    @property
    def output_truncated(self) -> bool:
        return self.output_bytes > len(self.output.encode(errors="replace"))


@dataclass(frozen=True)
class View:
    """What a sandboxed command may see: folders to read and folders to write. Only
    bubblewrap hides the rest; without it, the rest is as permissions make it."""

    readable: tuple[Path, ...] = ()
    writable: tuple[Path, ...] = ()


class Sandboxed:
    """A command running under ``limits``: talk to it through ``stdin`` and ``stdout``,
    then :meth:`finish`. A watchdog thread ends it at its time or memory limit, or when
    ``stop`` is set; its stderr is kept (capped) as the outcome's output."""

    def __init__(self, command: list[str], *, cwd: Path, env: dict[str, str], limits: Limits,
                 view: View = View(), stop: threading.Event | None = None) -> None:
        self.limits, self.stop = limits, stop
        env = {**env, **thread_env(limits.threads)}
        self.cgroups = Cgroups.create(limits)
        prefix, enforced, not_enforced = sandbox_plan(limits, view)
        enforced = (list(self.cgroups.enforced) if self.cgroups else []) + enforced
        if not self.cgroups:
            not_enforced.append("cgroup limits (memory is polled instead)")
        if "unprivileged user" in enforced:
            for folder in view.writable:
                _give_to_nobody(folder)
        if self.cgroups:
            prefix = self.cgroups.joined(prefix)
        self.start = time.monotonic()
        self.process = subprocess.Popen(prefix + command, cwd=cwd, env=env, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        self.stdin, self.stdout = self.process.stdin, self.process.stdout
        self.reader = _CappedReader(self.process.stderr, limits.max_output_bytes)
        self.outcome = Outcome(returncode=None, seconds=0.0, enforced=enforced, not_enforced=not_enforced)
        self.seen: dict[int, psutil.Process] = {}
        self.ended = threading.Event()
        self.watchdog = threading.Thread(target=self._watch, daemon=True)
        self.watchdog.start()

    def _watch(self) -> None:
        outcome, limits = self.outcome, self.limits
        while self.process.poll() is None and not self.ended.is_set():
            memory = _tree_memory_mb(self.process.pid, self.seen)
            outcome.peak_memory_mb = max(outcome.peak_memory_mb, memory)
            if time.monotonic() - self.start > limits.timeout:
                outcome.timed_out = True
                break
            if limits.memory_mb and not self.cgroups and memory > limits.memory_mb:
                outcome.out_of_memory = True
                break
            if self.stop is not None and self.stop.is_set():
                outcome.interrupted = True
                break
            time.sleep(POLL_SECONDS)
        if self.process.poll() is None:
            self._kill()

    def _kill(self) -> None:
        _kill_everything(self.process, self.seen, self.cgroups)

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


def sandbox_plan(limits: Limits, view: View) -> tuple[list[str], list[str], list[str]]:
    """The command prefix that confines a command, what it enforces, and what it cannot.

    Raises :class:`SandboxUnavailable` where the command would run as root although the
    grader asked for an unprivileged user, unless ``limits.allow_root``.
    """
    enforced: list[str] = []
    not_enforced: list[str] = []
    prefix: list[str] = []
    as_nobody = limits.drop_privileges and can_drop_privileges()
    bubblewrap = uses_bubblewrap(limits)
    if as_nobody and not bubblewrap:
        unreachable = [p for p in (*_python_folders(), *view.readable) if not readable_by_everyone(p)]
        if unreachable and not limits.allow_root:
            raise SandboxUnavailable(
                f"student code would run as root: the unprivileged user cannot reach {unreachable[0]}. "
                f"Install bubblewrap (apt-get install bubblewrap), or make that path readable by all "
                f"(every parent folder searchable), or grade on a throwaway machine with --allow-root.")
        as_nobody = not unreachable
    if as_nobody:
        prefix = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]
        enforced.append("unprivileged user")
    elif os.geteuid() == 0:
        not_enforced.append("unprivileged user: student code runs as ROOT (--allow-root)")
    else:
        not_enforced.append("a user of its own: student code runs as the grader's user")
    if bubblewrap:
        prefix = _bubblewrap_command(view, limits.isolate_network) + prefix
        enforced += ["mount namespace", "pid namespace"] + (["network namespace"] if limits.isolate_network else [])
    else:
        not_enforced.append("mount and pid namespaces (bubblewrap unavailable): files are guarded by permissions")
        if limits.isolate_network and network_namespace_supported():
            prefix = ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *prefix]
            enforced.append("network namespace")
        elif limits.isolate_network:
            not_enforced.append("network isolation")
    return prefix, enforced, not_enforced


def _bubblewrap_command(view: View, isolate_network: bool) -> list[str]:
    command = ["bwrap", "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    if isolate_network:
        command.append("--unshare-net")
    for folder in SYSTEM_FOLDERS:
        command += ["--ro-bind-try", folder, folder]
    command += ["--tmpfs", "/tmp", "--proc", "/proc", "--dev", "/dev"]
    made: set[Path] = {Path("/"), Path("/tmp")}
    binds = [("--ro-bind", p.resolve()) for p in [*_python_folders(), *view.readable]]
    binds += [("--bind", p.resolve()) for p in view.writable]
    for option, path in binds:
        # bubblewrap makes missing parent folders closed (0700); make them passable instead.
        for parent in reversed(path.parents):
            if parent not in made and not any(str(parent) == f or str(parent).startswith(f + "/") for f in SYSTEM_FOLDERS):
                command += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
        command += [option, str(path), str(path)]
        made.add(path)
    return command + ["--"]


def _python_folders() -> list[Path]:
    """The interpreter, its standard library, the environment's packages (every folder on
    the module path, those that .pth files add included) and the toolkit."""
    import dlcourse

    folders = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(),
               Path(sys.executable).resolve().parent, Path(dlcourse.__file__).resolve().parent}
    folders |= {Path(p).resolve() for p in sys.path if p and Path(p).is_dir()}
    # Nested folders are covered by their parents' binds.
    return sorted(f for f in folders if not any(p != f and p in f.parents for p in folders))


def uses_bubblewrap(limits: Limits) -> bool:
    return limits.bubblewrap is not False and bubblewrap_works(limits.isolate_network)


@functools.lru_cache(maxsize=2)
def bubblewrap_works(isolate_network: bool = True) -> bool:
    """Whether a bubblewrap sandbox starts here (it needs namespaces: root, or unprivileged
    user namespaces; container runtimes often refuse them)."""
    if not shutil.which("bwrap"):
        return False
    try:
        probe = subprocess.run(_bubblewrap_command(View(), isolate_network) + ["true"], capture_output=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return probe.returncode == 0


def thread_env(threads: int) -> dict[str, str]:
    """Environment that caps the BLAS/OpenMP thread pools, so parallel runs don't oversubscribe."""
    n = str(max(1, threads))
    return {"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n}


@functools.lru_cache(maxsize=1)
def network_namespace_supported() -> bool:
    """Whether ``unshare --net`` with loopback up works here (root, or CAP_SYS_ADMIN)."""
    if not (shutil.which("unshare") and shutil.which("ip")):
        return False
    try:
        probe = subprocess.run(["unshare", "--net", "--", "ip", "link", "set", "lo", "up"],
                               capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return probe.returncode == 0


@functools.lru_cache(maxsize=1)
def cgroups_available() -> bool:
    """Whether runs here get kernel-enforced memory and process limits."""
    probe = Cgroups.create(Limits(timeout=1))
    if probe is None:
        return False
    probe.remove()
    return True


def can_drop_privileges() -> bool:
    return os.geteuid() == 0 and shutil.which("setpriv") is not None


def readable_by_everyone(path: Path) -> bool:
    """Whether an unprivileged user can reach ``path`` (every parent searchable, it readable)."""
    path = path.resolve()
    try:
        if not path.stat().st_mode & 0o004:
            return False
        return all(parent.stat().st_mode & 0o001 for parent in path.parents)
    except OSError:
        return False


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


def _give_to_nobody(folder: Path) -> None:
    """Hand ``folder`` to nobody (its parents must already be searchable by everyone)."""
    for path in (folder, *folder.rglob("*")):
        os.chown(path, NOBODY, NOBODY, follow_symlinks=False)


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
        name = f"dlcourse-{uuid.uuid4().hex[:12]}"
        try:
            if (CGROUP_ROOT / "cgroup.controllers").is_file():
                return cls._create_v2(name, limits)
            return cls._create_v1(name, limits)
        except OSError:
            return None

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
        for _ in range(50):
            remaining = self.pids()
            if not remaining:
                return
            for pid in remaining:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)

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
