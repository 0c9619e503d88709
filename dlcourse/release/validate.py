"""The build's cross-checks: a lesson's facts live in lesson.yaml, the master's assignment
config, its text and its tests; the build stops when they disagree.

Each problem is a LessonConfigError naming the file to fix, in one line:

- the assignment config's ``name`` is the lesson id, and its ``student_files`` hold every
  weights file a submission must carry (this lesson's and its baseline's);
- the baseline lesson exists;
- the network lesson.yaml describes can be built: every layer a ``torch.nn`` class, with
  arguments it accepts (else every grading would fail in the judge);
- every target the text states ("The target is 95%", or a percentage in bold) is the
  lesson's ``accuracy_threshold``, and a lesson with a threshold states it;
- every verified question is a question of the master;
- a question whose tests call a weights-measured check is verified in that check's role:
  while grading, those checks only load the weights and the clean room measures them, so
  an unverified question would get its points for weights that merely load.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from ..grading.manifest import Manifest
from ..lesson import LESSON_FILE, Lesson
from ..lesson_config import LessonConfigError
from .assign import assignment_config

# Checks that, while grading, only load the weights (the clean room measures) -> their role.
WEIGHTS_MEASURED = {"check_accuracy": "accuracy", "check_gap": "gap", "check_design": "design"}
STATED_TARGET = re.compile(r"target is \**\s*(\d+(?:\.\d+)?)\s*%", re.IGNORECASE)
BOLD = re.compile(r"\*\*([^*]+)\*\*")
PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")


def check_sources(lesson: Lesson) -> None:
    """The checks that need only the sources (run before Otter Assign)."""
    master = lesson.directory / lesson.notebook
    config = assignment_config(master)
    if config.get("name") != lesson.id:
        _fail(master, f"the assignment config's name is {config.get('name')!r}, but the lesson id "
                      f"(in {LESSON_FILE}) is {lesson.id!r}")
    student_files = config.get("student_files") or []
    if lesson.baseline and not (lesson.directory.parent / lesson.baseline / LESSON_FILE).is_file():
        _fail(lesson.directory / LESSON_FILE, f"baseline lesson {lesson.baseline!r} is not in {lesson.directory.parent}")
    for name in lesson.submitted_files + lesson.design_files:
        if name not in student_files:
            _fail(master, f"submitted file {name!r} is not among the assignment config's student_files "
                          f"{student_files}: students could not submit it")
    problem = target_problem(lesson, lesson_text(master))
    if problem:
        _fail(master, problem)
    problem = architecture_problem(lesson)
    if problem:
        _fail(lesson.directory / LESSON_FILE, problem)


def architecture_problem(lesson: Lesson) -> str | None:
    """Why the network in lesson.yaml cannot be built, if it cannot (one line)."""
    if lesson.architecture is None:
        return None
    from torch import nn

    for layer in lesson.architecture.layers:
        if not isinstance(getattr(nn, layer.kind, None), type):
            return f"architecture layer {layer.kind!r} is not a torch.nn layer (names are case-sensitive: ReLU, Conv2d)"
    try:
        lesson.architecture.build()
    except Exception as error:  # wrong arguments, shapes that do not chain: torch's own message
        return f"the architecture cannot be built: {type(error).__name__}: {' '.join(str(error).split())[:300]}"
    return None


def check_tests(lesson: Lesson, manifest: Manifest, autograder: Path) -> None:
    """The checks that need the tests Otter Assign wrote into ``autograder/tests``."""
    lesson_file = lesson.directory / LESSON_FILE
    for role, name in lesson.verified_questions.items():
        if name not in manifest.points:
            _fail(lesson_file, f"verified question {name!r} ({role}) is not a question of {lesson.notebook}")
    for question in manifest.questions:
        source = (autograder / question.file).read_text()
        for check, role in WEIGHTS_MEASURED.items():
            if re.search(rf"\b{check}\s*\(", source) and lesson.verified_questions.get(role) != question.name:
                _fail(lesson_file, f"question {question.name!r} calls {check}, which only loads the weights "
                                   f"while grading: list it as verified_questions: {{{role}: {question.name}}}")


def lesson_text(master: Path) -> str:
    """All of a master's prose, in one string."""
    return "\n\n".join(c.source for c in nbformat.read(master, as_version=4).cells if c.cell_type == "markdown")


def stated_targets(text: str) -> list[float]:
    """The percentages ``text`` states as the target: "target is X%" and every bold percentage."""
    bold = [figure for span in BOLD.findall(text) for figure in PERCENT.findall(span)]
    return [float(figure) for figure in STATED_TARGET.findall(text) + bold]


def target_problem(lesson: Lesson, text: str) -> str | None:
    """Why the text's stated targets disagree with ``accuracy_threshold``, or None."""
    stated = stated_targets(text)
    if lesson.accuracy_threshold is None:
        return f"the text states a target of {stated[0]:g}%, but {LESSON_FILE} has no accuracy_threshold" \
            if stated else None
    threshold = 100 * lesson.accuracy_threshold
    if not stated:
        return f"the text never states the target (\"The target is {threshold:g}%\")"
    wrong = [figure for figure in stated if abs(figure - threshold) > 1e-6]
    if wrong:
        return f"the text states a target of {wrong[0]:g}%, but {LESSON_FILE}'s accuracy_threshold is {threshold:g}%"
    return None


def _fail(path: Path, problem: str) -> None:
    raise LessonConfigError(f"{path}: {problem}")
