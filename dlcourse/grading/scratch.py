"""Where a grader process keeps its scratch folders, and the sweep of those a killed one left.

Every grader process (``dlcourse grade``, a Dask worker) makes its scratch folders (the judge's
folders with the hidden tests, the judge's home, the sandbox's run folders, an unpacked class
download) inside one folder of its own in the temporary folder, ``dlcourse-gRANDOM``, ``0711``
(the sandbox's user may pass through to its run folder, not list what is there). Its file
``owner`` records the process's owner tag (sandbox.owners: boot, pid namespace, pid, start
time). The names are short: a run's kernel sockets live below them, in a path of at most 107
bytes (execute.kernel_manager).

A process removes each scratch folder when done with it, and its own folder at exit; one killed
with SIGKILL does neither. So before a process makes its folder it sweeps: first the cgroups of
gone judges (sandbox.cgroups: what their runs still execute is killed), then the temporary
folder, where each ``dlcourse-g*`` folder that is a real folder (not a link) owned by this user,
whose ``owner`` (read without following a link) names a gone owner, is removed with
:func:`.sandbox.remove_tree` (never follows a link, whatever the run left inside), its record
last, so that a removal stopped part way is taken up by the next sweep. A live grader's folder,
another user's, machine's or container's, one without a record, and everything named otherwise
are never touched; nor is anything in a temporary folder where another user may rename entries
(one not owned by root or this user, or group- or world-writable without the sticky bit).
"""

from __future__ import annotations

import atexit
import os
import re
import stat
import tempfile
import threading
from pathlib import Path

from .sandbox import remove_tree
from .sandbox.cgroups import sweep_gone_owners as sweep_cgroups
from .sandbox.owners import OWNER, owner_gone, owner_tag

PREFIX = "dlcourse-g"
FOLDER_NAME = re.compile(rf"{PREFIX}[a-z0-9_]{{8}}")   # tempfile.mkdtemp's random part
OWNER_FILE = "owner"
_ROOTS: dict[tuple[int, str], Path] = {}   # (pid, temporary folder) -> this process's folder there
_LOCK = threading.Lock()                   # a batch's threads ask at once


def scratch_folder(prefix: str) -> Path:
    """A new private folder (``0700``) for one use, in this process's folder."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=scratch_root()))


def scratch_root() -> Path:
    """This process's folder in the temporary folder, made at first use after a sweep of what
    gone graders left there (keyed by pid too: a forked child makes its own)."""
    base = tempfile.gettempdir()
    key = (os.getpid(), base)
    with _LOCK:
        if key not in _ROOTS or not _ROOTS[key].is_dir():   # or removed meanwhile (a cleaner of old files)
            sweep_cgroups()   # first: what a gone judge's runs still execute stops writing into what is swept
            sweep(Path(base))
            folder = Path(tempfile.mkdtemp(prefix=PREFIX, dir=base))   # made new: no one else's
            (folder / OWNER_FILE).write_text(owner_tag())
            os.chmod(folder, 0o711)
            _ROOTS[key] = folder
            atexit.register(_remove_own, folder, os.getpid())
        return _ROOTS[key]


def sweep(base: Path) -> None:
    """Remove the folders in ``base`` that gone graders left (see the module docstring)."""
    try:
        info = base.stat()
        entries = list(os.scandir(base))
    except OSError:
        return
    if info.st_uid not in (0, os.geteuid()) or (info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
                                                 and not info.st_mode & stat.S_ISVTX):
        return   # someone else may rename what is in it: a folder checked here could be another when removed
    for entry in entries:
        if not FOLDER_NAME.fullmatch(entry.name):
            continue
        try:
            owner = recorded_owner(Path(entry.path))
            if owner is not None and owner_gone(owner):
                _remove_record_last(Path(entry.path))
        except OSError:
            pass   # a dying grader's sandbox may still be leaving it: its record stays, the next sweep goes on


def _remove_record_last(folder: Path) -> None:
    """Remove a gone grader's ``folder``, its ``owner`` record last: a removal stopped part way
    leaves a folder that the next sweep still recognises."""
    for entry in os.scandir(folder):
        if entry.name != OWNER_FILE:
            remove_tree(Path(entry.path))
    (folder / OWNER_FILE).unlink()
    folder.rmdir()


def recorded_owner(folder: Path) -> re.Match | None:
    """The owner ``folder`` records, where it is a folder (not a link) of this user whose record
    is a file of this user; else None. Raises OSError where it cannot be read."""
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        if os.fstat(descriptor).st_uid != os.geteuid():
            return None
        with open(os.open(OWNER_FILE, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=descriptor), errors="replace") as record:
            if os.fstat(record.fileno()).st_uid != os.geteuid():
                return None
            return re.fullmatch(OWNER, record.read(200).strip())
    except FileNotFoundError:
        return None   # killed between making the folder and writing its record: an empty folder stays
    finally:
        os.close(descriptor)


def _remove_own(folder: Path, pid: int) -> None:
    """At exit: this process's folder (not in a forked child, whose exit runs its parent's handlers)."""
    if os.getpid() == pid:
        try:
            remove_tree(folder)
        except OSError:
            pass
