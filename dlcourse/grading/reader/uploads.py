"""A folder of uploads read entry by entry: what every input layout builds on (:mod:`.layouts`,
:mod:`.lms`). A layout is a :class:`Layout`; each top-level entry that is no platform's own
file becomes a student's row or is set aside with why (:func:`classify`). Nothing is followed
or opened but folders.
"""

from __future__ import annotations

import datetime
import os
import re
import stat
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .entries import Discovery, Entry, SetAside, Student
from .files import (COPY_PREFIX, COPY_SUFFIX, SubmissionProblem, archive_kind, canonical, display, ignored, is_notebook,
                    is_weights, kind_of_mode, stem_of, upload_problem, walk)

MAX_LISTED = 20_000   # files listed to tell one student's folder from a class's; past it: a class


@dataclass(frozen=True)
class Layout:
    name: str
    title: str                                   # what it is, for --help and docs/inputs.md
    detect: Callable[[list[str]], bool]          # from INPUT's top-level names
    read: Callable[[Path, Sequence[str]], Discovery]   # INPUT, the lesson's file names (may be none)


def top_names(folder: Path) -> list[str]:
    try:
        return sorted(os.listdir(folder))
    except OSError:
        return []


def mtime(path: Path) -> str:
    stamp = os.lstat(path).st_mtime
    return datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc).isoformat(timespec="seconds")


def loose_entry(path: Path, root: Path, layout: str, problem: tuple[str, str] | None = None,
                lesson_files: Sequence[str] = ()) -> Entry:
    """A file's row; its student is the part of its name beside the lesson's file name, else its stem."""
    label = display(os.fsdecode(path.relative_to(root).as_posix()))
    name = os.fsdecode(path.name)
    student = display(student_part(name, lesson_stems(lesson_files)) or stem_of(name))
    return Entry(path, label, [Student(student)], mtime(path), layout=layout, problem=problem)


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


def tree(folder: Path) -> list[str] | None:
    """The relative paths of ``folder``'s regular files (hidden and ignored ones left out, links
    not followed); None past :data:`MAX_LISTED` (no student's folder is that large)."""
    found: list[str] = []
    for current, folders, files in os.walk(folder):
        base = Path(current).relative_to(folder).parts
        folders[:] = sorted(d for d in folders if not ignored((*base, d)) and not os.path.islink(Path(current, d)))
        found += ["/".join((*base, f)) for f in sorted(files)
                  if not ignored((*base, f)) and stat.S_ISREG(os.lstat(Path(current, f)).st_mode)]
        if len(found) > MAX_LISTED:
            return None
    return found


def one_student(paths: list[str], content: Callable[[str], bytes] | None = None,
                inside: Callable[[str], list[str]] | None = None) -> bool:
    """Whether files at ``paths`` (relative, ``/``-separated) are one student's, not a class's.

    One student's: notebooks at the top that are one notebook (one name less copy marks, and
    byte-identical by ``content`` when several), archives beside them only under that name (the
    notebook's own export: ``Copy of dense-mnist.ipynb`` and ``dense-mnist.zip``) or holding no
    notebook (``data.zip`` of images, listed by ``inside``: the student's data), and no subfolder
    that is a classmate's (:func:`_classmates`); or, with nothing at the top, exactly one
    subfolder holding notebooks and other folders beside it (``notebooks/`` and ``src/``: a
    project's tree). Anything else (several students' notebooks, archives or folders) is a
    class: each entry its own row.
    """
    top = [p for p in paths if "/" not in p]
    notebooks = [p for p in top if is_notebook(p)]
    archives = [p for p in top if archive_kind(p)]
    folders: dict[str, list[str]] = {}
    for path in paths:
        if "/" in path:
            head, rest = path.split("/", 1)
            folders.setdefault(head, []).append(rest)
    if notebooks:
        name = {canonical(stem_of(n)) for n in notebooks}
        if len(name) != 1 or any(canonical(stem_of(a)) not in name and not _holds_no_notebook(a, inside)
                                 for a in archives):   # read only until a classmate's archive is found
            return False
        if len(notebooks) > 1 and (content is None or len({content(n) for n in notebooks}) != 1):
            return False
        return not _classmates(top, folders, content)
    holding = {d for d, inner in folders.items() if any(is_notebook(p) or archive_kind(p) for p in inner)}
    return not archives and len(holding) == 1 and len(folders) > 1


