"""Read what a student handed in, without trusting it, and lay it out for grading.

One definition of a submission, shared by every reader (a file, a folder of submissions, an
LMS's download, Gradescope's own submission folder): a notebook plus the files that came with it,
from a notebook on its own, an archive (zip or tar: ``grader.export()``'s, or of the whole lesson
folder), a folder (a student's unzipped folder, or what Gradescope unpacks; a folder holding a
single archive and no notebook is that archive), or an LMS layout's files of one student
(:class:`~.inputs.Entry` ``members``). What a file is, and which one is the lesson's, is
:mod:`.reader.files`'s to say; the notebook passes through :mod:`.reader.repairs`.

The files keep their folders, relative to the notebook's own folder, so ``import utils`` and
``from src.models import build_model`` work in the sandbox as on the student's machine. Files
outside that folder (a project's ``notebooks/`` beside ``src/``) are staged as the whole tree,
the notebook's folder the working directory, so ``sys.path.insert(0, "..")`` then
``from src.models import ...`` works too; the lesson's files found outside it are also staged
beside the notebook under the lesson's names. Nothing is written outside the staging folder. The lesson's
weights are found by what they are and staged under the lesson's name. Hidden files and folders
(``.ipynb_checkpoints``, ``.git``, ``.OTTER_LOG``), ``__MACOSX`` and ``__pycache__`` are ignored.
Anything unreadable becomes a :class:`SubmissionProblem` with a status and a one-line reason.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import nbformat

from ..lesson import Lesson
from ..running import assignment_name
from .inputs import Entry
from .reader.archives import read_archive, unpack
from .reader.files import (SubmissionProblem, archive_kind, choose_files, display, find_lesson_file, ignored,
                           is_notebook, is_weights, kind_of_mode, nearest_copy, read_regular, resembles,
                           upload_problem, walk)
from .reader.repairs import repair

MAX_NESTING = 3   # archives inside archives opened: a zip of a zip of the export; each under the same caps

__all__ = ["Submission", "SubmissionProblem", "check_assignment", "read_submission", "stage"]


@dataclass
class Submission:
    source: Path
    notebook: nbformat.NotebookNode
    files: dict[str, bytes]          # the other files, by path relative to the notebook's folder
    notes: list[str] = field(default_factory=list)   # how it was read, for the row (never a score)
    home: str = ""                   # the notebook's folder in the submission's tree, where ``tree`` is not empty
    tree: dict[str, bytes] = field(default_factory=dict)   # files outside the notebook's folder, by path in the tree

    @property
    def assignment_name(self) -> str | None:
        return assignment_name(self.notebook)


def read_submission(source: Path | Entry, lesson: Lesson | None = None) -> Submission:
    """Read and repair ``source``, finding ``lesson``'s files in it (without a lesson: no two
    weights files of one name); raise :class:`SubmissionProblem` for anything unusable."""
    notes: list[str] = []
    if isinstance(source, Entry):
        if source.problem:
            raise SubmissionProblem(*source.problem)
        notes += source.notes
        path = source.path
        files = _read_chosen(source.label, source.members, notes) if source.members else gather(path, notes)
    else:
        path, files = source, gather(source, notes)
    return _submission(path, files, lesson, notes)


def gather(path: Path, notes: list[str]) -> dict[str, bytes]:
    """The files of a notebook, archive or folder, by their path inside it (nothing but regular
    files is opened; what was passed over goes to ``notes``)."""
    try:
        mode = os.lstat(path).st_mode
    except OSError as error:
        raise SubmissionProblem("invalid-notebook", f"{display(path.name)} could not be read ({error.strerror})") from None
    name = os.fsdecode(path.name)
    if stat.S_ISDIR(mode):
        return _read_folder(path, notes)
    if not stat.S_ISREG(mode):
        raise SubmissionProblem("invalid-notebook", f"{display(name)} is {kind_of_mode(mode)}")
    if is_notebook(name):
        return {name: read_regular(path)}
    if archive_kind(name):
        return read_archive(path, notes)
    problem = upload_problem(name)
    raise SubmissionProblem(*problem) if problem else \
        SubmissionProblem("invalid-notebook", f"{display(name)} is neither a notebook (.ipynb) nor an archive "
                                              f"(.zip, .tar.gz)")


def _read_folder(folder: Path, notes: list[str]) -> dict[str, bytes]:
    """Regular files only: a link could point at anything on the machine, a FIFO blocks a reader."""
    found, passed = walk(folder)
    if passed:
        notes.append("not read: " + "; ".join(f"{display(r)} ({why})" for r, why in passed[:3])
                     + (f" (+{len(passed) - 3} more)" if len(passed) > 3 else ""))
    return _read_chosen(display(os.fsdecode(folder.name)), dict(found), notes)


def _read_chosen(name: str, paths: dict[str, Path], notes: list[str]) -> dict[str, bytes]:
    """The files of ``paths`` (relative path -> where it is) that :func:`choose_files` reads, as
    it chooses an archive's members: an unpacked upload reads what its zip would."""
    sizes = {relative: os.lstat(path).st_size for relative, path in paths.items()}
    return {relative: read_regular(paths[relative]) for relative in sorted(choose_files(name, sizes, notes))}


