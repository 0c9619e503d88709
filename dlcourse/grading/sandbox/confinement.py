"""Ways of confining a command, one class each, chosen by name (``--sandbox``).

A confinement turns a command into one that runs confined, and says what it enforced and what
it could not (:class:`Plan`). Every one of them runs student code as a user other than the
grader's when the grader is root, and refuses (:class:`SandboxUnavailable`) where student code
would run as the grader's own user or as root, unless ``Limits.allow_root`` accepts it (every
row then says so). Adding a way (nsjail, Podman, Landlock) is one more subclass in
:data:`CONFINEMENTS`.

- :class:`Bubblewrap`: a mount namespace that shows only the system's programs, the Python
  installation, the toolkit and the datasets read-only, plus the folders the run may write; a
  private ``/tmp`` (memory, bounded by the run's memory limit); its own PID namespace and
  ``/proc``; a network namespace with only loopback. Inside, a user id of the run's own.
- :class:`Permissions`: no namespace but the network's; a user id of the run's own, so files
  are guarded by permissions alone:
  the grader's folders are ``0700``, and whatever is world-readable on the machine is readable.
"""

from __future__ import annotations

import functools
import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from .limits import Limits, SandboxUnavailable, View
from .syscalls import filter_file

# Users of a run's own: far above any account a system hands out, drawn at random per run so
# that two graders on one machine do not share one either. Two runs with one user would share
# what the kernel counts per user (processes, inotify instances, pipe buffers) and could signal,
# trace or read each other where no namespace parts them.
RUN_UID_BASE, RUN_UID_SPAN = 1_800_000_000, 100_000_000
# Where the grader's user namespace maps fewer ids (rootless and userns-remapped containers map
# 65,536): the top of that range, above the accounts systems hand out, below nobody (65534).
NARROW_RUN_UIDS = range(60_001, 65_534)
SYSTEM_FOLDERS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
TMP_MB = 512  # the private /tmp of a bubblewrap run (a tmpfs: memory, charged to the run's cgroup)


@dataclass
class Plan:
    """How one command runs confined: a command prefix, the user its folders are handed to,
    and what was (and was not) enforced."""

    prefix: list[str] = field(default_factory=list)
    uid: int | None = None                # the user student code runs as, if not the grader's
    enforced: list[str] = field(default_factory=list)
    not_enforced: list[str] = field(default_factory=list)
    reaches_grader: bool = True           # student code can read and write the grader's own files
    pass_fds: list[int] = field(default_factory=list)   # descriptors the command reads at its start (the starter closes them)


class Confinement:
    """One way of confining a command (see the module docstring)."""

    name: ClassVar[str]

    def available(self, limits: Limits) -> bool:
        raise NotImplementedError

    def plan(self, limits: Limits, view: View) -> Plan:
        raise NotImplementedError


class Bubblewrap(Confinement):
    name = "bubblewrap"

    def available(self, limits: Limits) -> bool:
        return bubblewrap_works(limits.isolate_network)

    def plan(self, limits: Limits, view: View) -> Plan:
        plan = Plan(reaches_grader=False)
        if can_drop_privileges():
            plan.uid = run_uid()
            plan.enforced += ["unprivileged user", "a user of its own"]
        else:  # not root: the mount namespace hides the grader's files from its own user
            plan.not_enforced.append("a user of its own: student code runs as the grader's user, "
                                     "in a mount namespace that hides the grader's files")
        seccomp = filter_file() if seccomp_works(limits.isolate_network) else None
        if seccomp is not None:
            plan.pass_fds.append(seccomp)
            plan.enforced.append("no disk reserved unwritten (seccomp)")
        else:  # a run may then pass its disk limit many times over between two polls (syscalls.py)
            plan.not_enforced.append("a refusal of fallocate (no seccomp filter here: libseccomp is not "
                                     "installed, or the kernel refuses filters)")
        plan.prefix = _bubblewrap_command(view, limits.isolate_network, seccomp) + _as_user(plan.uid)
        plan.enforced += ["mount namespace", "pid namespace"] + (["network namespace"] if limits.isolate_network else [])
        return plan


class Permissions(Confinement):
    name = "permissions"

    def available(self, limits: Limits) -> bool:
        return True

    def plan(self, limits: Limits, view: View) -> Plan:
        plan = Plan()
        plan.not_enforced.append("mount and pid namespaces (bubblewrap unavailable): files are guarded by permissions")
        plan.not_enforced.append("a refusal of fallocate (bubblewrap unavailable): the disk limit is only polled")
        if can_drop_privileges():
            unreachable = [p for p in (*python_folders(), *view.readable) if not readable_by_everyone(p)]
            if not unreachable:
                plan.uid = run_uid()
                plan.reaches_grader = False
                plan.enforced += ["unprivileged user", "a user of its own"]
            elif not limits.allow_root:
                raise SandboxUnavailable(
                    f"student code would run as root: the unprivileged user cannot reach {unreachable[0]}. "
                    f"Install bubblewrap (apt-get install bubblewrap), or make that path readable by all "
                    f"(every parent folder searchable), or grade on a throwaway machine with --allow-root.")
            else:
                plan.not_enforced.append("unprivileged user: student code runs as ROOT (--allow-root)")
        elif not limits.allow_root:
            who = "root" if os.geteuid() == 0 else f"your own user (uid {os.geteuid()})"
            raise SandboxUnavailable(
                f"student code would run as {who}, able to read the judge's folder and write the results: "
                f"install bubblewrap (apt-get install bubblewrap) where user namespaces are allowed, or grade "
                f"as root, or accept it on a throwaway machine with --allow-root.")
        else:
            plan.not_enforced.append("a user of its own: student code runs as the grader's user (--allow-root)")
        plan.prefix = _as_user(plan.uid)
        if limits.isolate_network and network_namespace_supported():
            plan.prefix = ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *plan.prefix]
            plan.enforced.append("network namespace")
        elif limits.isolate_network:
            plan.not_enforced.append("network isolation")
        return plan


