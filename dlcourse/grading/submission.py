"""Read what a student handed in, without trusting it, and lay it out for grading.

One definition of a submission, shared by every reader (a file, a folder of submissions,
a Gradescope export, Gradescope's own submission folder): a notebook plus the files that came
with it, from

- a notebook on its own;
- a zip: ``grader.export()``'s, or of the whole lesson folder, subfolders included;
- a folder: a student's unzipped folder, or what Gradescope unpacks, subfolders included;
  a folder holding a single zip and no notebook is that zip.

Wherever they were, files are staged by name beside the notebook. Hidden files and folders
(Jupyter's ``.ipynb_checkpoints``, ``.git``, Otter's ``.OTTER_LOG``), ``__MACOSX`` and
``__pycache__`` are ignored. Two notebooks, or two weights files of the same name in different
subfolders, are refused with their paths: the grader never silently picks one.

Notebooks are read as editors write them: a UTF-8 byte-order mark is dropped, and
``nbformat_minor`` is made to agree with the presence of cell ids. Anything unreadable
becomes a :class:`SubmissionProblem` with a status and a one-line reason instead of an exception.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import nbformat
from nbformat.warnings import MissingIDFieldWarning

from ..lesson import Lesson
from ..running import assignment_name

MAX_FILE_MB = 250        # weights are ~5 MB, notebooks under 10 MB
MAX_ZIP_ENTRIES = 200
MAX_FOLDER_FILES = 500
SUBMISSION_SUFFIXES = (".ipynb", ".zip")
WEIGHTS_SUFFIXES = (".pt", ".pth", ".ckpt", ".safetensors", ".bin")
IGNORED_FOLDERS = {"__MACOSX", "__pycache__"}   # and every hidden folder (.ipynb_checkpoints, .git)


class SubmissionProblem(Exception):
    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass
class Submission:
    source: Path
    notebook: nbformat.NotebookNode
    files: dict[str, bytes]          # everything else that came with the notebook, by name
    notes: list[str] = field(default_factory=list)   # how it was read, for the row (never a score)

    @property
    def assignment_name(self) -> str | None:
        return assignment_name(self.notebook)


def read_submission(path: Path) -> Submission:
    """Read and validate ``path``; raise :class:`SubmissionProblem` for anything unusable."""
    if path.is_dir() and not path.is_symlink():
        files = _read_folder(path)
        zips = [name for name in files if name.endswith(".zip")]
        if len(zips) == 1 and not any(name.endswith(".ipynb") for name in files):
            return read_submission(path / zips[0])  # a grader.export() zip uploaded as it is
    elif path.suffix.lower() == ".zip":
        files = _read_zip(path)
    elif path.suffix.lower() == ".ipynb":
        files = {path.name: _read_capped(path)}
    else:
        raise SubmissionProblem("invalid-notebook", f"{path.name} is neither a notebook (.ipynb) nor a zip")
    return _submission(path, files)


def holds_submission(folder: Path) -> bool:
    """Whether ``folder`` is one submission by :func:`read_submission`'s definition: a notebook,
    or a zip, somewhere in it (hidden and ignored folders aside; links never followed)."""
    return any(relative.endswith((".ipynb", ".zip")) for relative, _ in _folder_files(folder))


def check_assignment(submission: Submission, lesson: Lesson) -> None:
    """The notebook must be the lesson's. One whose metadata lost Otter's assignment name
    (some tools rewrite it) is graded as the lesson the instructor named, with a note."""
    for wanted in lesson.submitted_files:
        others = sorted(name for name in submission.files
                        if name.lower().endswith(WEIGHTS_SUFFIXES) and name not in lesson.submitted_files)
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
    name) and on the standard ``python3`` kernel, plus the files that came with it; then the
    lesson's public ``support`` files (lesson.yaml...), which win over the student's copies."""
    folder.mkdir(parents=True, exist_ok=True)
    notebook = submission.notebook
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, folder / lesson.notebook)
    for name, data in submission.files.items():
        if _saved_on_a_gpu(data):
            data = _moved_to_the_cpu(name, data, submission.notes)
        (folder / name).write_bytes(data)
    for path in sorted(support.iterdir()) if support else ():
        if path.is_file():
            (folder / path.name).write_bytes(path.read_bytes())


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


def is_submission_file(path: Path) -> bool:
    return path.suffix in SUBMISSION_SUFFIXES