def _submission(path: Path, files: dict[str, bytes], lesson: Lesson | None, notes: list[str]) -> Submission:
    """Files by their path inside the submission -> the notebook and the other files, laid out."""
    if any("\\" in k for k in files):  # PowerShell's Compress-Archive, an LMS's name: Windows' separators
        notes.append("file paths written with Windows' backslashes were read as folders")
        files = {k.replace("\\", "/"): v for k, v in files.items()}
    files = {_valid_name(k, notes): v for k, v in files.items() if not ignored(PurePosixPath(k).parts)}
    unsafe = sorted(k for k in files if PurePosixPath(k).is_absolute() or ".." in PurePosixPath(k).parts)
    if unsafe:  # an LMS's "original file name" is the student's text: it never leads out of the staging folder
        notes.append(f"not read: {', '.join(map(display, unsafe[:3]))} (a path leading outside the submission)")
        files = {k: v for k, v in files.items() if k not in unsafe}
    archives = _distinct_archives(files, notes)
    for _level in range(MAX_NESTING):  # an archive inside an archive (a zip of the export zip...)
        if any(is_notebook(k) for k in files) or len(archives) != 1:
            break
        files = {k: v for k, v in unpack(archives[0], files[archives[0]], notes).items()
                 if not ignored(PurePosixPath(k).parts)}
        archives = _distinct_archives(files, notes)
    if len(archives) == 1 and any(is_notebook(k) for k in files) and not any(is_weights(k) for k in files):
        files |= _weights_of_the_export(archives[0], files[archives[0]], files, notes)
    chosen = _choose_notebook(files, lesson, notes)
    laid_out, origin, tree = _lay_out(files, chosen)
    home = PurePosixPath(chosen).parent
    seen = {**laid_out, **{_from(home, k): v for k, v in tree.items()}}   # what the notebook sees, by its path
    wanted = lesson.submitted_files if lesson else sorted({PurePosixPath(k).name for k in files if is_weights(k)})
    for name in wanted + (lesson.design_files if lesson else []):
        key, note = find_lesson_file(name, sorted(seen), seen.__getitem__)
        if key is not None and key != name:
            laid_out[name] = laid_out.pop(key) if key in laid_out else seen[key]
            notes.append(note or f"{display(origin.get(key, key))} was graded as {name}, the lesson's file")
    if lesson and len(wanted) == 1:
        _lone_weights(wanted[0], laid_out, seen, notes)
    notebook = repair(chosen, files[chosen], notes)
    return Submission(path, notebook, laid_out, notes, home=home.as_posix() if tree else "", tree=tree)


def _distinct_archives(files: dict[str, bytes], notes: list[str]) -> list[str]:
    """The archives among ``files``; byte-identical ones (an LMS's or a browser's ``name (1).zip``
    of one upload) are one, the shortest name, with a note."""
    archives = sorted((k for k in files if archive_kind(k)), key=lambda k: (len(PurePosixPath(k).parts), len(k), k))
    if len(archives) > 1 and len({files[k] for k in archives}) == 1:
        notes.append(f"read {display(archives[0])}; {', '.join(map(display, archives[1:]))} "
                     f"{'is a byte-identical copy' if len(archives) == 2 else 'are byte-identical copies'} of it")
        return archives[:1]
    return archives


def _weights_of_the_export(archive: str, data: bytes, files: dict[str, bytes], notes: list[str]) -> dict[str, bytes]:
    """A notebook without weights beside the student's own export zip (``dense-mnist.ipynb`` and
    ``dense-mnist.zip``): the zip's weights files, put where the zip is. Unreadable: none, with a note."""
    try:
        inside = unpack(archive, data, notes)
    except SubmissionProblem as problem:
        notes.append(f"{display(archive)} beside the notebook was not read ({problem.reason})")
        return {}
    home = PurePosixPath(archive).parent
    taken = {(home / PurePosixPath(k).name).as_posix(): v for k, v in sorted(inside.items())
             if is_weights(k) and not ignored(PurePosixPath(k).parts)}
    taken = {k: v for k, v in taken.items() if k not in files}
    if taken:
        notes.append(f"the notebook has no weights beside it; {', '.join(PurePosixPath(k).name for k in taken)} "
                     f"taken from {display(archive)} beside it (the student's export)")
    return taken