CONFINEMENTS: dict[str, type[Confinement]] = {c.name: c for c in (Bubblewrap, Permissions)}


def choose(name: str, limits: Limits) -> Confinement:
    """The confinement called ``name``, or for ``"auto"`` the first of :data:`CONFINEMENTS`
    that works here. :class:`SandboxUnavailable` if a named one does not work here."""
    if name == "auto":
        return next(c() for c in CONFINEMENTS.values() if c().available(limits))
    if name not in CONFINEMENTS:
        raise SandboxUnavailable(f"no sandbox called {name!r}: choose one of auto, {', '.join(CONFINEMENTS)}")
    confinement = CONFINEMENTS[name]()
    if not confinement.available(limits):
        raise SandboxUnavailable(f"the {name} sandbox does not start on this machine "
                                 f"(bubblewrap needs root or unprivileged user namespaces): choose --sandbox auto")
    return confinement


def plan_for(limits: Limits, view: View = View()) -> Plan:
    """The plan of the confinement ``limits`` names; :class:`SandboxUnavailable` where student
    code would run unconfined and ``limits`` does not accept it."""
    return choose(limits.confinement, limits).plan(limits, view)


def run_uid(uid_map: str | None = None) -> int:
    """A user id for one run alone (no account: notebooks must not need one, see sandbox_env),
    drawn from the ids this user namespace maps (``uid_map``: /proc/self/uid_map's text): an id
    outside the map can own no file (EINVAL). :class:`SandboxUnavailable` where it maps too few."""
    if uid_map is None:
        uid_map = Path("/proc/self/uid_map").read_text()
    mapped = [range(int(inside), int(inside) + int(count)) for inside, _, count in (line.split() for line in uid_map.splitlines())]
    for ids in (range(RUN_UID_BASE, RUN_UID_BASE + RUN_UID_SPAN), NARROW_RUN_UIDS):
        if any(ids.start in m and ids[-1] in m for m in mapped):
            return ids[secrets.randbelow(len(ids))]
    raise SandboxUnavailable(f"no user id for student code: this user namespace maps only {uid_map.strip()!r} "
                             f"(/proc/self/uid_map): map at least ids 0 to 65535 to the grader")


def _as_user(uid: int | None) -> list[str]:
    if uid is None:
        return []
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]


def _bubblewrap_command(view: View, isolate_network: bool, seccomp: int | None = None) -> list[str]:
    command = ["bwrap", "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    if isolate_network:
        command.append("--unshare-net")
    if seccomp is not None:
        command += ["--seccomp", str(seccomp)]
    for folder in SYSTEM_FOLDERS:
        command += ["--ro-bind-try", folder, folder]
    # /tmp as on any machine (1777): a notebook that saves a checkpoint there must not fail only when graded
    command += ["--size", str(TMP_MB * 2**20), "--perms", "1777", "--tmpfs", "/tmp", "--proc", "/proc", "--dev", "/dev"]
    made: set[Path] = {Path("/"), Path("/tmp")}
    binds = [("--ro-bind", p.resolve()) for p in [*python_folders(), *view.readable]]
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


def python_folders() -> list[Path]:
    """The interpreter, its standard library, the environment's packages (every folder on
    the module path, those that .pth files add included) and the toolkit."""
    import dlcourse

    folders = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(),
               Path(sys.executable).resolve().parent, Path(dlcourse.__file__).resolve().parent}
    folders |= {Path(p).resolve() for p in sys.path if p and Path(p).is_dir()}
    # Nested folders are covered by their parents' binds.
    return sorted(f for f in folders if not any(p != f and p in f.parents for p in folders))


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


@functools.lru_cache(maxsize=2)
def seccomp_works(isolate_network: bool = True) -> bool:
    """Whether bubblewrap loads the filter of syscalls.py here: without libseccomp there is
    none, and a kernel built without seccomp filters would make bubblewrap refuse every run."""
    fd = filter_file()
    if fd is None:
        return False
    try:
        probe = subprocess.run(_bubblewrap_command(View(), isolate_network, fd) + ["true"], capture_output=True,
                               timeout=20, pass_fds=(fd,))
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        os.close(fd)
    return probe.returncode == 0


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
