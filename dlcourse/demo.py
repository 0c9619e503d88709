"""``dlcourse demo``: a lesson's whole life in one command, and offline.

Builds every lesson, prepares submissions from the lessons' own material (the reference,
the untouched stub, the mistakes marked ``demo`` in mistakes.yaml), grades them exactly as
an instructor's batch would, and prints the gradebooks. Without the full datasets it uses
the small sample bundled with the package, so it runs on a fresh machine without internet.
"""

from __future__ import annotations

from pathlib import Path

from .release import build
from .course import Course
from .data import DataNotFoundError
from .settings import SAMPLE_DIR, data_dir
from .grading.batch import grade_batch
from .datasets import dataset_class
from .lesson import Lesson
from .sample_submissions import load_mistakes, mistake_submission, reference_submission, stub_submission


def run_demo(course: Course, out: Path, workers: int | None = None, lessons: list[str] | None = None) -> None:
    print("1. Building the lessons (Otter Assign -> student_template/, autograder/, solutions/)")
    for path in build(course, lessons):
        print(f"   wrote {path.relative_to(course.root)}")
    chosen = [lesson for lesson in course.lessons(lessons) if course.reference_weights(lesson).is_file()]
    data = _choose_data(chosen)
    for number, lesson in enumerate(chosen, start=2):
        print(f"\n{number}. {lesson.id}: preparing submissions and grading them")
        submissions = out / lesson.id / "submissions"
        _prepare(course, lesson, submissions, data)
        summary = grade_batch(course.autograder_zip(lesson.id), submissions, out / lesson.id / "grades",
                              workers=workers, progress=False, data=data)
        _print_table(summary.results.values())
        print(f"   gradebook: {out / lesson.id / 'grades' / 'gradebook.csv'}")


def _choose_data(lessons: list[Lesson]) -> Path:
    """The data directory, if it holds every dataset the lessons need; else the bundled sample."""
    configured = data_dir()
    try:
        for lesson in lessons:
            for train in (True, False):
                dataset_class(lesson.dataset)(configured, train=train, download=False)
        print(f"\n   datasets: {configured}")
        return configured
    except DataNotFoundError:
        print(f"\n   datasets: not in {configured}, so the bundled sample is used ({SAMPLE_DIR});\n"
              f"   accuracies are measured on its few hundred test images")
        return SAMPLE_DIR


def _prepare(course: Course, lesson: Lesson, folder: Path, data: Path) -> None:
    made = [reference_submission(course, lesson, folder), stub_submission(course, lesson, folder)]
    for mistake in load_mistakes(lesson):
        if mistake.demo:
            made.append(mistake_submission(course, lesson, mistake, folder, data))
    for path in made:
        print(f"   prepared {path.name}")


def _print_table(results) -> None:
    rows = sorted(results, key=lambda r: r.submission)
    width = max((len(r.submission) for r in rows), default=10)
    print(f"\n   {'submission':<{width}}  {'status':<16} {'score':>9}  reason")
    for r in rows:
        score = f"{r.score:g}/{r.possible:g}"
        print(f"   {r.submission:<{width}}  {r.status:<16} {score:>9}  {r.reason[:90]}")
