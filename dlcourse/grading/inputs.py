"""Find the submissions in what an instructor points the grader at.

INPUT may be one submission (a notebook, a zip, or a student's unzipped folder: a folder
holding one notebook and no zip), a folder of them (loose files, or one subfolder per student,
whatever its own subfolders), or a Gradescope "Export Submissions" download, whose
``submission_metadata.yml`` maps each ``submission_<id>`` folder to its students. What one
submission is, is :func:`.submission.read_submission`'s to say.
Every file is accounted for: what is not a submission is listed as skipped. Symbolic links
are never followed: a link placed among submissions could point at anything on the machine.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .submission import holds_submission, is_submission_file

GRADESCOPE_METADATA = "submission_metadata.yml"
IGNORED_NAMES = {".DS_Store", "Thumbs.db", GRADESCOPE_METADATA}
NOT_A_SUBMISSION = "not a submission (a notebook, a zip or a folder with a notebook)"


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


def discover(target: Path) -> Discovery:
    target = target.resolve()
    if target.is_file():
        return Discovery([_loose_entry(target, target.parent)], [])
    if (target / GRADESCOPE_METADATA).is_file():
        return _gradescope_export(target)
    if _one_student_folder(target):
        return Discovery([Entry(target, target.name, [Student(target.name)], _mtime(target))], [])
    entries, skipped = [], []
    for path in sorted(target.iterdir()):
        if path.name in IGNORED_NAMES:
            continue
        if path.is_symlink():
            skipped.append(SetAside(path.name, "a link: not followed"))
        elif path.is_dir():
            if holds_submission(path):
                entries.append(Entry(path, path.name, [Student(path.name)], _mtime(path)))
            else:
                skipped += [SetAside(p.relative_to(target).as_posix(), NOT_A_SUBMISSION) for p in path.rglob("*") if p.is_file()]
        elif is_submission_file(path):
            entries.append(_loose_entry(path, target))
        else:
            skipped.append(SetAside(path.name, NOT_A_SUBMISSION))
    return Discovery(entries, skipped)


def content_hash(path: Path) -> str:
    """SHA-256 of a file, or of a folder's file names and contents."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        if file != path:
            digest.update(file.relative_to(path).as_posix().encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def _one_student_folder(folder: Path) -> bool:
    """A student's folder given as INPUT: exactly one notebook directly in it and no zip (a
    folder of students' notebooks holds several; the files beside the notebook are its own)."""
    files = [p for p in folder.iterdir() if p.is_file() and not p.is_symlink()]
    notebooks = [p for p in files if p.suffix.lower() == ".ipynb"]
    return len(notebooks) == 1 and not any(p.suffix.lower() == ".zip" for p in files)


def _loose_entry(path: Path, root: Path) -> Entry:
    return Entry(path, path.relative_to(root).as_posix(), [Student(path.stem)], _mtime(path))


def _gradescope_export(target: Path) -> Discovery:
    """Gradescope's export: ``submission_<id>/`` folders plus metadata naming their submitters."""
    metadata = yaml.safe_load((target / GRADESCOPE_METADATA).read_text()) or {}
    entries, skipped, known = [], [], set()
    for folder_name, info in sorted(metadata.items()):
        folder = target / folder_name
        known.add(folder_name)
        info = info or {}
        students = [Student(key=str(s.get(":sid") or s.get(":email") or s.get(":name") or folder_name),
                            name=str(s.get(":name", "")), email=str(s.get(":email", "")), sid=str(s.get(":sid", "")))
                    for s in info.get(":submitters", [])]
        if folder.is_dir() and not folder.is_symlink():
            entries.append(Entry(folder, folder_name, students or [Student(folder_name)],
                                 str(info.get(":created_at", ""))))
    for path in sorted(target.iterdir()):
        if path.name not in known and path.name not in IGNORED_NAMES:
            skipped += [SetAside(p.relative_to(target).as_posix(), "not listed in the export's metadata")
                        for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file()]
    return Discovery(entries, skipped)


def _mtime(path: Path) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.timezone.utc).isoformat(timespec="seconds")
