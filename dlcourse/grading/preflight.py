"""Check what every grading needs before the first submission, so that a broken set-up stops
with one line instead of turning every row into a failure.

Checked, in order: the autograder (a zip holding the lesson's settings and manifest), the
dataset the lesson reads (both splits) in the data folder, readable by the unprivileged user student code runs as, and the sandbox (student
code can be run unprivileged here, or ``--allow-root`` accepts that it cannot).
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..datasets import DATASETS
from ..lesson import BASELINE_FILE, LESSON_FILE, Lesson
from ..settings import SAMPLE_DIR


class PreflightProblem(RuntimeError):
    """One line: what is wrong and how to fix it."""


@contextmanager
def _unpacked_lesson(autograder: Path) -> Iterator[Lesson]:
    """The lesson the autograder grades, its settings (and its baseline lesson's, which names the
    baseline's weights) unpacked into a scratch folder for as long as the context lasts. Raises
    :class:`PreflightProblem` if it is not a built autograder."""
    if not autograder.is_file():
        raise PreflightProblem(f"the autograder {autograder} does not exist: run `dlcourse build` first")
    try:
        with zipfile.ZipFile(autograder) as archive, tempfile.TemporaryDirectory() as scratch:
            names = set(archive.namelist())
            if f"files/{LESSON_FILE}" not in names:
                raise PreflightProblem(f"{autograder} holds no files/{LESSON_FILE}: not an autograder that "
                                       f"`dlcourse build` wrote; rebuild it")
            for name in (LESSON_FILE, BASELINE_FILE):
                if f"files/{name}" in names:
                    archive.extract(f"files/{name}", scratch)
            yield Lesson.load(Path(scratch) / "files" / LESSON_FILE)
    except (zipfile.BadZipFile, OSError) as error:
        raise PreflightProblem(f"the autograder {autograder} cannot be read ({error}): run `dlcourse build` again") from None


def check_autograder(autograder: Path) -> Lesson:
    """The lesson the autograder grades (its settings only: the baseline lesson's file is gone once
    this returns); raises :class:`PreflightProblem` if it is not a built autograder."""
    with _unpacked_lesson(autograder) as lesson:
        return lesson


def lesson_files(autograder: Path) -> tuple[str, ...]:
    """The notebook and weights names of the lesson ``autograder`` grades, which a loose upload's
    name is read by (``alice_dense-mnist.ipynb``: student ``alice``); none when it is no built
    autograder (grading it says why)."""
    try:
        with _unpacked_lesson(autograder) as lesson:
            return (lesson.notebook, *lesson.submitted_files)
    except PreflightProblem:
        return ()


def is_sample(data: Path) -> bool:
    """Whether ``data`` is the small sample bundled with the package (dlcourse/sample_data)."""
    return data.resolve() == SAMPLE_DIR.resolve()


def check_data(lesson: Lesson, data: Path) -> None:
    """Every file of the lesson's dataset (both splits) is in ``data``, readable by student code.
    The bundled sample is checked against its own files (CIFAR-10's one training batch of
    five), so the demo's batches can be regraded on it; any other folder must hold them all."""
    info = DATASETS[lesson.dataset]
    folder = data / info.folder
    fix = (f"run `dlcourse data fetch {info.name}` (online), or set DLCOURSE_DATA / --data to the folder "
           f"that holds {info.folder}/")
    files = info.sample_files if is_sample(data) else info.files
    for train in (True, False):
        for name in files[train]:
            if not any((folder / n).is_file() for n in (name, f"{name}.gz")):
                raise PreflightProblem(f"{info.title} is missing from {data} ({info.folder}/{name} not found): {fix}")
    if os.geteuid() == 0:
        from .sandbox import readable_by_everyone

        if not readable_by_everyone(folder):
            raise PreflightProblem(f"{folder} is not readable by the unprivileged user that runs student code: "
                                   f"make it and its parent folders readable by all (chmod -R a+rX), or move the data")


def check_sandbox(data: Path, allow_root: bool) -> None:
    """Student code can be confined here as promised (see :func:`.sandbox.plan_for`)."""
    from .sandbox import Limits, SandboxUnavailable, View, plan_for

    try:
        plan_for(Limits(timeout=1, allow_root=allow_root), View(readable=(data,)))
    except SandboxUnavailable as problem:
        raise PreflightProblem(str(problem)) from None


def preflight(autograder: Path, data: Path, allow_root: bool = False) -> Lesson:
    """Run every check; return the lesson. Raises :class:`PreflightProblem` with one line."""
    lesson = check_autograder(autograder)
    check_data(lesson, data)
    check_sandbox(data, allow_root)
    return lesson
