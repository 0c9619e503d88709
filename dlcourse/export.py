"""``grader.export()``: the submission zip, made so that it cannot hold the wrong thing.

Otter's own export zips whichever notebook its init cell named, saved or not, and refuses to
run on Colab. This one, in order:

1. finds the notebook that is running (:mod:`dlcourse.running`), whatever its file name;
2. refuses a file older than the work done in this kernel (unsaved changes), a notebook
   whose code is the released stub's, and one whose answers still hold ``...``
   (``unfinished=True`` submits it anyway);
3. refuses when a file the lesson submits (its weights) is missing or does not load;
4. writes ``<lesson>-submission.zip`` beside the weights through a temporary file, so a
   crash never leaves half a zip under that name, reads it back, and says in one line what
   it holds; on Colab it also sends the zip to the browser.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import zipfile
from pathlib import Path

from .atomic import atomic_file
from .lesson import Lesson, current_lesson
from .running import (CELL_RUNS, ipython_shell, NotebookNotFound, RunningNotebook, assignment_name, cell_source, code_digest,
                      find_running_notebook, on_colab)
from .unfinished import unfinished_questions



class ExportRefused(Exception):
    """Why no zip was written; shown to the student as one message, without a traceback."""

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of the traceback
        return [f"Not exported: {self}"]


def export_submission(lesson_id: str, notebook: str | os.PathLike | None = None, *,
                      unfinished: bool = False) -> Path:
    """Check and zip the running notebook of ``lesson_id`` with the lesson's files; return the zip."""
    shell = ipython_shell()
    try:
        found = find_running_notebook(lesson_id, notebook, user_ns=shell.user_ns if shell else None)
    except NotebookNotFound as error:
        raise ExportRefused(str(error)) from None
    if found.path is not None:
        refuse_unsaved(found, CELL_RUNS.since(found.path.stat().st_mtime))
    refuse_stub(found)
    if not unfinished:
        refuse_unfinished(found)
    lesson = current_lesson()
    files = lesson_files(lesson, Path.cwd())
    notebook_bytes = found.path.read_bytes() if found.path else json.dumps(found.content, indent=1).encode()
    members = {lesson.notebook: notebook_bytes, **files}
    target = Path.cwd() / f"{lesson.id}-submission.zip"
    write_zip(target, members)
    read_back(target, members, lesson.id)
    print(describe(target, found, files))
    if found.path is None and on_colab():
        from google.colab import files as colab_files

        colab_files.download(str(target))
    return target


def refuse_unsaved(found: RunningNotebook, ran_since_saved: list[str]) -> None:
    """Code run in this kernel after the file was last saved must be in the file."""
    saved = {cell_source(cell).strip() for cell in found.content.get("cells", []) if cell.get("cell_type") == "code"}
    unsaved = [source for source in ran_since_saved if source.strip() not in saved]
    if unsaved:
        first = unsaved[0].strip().splitlines()[0][:60]
        raise ExportRefused(f"{found.name} on disk is older than your work: the cell starting "
                            f'"{first}" ran after the last save and is not in the file. Save the notebook '
                            f"(Ctrl+S, or File > Save Notebook), then run this cell again.")


def refuse_stub(found: RunningNotebook) -> None:
    stub = ((found.content.get("metadata") or {}).get("dlcourse") or {}).get("stub")
    if stub and code_digest(found.content) == stub:
        raise ExportRefused(f"{found.name} is the notebook as released, without any of your answers. "
                            f"If you worked in another copy, open that one and export from it.")


def refuse_unfinished(found: RunningNotebook) -> None:
    open_questions = unfinished_questions(found.content.get("cells", []))
    if open_questions:
        names = ", ".join(f"'{name}'" for name in open_questions)
        raise ExportRefused(f"{found.name} still holds `...` where an answer goes (questions {names}). Finish "
                            f"them, or submit what you have with grader.export(unfinished=True).")


def _find(name: str, present: list[str], folder: Path) -> str | None:
    """The file of ``present`` that is the lesson's ``name`` by the grader's own rule
    (:func:`~.grading.reader.files.find_lesson_file`: ``dense_mnist (1).pt`` is taken, with a
    note printed); None when there is none. Raises :class:`ExportRefused` when two could be."""
    from .grading.reader.files import SubmissionProblem, find_lesson_file  # the grader's rule, stdlib only

    try:
        found, note = find_lesson_file(name, present)
    except SubmissionProblem as error:
        raise ExportRefused(f"{error.reason}: keep only {name} in {folder}; then run this cell again.") from None
    if found is not None and note:
        print(f"Note: {note}.")
    return found


