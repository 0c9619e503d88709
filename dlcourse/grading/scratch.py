"""Where a grader process keeps its scratch folders, and the sweep of those a killed one left.

Every grader process (``dlcourse grade``, a Dask worker) makes its scratch folders (the judge's
folders with the hidden tests, the judge's home, the sandbox's run folders, an unpacked class
download) inside one folder of its own in the temporary folder: ``dlcourse-grader-OWNER-RANDOM``,
OWNER its owner tag (sandbox.owners: boot, pid namespace, pid, start time), made ``0711`` (the
sandbox's user may pass through to its run folder, not list what is there).

A process removes each scratch folder when done with it, and its own folder at exit; one killed
with SIGKILL does neither. So before a process makes its folder it sweeps the temporary folder:
every ``dlcourse-grader-*`` folder whose owner is gone, that is a real folder (not a link) owned
by this user, is removed with :func:`.sandbox.remove_tree` (never follows a link, whatever the
run left inside). A live grader's folder, a folder of another user or machine, and everything
not named so are never touched.
"""

from __future__ import annotations

import atexit
import os
import re
import stat
import tempfile
from pathlib import Path

from .sandbox import remove_tree
from .sandbox.owners import OWNER, owner_gone, owner_tag

PREFIX = "dlcourse-grader-"
FOLDER_NAME = re.compile(rf"{PREFIX}{OWNER}-[a-z0-9_]+")
_ROOTS: dict[tuple[int, str], Path] = {}   # (pid, temporary folder) -> this process's folder there


def scratch_folder(prefix: str) -> Path:
    """A new private folder (``0700``) for one use, in this process's folder."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=scratch_root()))


def scratch_root() -> Path:
    """This process's folder in the temporary folder, made at first use after a sweep of what
    gone graders left there (keyed by pid too: a forked child makes its own)."""
    base = tempfile.gettempdir()
    key = (os.getpid(), base)
    if key not in _ROOTS or not _ROOTS[key].is_dir():   # or removed meanwhile (a cleaner of old files)
        sweep(Path(base))
        folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{owner_tag()}-", dir=base))  # made new: no one else's
        os.chmod(folder, 0o711)
        _ROOTS[key] = folder
        atexit.register(_remove_own, folder, os.getpid())
    return _ROOTS[key]


def sweep(base: Path) -> None:
    """Remove the folders in ``base`` that gone graders left (see the module docstring)."""
    try:
        mode = base.stat().st_mode
        entries = list(os.scandir(base))
    except OSError:
        return
    if mode & stat.S_IWOTH and not mode & stat.S_ISVTX:
        return   # anyone may rename what is in it: a folder checked here could be a link when removed
    for entry in entries:
        found = FOLDER_NAME.fullmatch(entry.name)
        if not found or not owner_gone(found):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid():
                remove_tree(Path(entry.path))
        except OSError:
            pass   # a dying grader's sandbox may still be leaving it: the next sweep removes the rest


def _remove_own(folder: Path, pid: int) -> None:
    """At exit: this process's folder (not in a forked child, whose exit runs its parent's handlers)."""
    if os.getpid() == pid:
        try:
            remove_tree(folder)
        except OSError:
            pass
