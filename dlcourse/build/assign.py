"""Step 1 of the build: Otter Assign on a scratch copy of the lesson folder."""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
from pathlib import Path

import nbformat
import yaml

from ..lesson import BASELINE_FILE, LESSON_FILE, Lesson


def run_otter_assign(lesson: Lesson, scratch: Path) -> Path:
    """Run Otter Assign on ``lesson``'s master; return its output folder (``student/``, ``autograder/``).

    The master is copied first, with an empty placeholder for each file students produce
    (Otter insists that ``student_files`` exist when it assigns), and with the baseline
    lesson's settings as ``baseline.yaml`` when the lesson compares against one.
    """
    from otter.assign import main as otter_assign

    source = scratch / "source"
    shutil.copytree(lesson.directory, source)
    if lesson.baseline:
        shutil.copyfile(lesson.directory.parent / lesson.baseline / LESSON_FILE, source / BASELINE_FILE)
    for name in assignment_config(source / lesson.notebook).get("student_files", []):
        (source / name).touch(exist_ok=True)
    dist = scratch / "dist"
    with _quiet():
        otter_assign(str(source / lesson.notebook), str(dist), no_pdfs=True, no_run_tests=True)
    return dist


def assignment_config(master: Path) -> dict:
    """The ``# ASSIGNMENT CONFIG`` block of a master notebook, as a mapping."""
    first = nbformat.read(master, as_version=4).cells[0]
    header, _, body = first.source.partition("\n")
    if header.strip() != "# ASSIGNMENT CONFIG":
        raise ValueError(f"{master} does not start with an ASSIGNMENT CONFIG cell")
    return yaml.safe_load(body) or {}


def manual_questions(master: Path) -> dict[str, float]:
    """Questions of a master that its instructor grades by hand (``manual: true``), with their points.

    Read with Otter's own question configuration, so a question counts as manual exactly when
    Otter Assign treats it so. A manual question must state its points: Otter would count it
    as 0, and the instructor's rubric would have nothing to add up to.
    """
    from otter.assign.question_config import QuestionConfig

    manual = {}
    for cell in nbformat.read(master, as_version=4).cells:
        header, _, body = cell.source.strip().partition("\n")
        if cell.cell_type != "raw" or header.strip() != "# BEGIN QUESTION":
            continue
        question = QuestionConfig(yaml.safe_load(body) or {})
        if question.manual:
            if not isinstance(question.points, (int, float)) or question.points <= 0:
                raise ValueError(f"{master}: question {question.name!r} is graded by hand; give it points")
            manual[question.name] = float(question.points)
    return manual


@contextlib.contextmanager
def _quiet():
    """Keep Otter's progress messages and logs out of the build's output."""
    otter_logger = logging.getLogger("otter")
    level = otter_logger.level
    otter_logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        otter_logger.setLevel(level)
