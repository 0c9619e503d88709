"""``dlcourse demo``: a lesson's whole life in one command, and offline.

Builds every lesson into a copy of the course's sources under OUT (``OUT/course``: never the
checkout itself, whose generated files may carry an instructor's edits), then grades a small batch made from a lesson's own material: the
reference, the untouched stub and the mistakes marked ``demo`` in mistakes.yaml (a crash
among them). It is one batch through the grader ``dlcourse grade`` runs (real kernels in the
sandbox, Otter's tests in the judge, the same gradebook and report), so its rows are real
grades. Why so small by default: README's first command must finish in about three minutes on
a 2-core machine, install included; the marked mistakes use the reference weights or none,
so nothing is trained. Naming lessons, or ``--all``, grades every mistake of those lessons
(the whole tour: minutes per lesson, untrained weights made by running the edited notebook).

Without the full datasets it uses the small sample bundled with the package, so it runs on a
fresh machine without internet.
"""

from __future__ import annotations

import shlex
import shutil
from dataclasses import dataclass
from textwrap import shorten
from pathlib import Path

from .course import COURSE_FILE, Course
from .grading.batch import grade_batch
from .grading.collect import CollectOptions
from .grading.preflight import PreflightProblem, check_data, is_sample
from .grading.result import GradeResult
from .grading.rows import OutputSettings
from .grading.safe_text import terminal
from .lesson import Lesson
from .release import build
from .sample_submissions import Mistake, load_mistakes, mistake_submission, reference_submission, stub_submission
from .settings import SAMPLE_DIR, data_dir


# The bundled sample's test sets (dlcourse/sample_data; a test reads the files' own counts).
SAMPLE_TEST_IMAGES = {"MNIST": 1000, "CIFAR-10": 500}


@dataclass(frozen=True)
class DemoBatch:
    """One lesson's submissions in the demo: the reference, the stub and ``mistakes``."""

    lesson: Lesson
    mistakes: list[Mistake]


def plan(course: Course, lessons: list[str] | None = None, every: bool = False) -> list[DemoBatch]:
    """What the demo grades. Default: the lessons whose mistakes.yaml marks mistakes ``demo``
    (else the first lesson), with those mistakes. ``lessons`` named, or ``every``: those lessons
    (default all), each with every mistake. Lessons without reference weights are left out:
    their reference could not be submitted."""
    ready = [lesson for lesson in course.lessons(lessons) if course.reference_weights(lesson).is_file()]
    if lessons or every:
        return [DemoBatch(lesson, load_mistakes(lesson)) for lesson in ready]
    marked = [DemoBatch(lesson, [m for m in load_mistakes(lesson) if m.demo]) for lesson in ready]
    return [batch for batch in marked if batch.mistakes] or [DemoBatch(lesson, []) for lesson in ready[:1]]


def run_demo(course: Course, out: Path, workers: int | None = None, lessons: list[str] | None = None,
             every: bool = False) -> dict[str, list[GradeResult]]:
    """Build into a copy of the course under ``out`` (see :func:`course_copy`), then grade each
    planned batch with the zips built there into ``out/<lesson>/grades``; the results by lesson id."""
    course = course_copy(course, out / "course")
    print(f"1. Building the lessons into a copy of the course, {course.root} (Otter Assign -> student_template/, "
          f"autograder/, solutions/; the checkout's own files are left as they are)")
    for path in build(course, lessons):
        print(f"   wrote {path.relative_to(course.root)}")
    batches = plan(course, lessons, every)
    data = _choose_data([batch.lesson for batch in batches])
    graded: dict[str, list[GradeResult]] = {}
    for number, batch in enumerate(batches, start=2):
        lesson = batch.lesson
        print(f"\n{number}. {lesson.id}: its reference, its untouched stub and {len(batch.mistakes)} of its typical "
              f"mistakes (mistakes.yaml), graded in one batch as `dlcourse grade` grades a class")
        submissions, grades = out / lesson.id / "submissions", out / lesson.id / "grades"
        shutil.rmtree(submissions, ignore_errors=True)   # an earlier run's others (--all) are not this batch's
        for path, description in _prepare(course, batch, submissions, data):
            print(f"   prepared {path.name}: {terminal(description)}")
        summary = grade_batch(course.autograder_zip(lesson.id), submissions, grades, workers=workers,
                              progress=False, data=data,
                              collect_options=CollectOptions(settings=_settings(course, lesson)))
        graded[lesson.id] = sorted(summary.results.values(), key=lambda r: r.submission)
        _print_table(graded[lesson.id])
        enforced = sorted({e for r in graded[lesson.id] for e in r.enforced})
        if enforced:
            print(f"\n   sandbox: {', '.join(enforced)}")
        for warning in summary.warnings:
            print(f"   WARNING: {terminal(warning)}")
        note = shared_weights_note(batch)
        if note:
            print(f"   note: {note}")
        print(f"   gradebook: {grades / 'gradebook.csv'}\n   report:    {grades / 'report.html'}\n"
              f"   feedback:  {grades / 'feedback'} (a page per submission, as students get them)\n"
              f"   the same batch through `dlcourse grade`: {regrade_command(course, lesson, submissions, data, out)}")
    if not (lessons or every):
        print("\nEvery lesson with every typical mistake (minutes per lesson): dlcourse demo --all")
    print("\nNext: open the report and the feedback pages above; then grade your own class's submissions with "
          "`dlcourse grade FOLDER --lesson LESSON` (README, \"For instructors and TAs\")")
    return graded


