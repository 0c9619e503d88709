"""The rows the reader produces and everything downstream consumes (the gradebook, the roster,
the late policy, shards, Dask): who submitted (:class:`Student`), one submission to grade
(:class:`Entry`), something in INPUT that is not one (:class:`SetAside`), and the lot
(:class:`Discovery`). Plain data, importing nothing of the package, so that the layouts that
build them and :mod:`dlcourse.grading.inputs` (where other code imports them from) never
import each other.
"""

from __future__ import annotations

import hashlib
import re
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
