"""Find the submissions in what an instructor points the grader at: a row per student.

INPUT may be one submission (a notebook, an archive, or a student's unzipped folder: see
:func:`.reader.uploads.one_student`), a folder of them, or a platform's download (Gradescope,
Canvas, Moodle, Blackboard; folder or zip, or either wrapped in a folder). The layouts, detected or named (``--layout``), are
in :mod:`.reader.layouts`; what one submission is, is :func:`.submission.read_submission`'s to
say. Every top-level entry of INPUT is either a student's row (graded, or with the problem that
stops it: "a .rar archive: submit a zip") or set aside with why. Nothing but regular files and
folders is opened: a link, a FIFO or a device in INPUT is listed, never followed or read.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from .reader.entries import Discovery, Entry, SetAside, Student
from .reader.files import stem_of
from .reader.layouts import discover as read_layout

__all__ = ["Discovery", "Entry", "SetAside", "Student", "content_hash", "discover", "notebook_names"]   # the rows: the reader's seam


def discover(target: Path, layout: str | None = None, lesson_files: Sequence[str] = ()) -> Discovery:
    """The entries of ``target``, read with ``layout`` (None or ``auto``: detected); see
    :mod:`.reader.layouts` for the names. ``lesson_files``: the lesson's notebook and weights
    names (:func:`.preflight.lesson_files`), by which a loose upload's name says its student."""
    return read_layout(target, layout, lesson_files)


NOTEBOOKS = "notebooks"   # OUT's folder of the executed notebooks, named by notebook_names


def notebook_names(entries: Sequence[Entry]) -> dict[str, str]:
    """Entry key -> the file its executed notebook is saved as in OUT/notebooks: the submission's
    stem (``alice.zip`` -> ``alice.ipynb``); where entries share a stem (compared case-folded), as
    ``alice.zip`` and ``alice.ipynb`` may, each but a suffixless one (a folder ``alice``) keeps its
    suffix in brackets (``alice (zip).ipynb``, ``alice (ipynb).ipynb``). Names that only case keeps
    apart (``alice (ipynb)`` and ``ALICE (ipynb)``, folders ``alice`` and ``ALICE``) are one file on
    macOS and Windows, so each of those also gets a digest of its key (``alice (ipynb-1a2b3c4d5e)``).
    Unique, case ignored too: a key is its stem and its suffix, and no key holds a space or a bracket."""
    split = {entry.key: (stem_of(entry.key), entry.key[len(stem_of(entry.key)):].lstrip(".")) for entry in entries}
    shared = Counter(stem.casefold() for stem, _ in split.values())
    tags = {key: [suffix] if suffix and shared[stem.casefold()] > 1 else [] for key, (stem, suffix) in split.items()}
    names = {key: _named(split[key][0], tags[key]) for key in split}
    folded = Counter(name.casefold() for name in names.values())
    return {key: _named(split[key][0], tags[key] + [hashlib.sha256(key.encode()).hexdigest()[:10]])
            if folded[name.casefold()] > 1 else name for key, name in names.items()}


def _named(stem: str, tags: list[str]) -> str:
    return f"{stem} ({'-'.join(tags)}).ipynb" if tags else f"{stem}.ipynb"


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