def _read_capped(path: Path) -> bytes:
    """A regular file's bytes; a link is refused, even one swapped in after it was listed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as error:
        raise SubmissionProblem("invalid-notebook", f"{path.name} could not be read ({error.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        if os.fstat(f.fileno()).st_size > MAX_FILE_MB * 2**20:
            raise SubmissionProblem("invalid-notebook", f"{path.name} is larger than {MAX_FILE_MB} MB")
        return f.read()


def _submission(path: Path, files: dict[str, bytes]) -> Submission:
    """Files by their path inside the submission -> the notebook and the files by name."""
    notebooks = sorted(name for name in files if name.lower().endswith(".ipynb"))
    if not notebooks:
        raise SubmissionProblem("invalid-notebook", "the submission holds no .ipynb notebook")
    if len(notebooks) > 1:
        raise SubmissionProblem("invalid-notebook", f"the submission holds {len(notebooks)} notebooks "
                                                    f"({', '.join(notebooks)}); submit one")
    by_name: dict[str, list[str]] = {}
    for relative in sorted(files):
        by_name.setdefault(PurePosixPath(relative).name, []).append(relative)
    for name, paths in by_name.items():
        if len(paths) > 1 and name.lower().endswith(WEIGHTS_SUFFIXES):
            raise SubmissionProblem("invalid-notebook", f"the submission holds {len(paths)} files named {name} "
                                                        f"({', '.join(paths)}); submit one")
    # a name found in several folders (README.md, tests/...): the copy nearest the notebook's folder
    home = PurePosixPath(notebooks[0]).parent
    chosen = {name: min(paths, key=lambda p: (_distance(PurePosixPath(p).parent, home), p))
              for name, paths in by_name.items()}
    notebook = _parse_notebook(notebooks[0], files[notebooks[0]])
    others = {name: files[relative] for name, relative in chosen.items() if relative != notebooks[0]}
    return Submission(path, notebook, others)


def _distance(folder: PurePosixPath, home: PurePosixPath) -> int:
    common = 0
    for a, b in zip(folder.parts, home.parts):
        if a != b:
            break
        common += 1
    return len(folder.parts) + len(home.parts) - 2 * common


def _ignored(parts: tuple[str, ...]) -> bool:
    """Hidden files and folders (.ipynb_checkpoints, .git, .OTTER_LOG), __MACOSX, __pycache__."""
    return any(part.startswith(".") or part in IGNORED_FOLDERS for part in parts)


def _folder_files(folder: Path) -> list[tuple[str, Path]]:
    """(path relative to ``folder``, path) of its regular files, links never followed."""
    found, stack = [], [folder]
    while stack:
        current = stack.pop()
        try:
            children = sorted(current.iterdir())
        except OSError:
            continue
        for child in children:
            relative = child.relative_to(folder)
            if _ignored(relative.parts) or child.is_symlink():
                continue
            if child.is_dir():
                stack.append(child)
            elif child.is_file():
                found.append((relative.as_posix(), child))
                if len(found) > MAX_FOLDER_FILES:
                    raise SubmissionProblem("invalid-notebook",
                                            f"the folder holds more than {MAX_FOLDER_FILES} files; a submission has a few")
    return sorted(found)


def _read_folder(folder: Path) -> dict[str, bytes]:
    """Regular files only: a link could point at anything on the machine."""
    files = _folder_files(folder)
    notebooks_and_weights = [(r, p) for r, p in files if r.lower().endswith((".ipynb", ".zip") + WEIGHTS_SUFFIXES)]
    if sum(p.stat().st_size for _, p in files) > MAX_FILE_MB * 2**20:
        files = notebooks_and_weights  # a folder with large extras: read only what grading needs
    return {relative: _read_capped(path) for relative, path in files}


def _read_zip(path: Path) -> dict[str, bytes]:
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) > MAX_ZIP_ENTRIES:
                raise SubmissionProblem("invalid-notebook", f"the zip holds {len(members)} files; a submission has a few")
            if sum(m.file_size for m in members) > MAX_FILE_MB * 2**20:
                raise SubmissionProblem("invalid-notebook", f"the zip unpacks to more than {MAX_FILE_MB} MB")
            files = {}
            for member in members:
                name = PurePosixPath(member.filename.replace("\\", "/"))
                if name.is_absolute() or ".." in name.parts:
                    raise SubmissionProblem("invalid-notebook", f"the zip holds an unsafe path: {member.filename}")
                if _ignored(name.parts):
                    continue  # Finder's resource forks, Jupyter's checkpoints, Otter's .OTTER_LOG: nothing to grade
                files[name.as_posix()] = archive.read(member)
            return files
    except zipfile.BadZipFile:
        raise SubmissionProblem("invalid-notebook", f"{path.name} is not a readable zip file") from None


def _parse_notebook(name: str, data: bytes) -> nbformat.NotebookNode:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]  # a UTF-8 byte-order mark, as some editors and Windows tools write
    if not data.strip():
        raise SubmissionProblem("invalid-notebook", f"{name} is empty")
    try:
        text = data.decode()
        json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        raise SubmissionProblem("invalid-notebook", f"{name} is not valid JSON ({error})") from None
    try:
        with warnings.catch_warnings():
            # missing cell ids are added just below: no warning for the grader's console
            warnings.simplefilter("ignore", MissingIDFieldWarning)
            notebook = nbformat.reads(text, as_version=4)
        _cell_ids_agree(notebook)
        nbformat.validate(notebook)
    except Exception as error:  # nbformat raises several kinds for malformed notebooks
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise SubmissionProblem("invalid-notebook", f"{name} is not a valid Jupyter notebook ({first})") from None
    return notebook


def _cell_ids_agree(notebook: nbformat.NotebookNode) -> None:
    """Make ``nbformat_minor`` and cell ids agree, as nbformat's own normalisation does: cell ids
    belong to format 4.5 and later; an editor that writes them under an older minor (or the
    reverse) leaves a notebook every reader accepts but the schema does not."""
    from nbformat.validator import normalize

    has_ids = any("id" in cell for cell in notebook.get("cells", []))
    if has_ids and notebook.get("nbformat_minor", 0) < 5:
        notebook["nbformat_minor"] = 5
    _changes, normalized = normalize(notebook, version=4, version_minor=notebook.get("nbformat_minor"))
    notebook.clear()
    notebook.update(nbformat.from_dict(normalized))
