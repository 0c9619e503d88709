"""Find the submissions in what an instructor points the grader at: a row per student.

INPUT may be one submission (a notebook, an archive, or a student's unzipped folder: a folder
holding one notebook and no archive), a folder of them, or a platform's download (Gradescope,
Canvas, Moodle, Blackboard; folder or zip). The layouts, detected or named (``--layout``), are
in :mod:`.reader.layouts`; what one submission is, is :func:`.submission.read_submission`'s to
say. Every top-level entry of INPUT is either a student's row (graded, or with the problem that
stops it: "a .rar archive: submit a zip") or set aside with why. Nothing but regular files and
folders is opened: a link, a FIFO or a device in INPUT is listed, never followed or read.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Student:
    """Who handed a submission in, as far as the input's layout (or a roster) says."""

    key: str                 # what the gradebook groups by: the LMS user id, sid, email, or the file's stem
    name: str = ""
    email: str = ""
    sid: str = ""            # the student id: Gradescope's SID, or the LMS's user id
    login: str = ""          # the LMS's login or user name, where the platform gives one


@dataclass
class Entry:
    """One submission to grade: one row of the gradebook per student in ``students``."""

    path: Path
    label: str                                  # its path relative to INPUT
    students: list[Student] = field(default_factory=list)
    submitted_at: str = ""                      # ISO 8601: the platform's recorded time, else the file's mtime
    late: bool | None = None                    # the platform's own late mark (Canvas's LATE); None: it has none
    layout: str = ""                            # the input layout that found it (plain, gradescope, canvas...)
    earlier: list[str] = field(default_factory=list)   # labels of the same student's earlier attempts, not graded
    notes: list[str] = field(default_factory=list)     # what the reader did to find it, for the row
    problem: tuple[str, str] | None = None      # (status, reason): an upload that gets a row but cannot be graded
    members: dict[str, Path] = field(default_factory=dict)   # an LMS's flat files of this student: name given -> path

    @property
    def key(self) -> str:
        """A file-name-safe id, stable across runs, for its results and notebook; unique: a label
        that had to be changed (``a b.zip``) gets a hash of itself, so it never meets another's
        (``a_b.zip``)."""
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", self.label).strip("_") or "submission"
        if safe == self.label and not safe.startswith("."):
            return safe
        return f"{safe.lstrip('.') or 'submission'}-{hashlib.sha256(self.label.encode()).hexdigest()[:10]}"



@dataclass(frozen=True)
class SetAside:
    """Something in INPUT that is not a student's row, and why (every entry is one or the other)."""

    name: str                   # relative to INPUT
    reason: str


@dataclass
class Discovery:
    entries: list[Entry]
    set_aside: list[SetAside]   # what is not a submission, each with why


def discover(target: Path, layout: str | None = None) -> Discovery:
    """The entries of ``target``, read with ``layout`` (None or ``auto``: detected); see
    :mod:`.reader.layouts` for the names."""
    from .reader.layouts import discover as read_layout  # the layouts build these rows: imported late

    return read_layout(target, layout)


def content_hash(source: Path | Entry) -> str:
    """SHA-256 of a file, of a folder's file names and contents, or of an entry's files."""
    digest = hashlib.sha256()
    if isinstance(source, Entry) and source.members:
        files = [(name, path) for name, path in sorted(source.members.items())]
    else:
        path = source.path if isinstance(source, Entry) else source
        files = [("", path)] if not path.is_dir() else \
            [(p.relative_to(path).as_posix(), p) for p in sorted(path.rglob("*")) if p.is_file() and not p.is_symlink()]
    for name, file in files:
        digest.update(name.encode("utf-8", "surrogateescape"))
        try:
            with open(file, "rb", opener=_no_follow) as f:
                digest.update(f.read())
        except OSError:
            digest.update(b"\0unreadable")
    return digest.hexdigest()


def _no_follow(path: str, flags: int) -> int:
    """Open a regular file only: never a link, and never block on a FIFO."""
    fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError("not a regular file")
    return fd