# a subfolder a student keeps a copy of their own work in ("backup", "old", "v2", "Copy of hw")
BACKUP_FOLDER = re.compile(r"^(?:backups?|bak|old|copy|copies|archived?|prev|previous|orig|original|saved?|versions?|"
                           r"v|attempt|draft|sicherung|kopie|copie|sauvegarde)_?\d*$")


def _classmates(top: list[str], folders: dict[str, list[str]], content: Callable[[str], bytes] | None) -> bool:
    """Whether a subfolder beside the top's notebook is another student's: a whole submission
    (a notebook and weights), only archives, or a notebook named as another subfolder's is
    (``alice/dense-mnist.ipynb``, ``bob/dense-mnist.ipynb``: students who forgot their weights).
    A copy of the top's own submission is not (:func:`_a_backup`; of several alike, only those
    whose name says so)."""
    named: dict[str, set[str]] = {}
    for folder, inner in folders.items():
        for path in inner:
            if is_notebook(path):
                named.setdefault(canonical(stem_of(path)), set()).add(folder)
    for folder, inner in folders.items():
        notebooks = [p for p in inner if is_notebook(p)]
        if not notebooks and not any(archive_kind(p) for p in inner):
            continue
        shared = any(len(named[canonical(stem_of(n))]) > 1 for n in notebooks)
        if _a_backup(top, folder, inner, None if shared else content):   # several alike: their names say
            continue
        if shared or notebooks and any(is_weights(p) for p in inner) or all(archive_kind(p) for p in inner):
            return True
    return False


def _a_backup(top: list[str], folder: str, inner: list[str], content: Callable[[str], bytes] | None) -> bool:
    """Whether ``folder`` (its files ``inner``) is a copy of the top's own submission: its
    notebooks have the top's notebook's name (less copy marks), and it says it is a copy (its
    name: ``backup``, ``old``, ``v2``, ``alice - Copy``) or its notebook is byte-identical to the
    top's by ``content`` (a classmate's notebook never is: its outputs and counts are their own;
    weights alone can be: a reference file every test builds from). A classmate's folder of the
    same file names is neither."""
    mine = [p for p in inner if is_notebook(p)]
    if not mine or not {canonical(stem_of(p)) for p in mine} <= {canonical(stem_of(p)) for p in top if is_notebook(p)}:
        return False
    label = folder.lower().strip()
    if BACKUP_FOLDER.match(canonical(folder)) or COPY_SUFFIX.search(label) or COPY_PREFIX.match(label):
        return True
    if content is None:
        return False
    theirs = {content(p) for p in top if is_notebook(p)}
    return any(content(f"{folder}/{p}") in theirs for p in mine)


def _holds_no_notebook(archive: str, inside: Callable[[str], list[str]] | None) -> bool:
    """Whether an archive beside a student's notebook is their data (images, a CSV), not a
    classmate's upload: ``inside`` lists its members, and none is a notebook."""
    return inside is not None and not any(is_notebook(m) for m in inside(archive))


def pair_loose_weights(notebooks: list[str], weights: list[str]) -> dict[str, str]:
    """Loose weights files of a class folder -> the notebook of the same student, as Canvas's
    layout pairs them: by the prefix before the lesson's file names (``alice_dense-mnist.ipynb``,
    ``alice_dense_mnist.pt``). A notebook's prefix is its name less what all the notebooks' names
    end with (a lone notebook's: its whole name, so ``carl.ipynb`` takes ``carl.pt``); a weights
    file goes with the notebook whose prefix starts its name, the longest one, and only when
    exactly one notebook has it (no guess between two students)."""
    stems = {n: canonical(stem_of(n)).split("_") for n in notebooks}
    if not stems:
        return {}
    shared = 0   # how many trailing parts every notebook's name ends with (the lesson's name)
    while len(stems) > 1 and all(len(parts) > shared + 1 for parts in stems.values()) and \
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


SEPARATORS = " _-.\\"   # a backslash: a Windows path unpacked as one name (``alice\\dense-mnist.ipynb``)


def lesson_stems(lesson_files: Sequence[str]) -> set[str]:
    """The lesson's file names (``dense-mnist.ipynb``, ``dense_mnist.pt``) as compared: canonical stems."""
    return {canonical(stem_of(name)) for name in lesson_files} - {""}