def course_copy(course: Course, target: Path) -> Course:
    """A copy of the course's sources (course.yaml, assignments/, solutions/ with the reference
    weights) at ``target``, replacing an earlier run's: the demo builds there, so the checkout's
    generated files, and any hand edit to them, stay as they are."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    shutil.copy2(course.root / COURSE_FILE, target)
    for folder in ("assignments", "solutions"):
        if (course.root / folder).is_dir():
            shutil.copytree(course.root / folder, target / folder)
    return Course(target)


def shared_weights_note(batch: DemoBatch) -> str | None:
    """Why the report flags the demo's own submissions: its mistakes that submit the reference's
    weights share them byte for byte with the reference, so the copy check lists them as possible
    copies and their accuracy rows agree. None when no mistake of ``batch`` does."""
    shared = [f"{m.name}.zip" for m in batch.mistakes if m.weights == "reference"]
    if not shared:
        return None
    return (f"{', '.join(shared)} submit the reference's weights, so the report lists them with reference.zip "
            f"under \"Possible copies\" (identical weights) and their accuracies are the same: the copy check "
            f"working as intended on demo submissions, not a grading fault")


def regrade_command(course: Course, lesson: Lesson, submissions: Path, data: Path, out: Path) -> str:
    """The ``dlcourse grade`` command that grades the demo's batch of ``lesson`` again, on the
    data the demo used (the bundled sample is named: it is no data folder a course configures)."""
    words = ["dlcourse", "--course", str(course.root), "grade", str(submissions), "--lesson", lesson.id,
             *(["--data", str(data)] if is_sample(data) else []), "--out", str(out / lesson.id / "regraded")]
    return shlex.join(words)


def _choose_data(lessons: list[Lesson]) -> Path:
    """The data directory, if it holds every dataset the lessons need; else the bundled sample."""
    configured = data_dir()
    try:
        for lesson in lessons:
            check_data(lesson, configured)   # the files' presence: no dataset is read here
        print(f"\n   datasets: {configured}")
        return configured
    except PreflightProblem as problem:
        print(f"\n   datasets: {problem}\n   so the bundled sample is used ({SAMPLE_DIR}); "
              f"accuracies are measured on its small test sets ("""
              f"{', '.join(f'{name}: {count:,} images' for name, count in SAMPLE_TEST_IMAGES.items())})")
        return SAMPLE_DIR


def _prepare(course: Course, batch: DemoBatch, folder: Path, data: Path) -> list[tuple[Path, str]]:
    """The batch's submissions, each with what it is (a mistake: its mistakes.yaml description)."""
    lesson = batch.lesson
    return [(reference_submission(course, lesson, folder), "the reference solution with its trained weights"),
            (stub_submission(course, lesson, folder), "the student notebook as handed out, nothing filled in"),
            *((mistake_submission(course, lesson, mistake, folder, data), mistake.description)
              for mistake in batch.mistakes)]


def _settings(course: Course, lesson: Lesson) -> OutputSettings:
    """What ``dlcourse grade --lesson`` gives the gradebook and report of a lesson (cli._grade)."""
    template = course.student_dir(lesson.id) / lesson.notebook
    return OutputSettings(lesson_title=lesson.title, accuracy_target=lesson.accuracy_threshold,
                          weights_file=lesson.weights or "", template=template if template.is_file() else None,
                          assignment=lesson.id)


def _print_table(rows: list[GradeResult]) -> None:
    """A row per submission: status, score, and the reason or else the questions that lost points
    (terminal(): a crash's message quotes the student's code)."""
    width = max((len(r.submission) for r in rows), default=10)
    print(f"\n   {'submission':<{width}}  {'status':<16} {'score':>7}  reason, or the questions that lost points")
    for r in rows:
        lost = ", ".join(f"{q.name} {q.score:g}/{q.possible:g}" for q in r.questions.values() if q.score < q.possible)
        why = r.reason or (f"lost: {lost}" if lost else "")
        print(f"   {terminal(r.submission):<{width}}  {r.status:<16} {r.score:>3g}/{r.possible:<3g}  "
              f"{shorten(terminal(why), 90, placeholder=' ...')}")
