"""Read what a student handed in, without trusting it, and lay it out for grading.

A submission is a notebook, a ``grader.export()`` zip (notebook + weights), or a folder of
files (what Gradescope unpacks). Anything unreadable becomes a :class:`SubmissionProblem`
with a status and a one-line reason instead of an exception.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import nbformat

from ..lesson import Lesson

MAX_FILE_MB = 250        # weights are ~5 MB, notebooks under 10 MB
MAX_ZIP_ENTRIES = 200
SUBMISSION_SUFFIXES = (".ipynb", ".zip")


class SubmissionProblem(Exception):
    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass
class Submission:
    source: Path
    notebook: nbformat.NotebookNode
    files: dict[str, bytes]          # everything else that came with the notebook, by name

    @property
    def assignment_name(self) -> str | None:
        return self.notebook.metadata.get("otter", {}).get("assignment_name")


def read_submission(path: Path) -> Submission:
    """Read and validate ``path``; raise :class:`SubmissionProblem` for anything unusable."""
    if path.is_dir():  # regular files only: a link could point at anything on the machine
        files = {p.name: _read_capped(p) for p in sorted(path.iterdir()) if p.is_file() and not p.is_symlink()}
        zips = [name for name in files if name.endswith(".zip")]
        if len(zips) == 1 and not any(name.endswith(".ipynb") for name in files):
            return read_submission(path / zips[0])  # a grader.export() zip uploaded as it is
    elif path.suffix == ".zip":
        files = _read_zip(path)
    elif path.suffix == ".ipynb":
        files = {path.name: _read_capped(path)}
    else:
        raise SubmissionProblem("invalid-notebook", f"{path.name} is neither a notebook (.ipynb) nor a zip")
    notebooks = [name for name in files if name.endswith(".ipynb")]
    if not notebooks:
        raise SubmissionProblem("invalid-notebook", "the submission holds no .ipynb notebook")
    if len(notebooks) > 1:
        raise SubmissionProblem("invalid-notebook", f"the submission holds {len(notebooks)} notebooks "
                                                    f"({', '.join(sorted(notebooks))}); submit one")
    name = notebooks[0]
    notebook = _parse_notebook(name, files.pop(name))
    return Submission(path, notebook, files)


def check_assignment(submission: Submission, lesson: Lesson) -> None:
    if submission.assignment_name != lesson.id:
        found = f"'{submission.assignment_name}'" if submission.assignment_name else "no assignment name"
        raise SubmissionProblem("wrong-assignment",
                                f"the notebook is for {found}, not '{lesson.id}'; was it submitted to the wrong lesson?")


def stage(submission: Submission, lesson: Lesson, folder: Path, support: Path | None = None) -> None:
    """Write the notebook under the lesson's own name (Otter's init cell opens it by that
    name) and on the standard ``python3`` kernel, plus the files that came with it; then the
    lesson's public ``support`` files (lesson.yaml...), which win over the student's copies."""
    folder.mkdir(parents=True, exist_ok=True)
    notebook = submission.notebook
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, folder / lesson.notebook)
    for name, data in submission.files.items():
        (folder / name).write_bytes(data)
    for path in sorted(support.iterdir()) if support else ():
        if path.is_file():
            (folder / path.name).write_bytes(path.read_bytes())


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
                name = PurePosixPath(member.filename)
                if name.is_absolute() or ".." in name.parts:
                    raise SubmissionProblem("invalid-notebook", f"the zip holds an unsafe path: {member.filename}")
                if name.parts[0] == "__MACOSX" or name.name.startswith("."):
                    continue  # Finder's resource forks and Otter's .OTTER_LOG carry nothing to grade
                files[name.name] = archive.read(member)
            return files
    except zipfile.BadZipFile:
        raise SubmissionProblem("invalid-notebook", f"{path.name} is not a readable zip file") from None


def _parse_notebook(name: str, data: bytes) -> nbformat.NotebookNode:
    if not data.strip():
        raise SubmissionProblem("invalid-notebook", f"{name} is empty")
    try:
        text = data.decode()
        json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        raise SubmissionProblem("invalid-notebook", f"{name} is not valid JSON ({error})") from None
    try:
        notebook = nbformat.reads(text, as_version=4)
        nbformat.validate(notebook)
    except Exception as error:  # nbformat raises several kinds for malformed notebooks
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise SubmissionProblem("invalid-notebook", f"{name} is not a valid Jupyter notebook ({first})") from None
    return notebook