def _lone_weights(wanted: str, laid_out: dict[str, bytes], seen: dict[str, bytes], notes: list[str]) -> None:
    """A lesson that wants one weights file, and a submission whose only weights-like file has
    another name (``model.pt``, ``dense_mnist.pth``, ``../models/net.pt``): that file is the
    lesson's, with a note. Two or more stay as they are (the row names them: which one was meant
    is not ours to guess)."""
    if wanted in laid_out:
        return
    candidates = [k for k in seen if is_weights(k)]
    if len(candidates) == 1:
        found = candidates[0]
        laid_out[wanted] = laid_out.pop(found) if found in laid_out else seen[found]
        notes.append(f"{display(found)} was graded as {wanted}: the only weights file in the "
                     f"submission (the lesson's training cell saves {wanted}; rename it next time)")


def _valid_name(name: str, notes: list[str]) -> str:
    shown = display(name)
    if shown != name:
        notes.append(f"a file name that is not valid UTF-8 was read as {shown}")
    return shown


def _choose_notebook(files: dict[str, bytes], lesson: Lesson | None, notes: list[str]) -> str:
    notebooks = sorted(k for k in files if is_notebook(k))
    if not notebooks:
        said = [problem for k in sorted(files) if (problem := upload_problem(k)) and not is_weights(k)]
        if said:  # a .rar uploaded to Gradescope, a PDF export: say what it is
            raise SubmissionProblem(*said[0])
        held = ", ".join(sorted(files)[:5]) + (" ..." if len(files) > 5 else "")
        raise SubmissionProblem("invalid-notebook", "the submission holds no .ipynb notebook"
                                                    + (f" (it holds {held})" if files else " (it is empty)"))
    if len(notebooks) == 1:
        return notebooks[0]
    exact = [n for n in notebooks if lesson and PurePosixPath(n).name == lesson.notebook]
    similar = exact or [n for n in notebooks if lesson and resembles(lesson.notebook, n)]
    if not similar and lesson:  # named otherwise (lab2-final.ipynb beside Untitled.ipynb): Otter's metadata says
        similar = [n for n in notebooks if _lesson_of(files[n]) == lesson.id]
    copies = similar if len(similar) > 1 else notebooks if not similar else []
    if copies and len({files[n] for n in copies}) == 1:  # a browser's "(1)", "(2)" of one download
        chosen = min(copies, key=lambda n: (PurePosixPath(n).name != (lesson.notebook if lesson else ""), len(n), n))
        notes.append(f"graded {chosen}; the submission's other notebooks are byte-identical copies of it "
                     f"({', '.join(n for n in copies if n != chosen)})"
                     + (f", and it also holds {', '.join(n for n in notebooks if n not in copies)}"
                        if len(copies) < len(notebooks) else ""))
        return chosen
    nearest = nearest_copy(similar or notebooks)
    if nearest:  # alice/dense-mnist.ipynb beside alice/backup/dense-mnist.ipynb: the top one is the work
        notes.append(f"graded {nearest}; {', '.join(n for n in similar or notebooks if n != nearest)} in a "
                     f"subfolder (a backup or an earlier copy) was not graded")
        return nearest
    if len(similar) != 1:
        raise SubmissionProblem("invalid-notebook", f"the submission holds {len(notebooks)} notebooks "
                                                    f"({', '.join(notebooks)}); submit one")
    notes.append(f"graded {similar[0]}, the lesson's notebook (by its name or its assignment metadata); "
                 f"the submission also holds "
                 f"{', '.join(n for n in notebooks if n != similar[0])}")
    return similar[0]


def _lesson_of(data: bytes) -> str | None:
    """The assignment name Otter's metadata gives a notebook's bytes; None when unreadable."""
    if b'"assignment_name"' not in data:
        return None
    try:
        return assignment_name(json.loads(data.decode("utf-8-sig", "replace")))
    except (ValueError, RecursionError, AttributeError):
        return None


def _lay_out(files: dict[str, bytes], notebook: str) -> tuple[dict[str, bytes], dict[str, str], dict[str, bytes]]:
    """The files in the notebook's folder by their path relative to it, where each came from, and
    the other files (outside that folder) by their path in the submission's tree. Other notebooks
    are left out (the one graded is staged under the lesson's name)."""
    home = PurePosixPath(notebook).parent
    laid_out, origin, tree = {}, {}, {}
    for relative in sorted(files):
        path = PurePosixPath(relative)
        if relative == notebook or is_notebook(relative):
            continue
        if home == PurePosixPath(".") or path.is_relative_to(home):
            key = path.relative_to(home).as_posix()
            laid_out[key], origin[key] = files[relative], relative
        else:
            tree[relative] = files[relative]
    return laid_out, origin, tree