def lesson_files(lesson: Lesson, folder: Path) -> dict[str, bytes]:
    """The files the lesson submits (its weights), read from ``folder`` and found by the grader's
    own rule (:func:`~.grading.reader.files.find_lesson_file`: ``dense_mnist (1).pt`` is taken,
    with a message); each must load. The zip holds them under the lesson's names."""
    files = {}
    baseline = lesson.baseline_lesson()
    present = sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    for name in lesson.submitted_files:
        found = _find(name, present, folder)
        if found is None:
            if baseline is not None and name == baseline.weights:
                how = f"copy {name}, the weights you trained in lesson {baseline.id}, into {folder}"
            else:
                how = "run the training cell: it saves them there"
            raise ExportRefused(f"{name} is not in {folder}: {how}; then run this cell again.")
        path = folder / found
        problem = _weights_problem(path)
        if problem:
            raise ExportRefused(f"{found} cannot be read as weights: {problem}")
        files[name] = path.read_bytes()
    return files | design_files(lesson, folder, present)


def design_files(lesson: Lesson, folder: Path, present: list[str]) -> dict[str, bytes]:
    """The design task's files, found by the same rule, each checked as the grader reads it.
    They are not required: without them (or with a file the grader cannot read) the zip is
    written all the same, and a warning says that the design question will score 0."""
    from .datasets import DATASETS
    from .design import DesignProblem, read_description

    files, problems = {}, []
    for name in lesson.design_files:
        found = _find(name, present, folder)
        if found is None:
            problems.append(f"{name} is not in {folder}")
            continue
        data = (folder / found).read_bytes()
        if name.endswith(".json"):
            try:
                read_description(data, lesson.architecture.input_shape if lesson.architecture else (),
                                 len(DATASETS[lesson.dataset].classes), name)
            except DesignProblem as refused:
                problems.append(str(refused))
        elif unreadable := _weights_problem(folder / found):
            problems.append(unreadable)
        files[name] = data
    if problems:
        print(f"Warning: {problems[0]}: the design question scores 0 without both files (save them with "
              f"dlcourse.save_design).")
    return files


def _weights_problem(path: Path) -> str | None:
    """Why the grader could not read the weights file at ``path``, or None: the grader's own
    rule (:func:`dlcourse.checks.weights.read_weights`), so export accepts what grading reads."""
    from .checks.weights import WeightsProblem, read_weights

    try:
        read_weights(path)
    except WeightsProblem as problem:
        return str(problem)
    return None


def write_zip(target: Path, members: dict[str, bytes]) -> None:
    """Write the zip under a temporary name beside ``target``, then rename it: a crash leaves
    the previous zip (or none), never a partial one."""
    with atomic_file(target, mode=0o600, suffix=".part") as out:
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in members.items():
                archive.writestr(name, data)
        out.flush()
        os.fsync(out.fileno())  # on disk before the rename: a zip the student uploads next


def read_back(target: Path, members: dict[str, bytes], lesson_id: str) -> None:
    """The zip on disk must hold exactly ``members``, intact, and a notebook of this lesson."""
    try:
        with zipfile.ZipFile(target) as archive:
            stored = {name: archive.read(name) for name in archive.namelist()}
    except (OSError, zipfile.BadZipFile, KeyError) as error:
        raise ExportRefused(f"{target.name} could not be read back ({error}); run this cell again.") from None
    digests = {name: hashlib.sha256(data).digest() for name, data in members.items()}
    if {name: hashlib.sha256(data).digest() for name, data in stored.items()} != digests:
        raise ExportRefused(f"{target.name} does not hold what was written (is the disk full?); run this cell again.")
    notebook = next(data for name, data in stored.items() if name.endswith(".ipynb"))
    if assignment_name(json.loads(notebook)) not in (None, lesson_id):
        raise ExportRefused(f"{target.name} holds a notebook of another lesson")


def describe(target: Path, found: RunningNotebook, files: dict[str, bytes]) -> str:
    """One line: the zip, the notebook it holds (which one, when saved) and each file's size."""
    if found.path is not None:
        saved = time.strftime("%H:%M:%S", time.localtime(found.path.stat().st_mtime))
        notebook = f"{found.path.name} (saved {saved})"
    else:
        notebook = found.where
    parts = ", ".join(f"{name} ({len(data) / 2**20:.1f} MB)" for name, data in files.items())
    return f"Wrote {target.name}: {notebook}{' + ' + parts if parts else ''}. Submit this zip."
