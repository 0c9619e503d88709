"""A lesson is data: a fifth lesson made of a master notebook and a lesson.yaml only
(tests/fixtures/tiny-mnist, one linear layer on the bundled MNIST sample, and a design task:
the student's own network, saved as data) is built, trained and graded by the toolkit as it
is, with no code that knows its name."""

from __future__ import annotations

import shutil

import pytest

from dlcourse.cli import main
from dlcourse.course import Course
from dlcourse.grading.batch import grade_batch
from dlcourse.sample_submissions import reference_submission, stub_submission
from helpers.paths import ROOT, on_sample_data

FIXTURE = ROOT / "tests" / "fixtures" / "tiny-mnist"


@pytest.mark.slow
def test_a_fifth_lesson_from_a_master_and_a_lesson_yaml_builds_and_grades(tmp_path):
    root = tmp_path / "course"
    shutil.copytree(FIXTURE, root / "assignments" / "tiny-mnist")
    shutil.copy(ROOT / "course.yaml", root)  # the course's own settings (where students install the toolkit)
    assert sorted(p.name for p in (root / "assignments" / "tiny-mnist").iterdir()) == ["lesson.yaml", "tiny-mnist.ipynb"]
    with on_sample_data():
        assert main(["--course", str(root), "build"]) == 0
        assert main(["--course", str(root), "train", "tiny-mnist"]) == 0  # runs the solution with all its tests
        course = Course(root)
        lesson = course.lesson("tiny-mnist")
        submissions = tmp_path / "submissions"
        reference_submission(course, lesson, submissions)
        stub_submission(course, lesson, submissions)
        summary = grade_batch(course.autograder_zip(lesson.id), submissions, tmp_path / "grades",
                              workers=2, progress=False)
    results = {r.submission.rsplit(".", 1)[0]: r for r in summary.results.values()}
    reference, stub = results["reference"], results["untouched-stub"]
    assert reference.status == "ok" and reference.score == reference.possible == 10, \
        {q.name: (q.score, q.verification) for q in reference.questions.values()}
    # the design task: the student's own network, rebuilt from design.json and measured from design.pt
    assert "25,450 parameters (budget 30,000)" in reference.questions["own_network"].verification
    assert stub.score == 0 and stub.status == "missing-weights"
    assert {q.name for q in stub.questions.values()} == {"prepare", "model", "accuracy", "own_network"}
    assert "design.json and design.pt were not submitted" in stub.questions["own_network"].verification