def _from(home: PurePosixPath, relative: str) -> str:
    """``relative`` (a path in the tree) as the notebook in ``home`` reaches it: ``../src/models.py``."""
    return PurePosixPath(os.path.relpath(relative, home.as_posix() or ".")).as_posix()


def check_assignment(submission: Submission, lesson: Lesson) -> None:
    """The notebook must be the lesson's. One whose metadata lost Otter's assignment name
    (some tools rewrite it) is graded as the lesson the instructor named, with a note."""
    for wanted in lesson.submitted_files:
        others = sorted(name for name in submission.files
                        if is_weights(name) and name not in lesson.submitted_files)
        if wanted not in submission.files and others:
            submission.notes.append(f"{wanted} was not submitted, but {', '.join(others)} was: weights saved under "
                                    f"another name, or from another lesson? This lesson's training cell saves {wanted}")
    if submission.assignment_name is None:
        submission.notes.append(f"the notebook carries no assignment name (its metadata was rewritten); "
                                f"graded as '{lesson.id}', the lesson it was submitted to")
        return
    if submission.assignment_name != lesson.id:
        raise SubmissionProblem("wrong-assignment", f"the notebook is for '{submission.assignment_name}', not "
                                                    f"'{lesson.id}': the notebook of another lesson; was it submitted "
                                                    f"to the wrong lesson?")


def stage(submission: Submission, lesson: Lesson, folder: Path, support: Path | None = None) -> None:
    """Write the notebook under the lesson's own name (Otter's init cell opens it by that
    name) and on the standard ``python3`` kernel, plus the files that came with it in their
    folders; then the lesson's public ``support`` files (lesson.yaml...), which win over the
    student's copies. A submission with files outside the notebook's folder is staged as its
    tree: the notebook (the only one staged) in ``folder/<home>``, where it runs."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in submission.tree.items():
        _write_inside(folder, name, data, submission.notes)
    base = folder.joinpath(*PurePosixPath(submission.home).parts) if submission.tree else folder
    base.mkdir(parents=True, exist_ok=True)
    notebook = submission.notebook
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, base / lesson.notebook)
    for name, data in submission.files.items():
        if _saved_on_a_gpu(data):
            data = _moved_to_the_cpu(name, data, submission.notes)
        _write_inside(base, name, data, submission.notes)
    for path in sorted(support.iterdir()) if support else ():
        if path.is_file():
            _write_inside(base, path.name, path.read_bytes(), submission.notes)


def _write_inside(folder: Path, relative: str, data: bytes, notes: list[str]) -> None:
    """Write ``relative`` under ``folder``, making its folders; a file and a folder of one name
    (``src`` and ``src/x.py``): the later one wins, with a note."""
    parts = PurePosixPath(relative).parts
    if not parts or PurePosixPath(relative).is_absolute() or ".." in parts:
        notes.append(f"{display(relative)} was not staged: a path leading outside the submission")
        return
    target = folder.joinpath(*parts)
    try:
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    except (NotADirectoryError, FileExistsError, IsADirectoryError):
        notes.append(f"{display(relative)} was not staged: a file and a folder share its path")


def _saved_on_a_gpu(data: bytes) -> bool:
    """Whether a torch file's tensors are tagged for a GPU (read without torch, nothing unpickled)."""
    try:
        if zipfile.is_zipfile(io.BytesIO(data)):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                return any(b"cuda" in archive.read(n) for n in archive.namelist() if n.endswith("data.pkl"))
    except (zipfile.BadZipFile, OSError, RuntimeError, ValueError):
        return False
    return data[:2] == b"\x80\x02" and b"cuda" in data  # the legacy format: pickles, then storages


def _moved_to_the_cpu(name: str, data: bytes, notes: list[str]) -> bytes:
    """The grading machine has no GPU: the notebook gets a copy of ``name`` with its tensors on
    the CPU, in a process of its own (this one imports no torch). The judge still measures the
    bytes as submitted. If the file cannot be read safely, it is staged as it is."""
    try:
        done = subprocess.run([sys.executable, "-I", "-m", "dlcourse.checks.weights"], input=data,
                              capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return data
    if done.returncode != 0 or not done.stdout:
        return data
    notes.append(f"{name} was saved on a GPU; the notebook was given a copy on the CPU (this machine has no GPU)")
    return done.stdout