def student_part(name: str, stems: Collection[str]) -> str | None:
    """The student's part of an upload's name that holds the lesson's file name after a
    separator (``alice_dense-mnist.ipynb``, ``Bob - dense_mnist (1).pt`` -> ``alice``, ``Bob``) or
    before one (``dense-mnist_carl.zip`` -> ``carl``): the rule :func:`~.files.resembles` reads an
    LMS's prefix by. None for the lesson's name alone or a name without it; ``stems`` as
    :func:`lesson_stems` gives them."""
    stem = stem_of(name)
    while (shorter := COPY_PREFIX.sub("", COPY_SUFFIX.sub("", stem))) != stem and shorter:
        stem = shorter   # Drive's "Copy of " is no student's name
    cuts = [i for i, char in enumerate(stem) if char in SEPARATORS]
    for i in cuts:      # the student first: the longest lesson name after a separator
        before = stem[:i].strip(SEPARATORS)
        if before and canonical(stem[i + 1:]) in stems:
            return before
    for i in reversed(cuts):
        after = stem[i + 1:].strip(SEPARATORS)
        if after and canonical(stem[:i]) in stems:
            return after
    return None


def shared_stem(names: list[str]) -> set[str]:
    """Without the lesson's names: what every one of several uploads' names ends with (at least
    two names, each with more than that), as :func:`lesson_stems` gives it; else nothing."""
    parts = [canonical(stem_of(n)).split("_") for n in names]
    if len(parts) < 2:
        return set()
    shared = 0
    while all(len(p) > shared + 1 for p in parts) and len({tuple(p[len(p) - shared - 1:]) for p in parts}) == 1:
        shared += 1
    return {"_".join(parts[0][len(parts[0]) - shared:])} if shared else set()


def loose_students(names: list[str], lesson_files: Sequence[str] = ()) -> tuple[dict[str, str], dict[str, str]]:
    """Loose uploads of one folder (file names) -> (each name's student, each weights file's
    notebook). A name's student is its part beside the lesson's file name (:func:`student_part`),
    else its stem. A weights file goes with the one notebook of its student, or else with the one
    notebook whose student its name starts with (``alice_model.pt``; the longest such); of a
    student's several notebooks, the one named like the lesson's; never a guess between two.
    Without the lesson's names, files pair by what is beside the end every notebook's and
    archive's name shares, and a student is a file's stem."""
    named = lesson_stems(lesson_files)
    stems = named or shared_stem([n for n in names if is_notebook(n) or archive_kind(n)])
    students = {n: display(student_part(n, named) or stem_of(n)) for n in names}
    owner = {n: canonical(student_part(n, stems) or stem_of(n)) for n in names}   # what files pair by
    notebooks: dict[str, list[str]] = {}
    for name in names:
        if is_notebook(name):
            notebooks.setdefault(owner[name], []).append(name)
    pairs: dict[str, str] = {}
    for name in names:
        if not is_weights(name):
            continue
        fits = [key for key in notebooks if owner[name] == key or owner[name].startswith(key + "_")]
        best = max(fits, key=len, default=None)
        if best is None or sum(len(k) == len(best) for k in fits) != 1:
            continue
        theirs = notebooks[best] if len(notebooks[best]) == 1 else \
            [n for n in notebooks[best] if student_part(n, stems)]   # alice.ipynb beside alice_dense-mnist.ipynb
        if len(theirs) == 1:
            pairs[name] = theirs[0]
            students[name] = students[theirs[0]]
    return students, pairs


def read_uploads(target: Path, names: list[str], layout: str,
                 lesson_files: Sequence[str] = ()) -> tuple[list[Entry], list[SetAside]]:
    """Top-level entries ``names`` of ``target`` read as a folder of uploads (:func:`classify`),
    a loose student's files one row (:func:`loose_students`): every layout's loose files alike."""
    regular = [n for n in names if stat.S_ISREG(os.lstat(target / n).st_mode) and not ignored((n,))]
    students, pairs = loose_students(regular, lesson_files)
    entries: list[Entry] = []
    aside: list[SetAside] = []
    for name in names:
        if name in pairs:
            continue   # staged with its student's notebook
        found = classify(target, target / name, layout)
        if isinstance(found, SetAside):
            aside.append(found)
            continue
        if name in students:
            found.students = [Student(students[name])]
        paired = sorted(w for w, n in pairs.items() if n == name)
        if paired:
            found.members = {n: target / n for n in (name, *paired)}
            found.notes.append(f"{display(name)} graded with {', '.join(map(display, paired))}: "
                               f"the same student's files by their shared name prefix")
        entries.append(found)
    return entries, aside
