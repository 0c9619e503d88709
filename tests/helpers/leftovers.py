"""What grading left behind: scratch folders in a temporary folder, processes naming them, and
cgroups (kernel_pool's and the leftovers' tests)."""

from __future__ import annotations

from pathlib import Path

import psutil

from dlcourse.grading.sandbox import CGROUP_ROOT
from dlcourse.grading.sandbox.cgroups import GROUP_NAME
from dlcourse.grading.sandbox.owners import owner_gone
from dlcourse.grading.scratch import FOLDER_NAME, recorded_owner


def dlcourse_groups() -> set[Path]:
    return set(CGROUP_ROOT.rglob("dlcourse-*")) if CGROUP_ROOT.is_dir() else set()


def gone_owners_groups() -> set[Path]:
    """Our cgroups (of any grader on this machine) whose owner has ended."""
    return {group for group in dlcourse_groups()
            if (found := GROUP_NAME.fullmatch(group.name)) and owner_gone(found)}


def scratch_left(scratch: Path) -> list[str]:
    """Our folders in ``scratch`` (not torch's caches): a grader's own folder counts only for what
    is in it, or when its owner has ended."""
    left = []
    for path in sorted(scratch.glob("dlcourse-*")):
        owner = recorded_owner(path) if FOLDER_NAME.fullmatch(path.name) else None
        if owner is not None and not owner_gone(owner):
            left += [f"folder {path.name}/{inner.name}" for inner in sorted(path.iterdir()) if inner.name != "owner"]
        else:
            left.append(f"folder {path.name}" + (" (a gone grader's)" if owner else ""))
    return left


def leftovers(scratch: Path, groups_before: set[Path]) -> list[str]:
    """What a batch whose scratch folders were made in ``scratch`` left: our folders there, its
    processes (a runner or kernel names its folder on its command line), and new cgroups that
    are empty or hold one of those (another grader on this machine may hold the others)."""
    ours = set()
    for process in psutil.process_iter(["cmdline"]):
        if any(str(scratch) in part for part in process.info["cmdline"] or []):
            ours.add(process.pid)
    left = scratch_left(scratch) + [f"process {pid}" for pid in sorted(ours)]
    for group in dlcourse_groups() - groups_before:
        try:
            members = {int(pid) for pid in (group / "cgroup.procs").read_text().split()}
        except OSError:
            continue   # removed meanwhile
        if not members or members & ours:
            left.append(f"cgroup {group}")
    return left
