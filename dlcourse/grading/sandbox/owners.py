"""Which process made a cgroup (written into its name) or a grader's scratch folder (into a file
in it), so that what a killed process left (SIGKILL runs no cleanup) can be told from what a
live one still holds.

An owner tag is ``BOOT-NS-PID-START``: this machine's boot id (its first 12 digits), the process's pid namespace,
its pid and its start time (clock ticks since boot, as the kernel counts them: a later
process given the same pid has another). An owner is gone only when the tag names this boot
and this pid namespace, and no process with that pid started at that time runs now. A tag of
another machine (a temporary folder on a shared file system), of an earlier boot, or of another
pid namespace (a container sharing the folder) is never taken for gone: its owner may live.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

OWNER = r"(?P<boot>[0-9a-f]{12})-(?P<ns>\d+)-(?P<pid>\d+)-(?P<start>\d+)"


@functools.cache
def _here() -> tuple[str, str] | None:
    """This machine's boot id and this process's pid namespace, or None where /proc does not
    say (not Linux): then no owner is ever taken for gone."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")[:12]  # ample to tell machines apart
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None
    return boot, str(namespace)


def _started(pid: int) -> str | None:
    """When process ``pid`` started (field 22 of /proc/PID/stat), or None if there is none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]   # after the command's name, which may hold spaces and ')'


def owner_tag() -> str:
    """This process's owner tag (see the module docstring)."""
    boot, namespace = _here() or ("0" * 12, "0")
    pid = os.getpid()
    return f"{boot}-{namespace}-{pid}-{_started(pid) or 0}"


def owner_gone(found: re.Match) -> bool:
    """Whether the owner a match of :data:`OWNER` names has surely ended (see the module docstring)."""
    here = _here()
    if here is None or (found["boot"], found["ns"]) != here:
        return False
    return _started(int(found["pid"])) != found["start"]
