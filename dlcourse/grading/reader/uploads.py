"""A folder of uploads read entry by entry: what every input layout builds on (:mod:`.layouts`,
:mod:`.lms`). A layout is a :class:`Layout`; each top-level entry that is no platform's own
file becomes a student's row or is set aside with why (:func:`classify`). Nothing is followed
or opened but folders.
"""

from __future__ import annotations

import datetime
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .entries import Discovery, Entry, SetAside, Student
from .files import (SubmissionProblem, archive_kind, canonical, display, ignored, is_notebook, is_weights,
                    kind_of_mode, stem_of, upload_problem, walk)


@dataclass(frozen=True)
class Layout:
    name: str
    title: str                                   # what it is, for --help and docs/inputs.md
    detect: Callable[[list[str]], bool]          # from INPUT's top-level names
    read: Callable[[Path], Discovery]


def top_names(folder: Path) -> list[str]:
    try:
        return sorted(os.listdir(folder))
    except OSError:
        return []


def mtime(path: Path) -> str:
    stamp = os.lstat(path).st_mtime
    return datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc).isoformat(timespec="seconds")


def loose_entry(path: Path, root: Path, layout: str, problem: tuple[str, str] | None = None) -> Entry:
    label = display(os.fsdecode(path.relative_to(root).as_posix()))
    return Entry(path, label, [Student(display(stem_of(os.fsdecode(path.name))))], mtime(path), layout=layout,
                 problem=problem)


def classify(root: Path, path: Path, layout: str = "plain") -> Entry | SetAside:
    """One top-level entry of a folder of uploads: a student's row (to grade, or with the
    problem that stops it), or set aside with why. Nothing is followed or opened but folders."""
    name = display(os.fsdecode(path.name))
    mode = os.lstat(path).st_mode
    if ignored((path.name,)):
        return SetAside(name, "a hidden or system file: not a submission")
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        return SetAside(name, kind_of_mode(mode))
    if stat.S_ISREG(mode):
        if is_notebook(path.name) or archive_kind(path.name):
            return loose_entry(path, root, layout)
        problem = upload_problem(path.name)
        if problem:
            return loose_entry(path, root, layout, problem)
        return SetAside(name, f"not a submission (a notebook, an archive or a student's folder): "
                              f"{'a ' + path.suffix.lower() + ' file' if path.suffix else 'a file without a suffix'}")
    entry = Entry(path, name, [Student(name)], mtime(path), layout=layout)
    try:
        found, _passed = walk(path)
    except SubmissionProblem as problem:
        entry.problem = (problem.status, problem.reason)
        return entry
    if any(is_notebook(r) or archive_kind(r) for r, _ in found):
        return entry
    uploads = [r for r, _ in found if is_weights(r) or upload_problem(r)]
    if uploads:
        entry.problem = ("invalid-notebook", f"the folder holds no notebook (.ipynb); it holds "
                                             f"{', '.join(map(display, uploads[:3]))}")
        return entry
    return SetAside(name + "/", "an empty folder" if not found else
                    f"a folder without a notebook, an archive or weights ({len(found)} other files)")


def pair_loose_weights(notebooks: list[str], weights: list[str]) -> dict[str, str]:
    """Loose weights files of a class folder -> the notebook of the same student, as Canvas's
    layout pairs them: by the prefix before the lesson's file names (``alice_dense-mnist.ipynb``,
    ``alice_dense_mnist.pt``). A notebook's prefix is its name less what all the notebooks' names
    end with; a weights file goes with the notebook whose prefix starts its name, the longest one,
    and only when exactly one notebook has it (no guess between two students)."""
    stems = {n: canonical(stem_of(n)).split("_") for n in notebooks}
    if len(stems) < 2:
        return {}
    shared = 0   # how many trailing parts every notebook's name ends with (the lesson's name)
    while all(len(parts) > shared + 1 for parts in stems.values()) and \
            len({tuple(parts[len(parts) - shared - 1:]) for parts in stems.values()}) == 1:
        shared += 1
    prefixes = {n: "_".join(parts[:len(parts) - shared]) for n, parts in stems.items()}
    pairs: dict[str, str] = {}
    for name in weights:
        have = canonical(PurePosixPath(name).stem)
        fits = [(len(p), n) for n, p in prefixes.items() if p and (have == p or have.startswith(p + "_"))]
        best = max(fits, default=None)
        if best and sum(1 for length, _ in fits if length == best[0]) == 1:
            pairs[name] = best[1]
    return pairs
