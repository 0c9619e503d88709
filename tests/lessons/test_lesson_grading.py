"""Every lesson, graded for real: reference full marks, untouched stub zero, each typical
mistake partial with a message that names it, and the reference weights over the target on
the full test set.

Submissions are graded through the same batch grader instructors use, on the bundled
sample data (accuracy targets on the full data are checked separately, from the weights).
"""

from __future__ import annotations

import pytest

from dlcourse.course import Course
from dlcourse.grading.batch import grade_batch
from dlcourse.grading.cleanroom import verify
from dlcourse.sample_submissions import load_mistakes, mistake_submission, reference_submission, stub_submission
from helpers.paths import ROOT, data_dir_set_to, on_sample_data

COURSE = Course(ROOT)
LESSONS = [i for i in COURSE.lesson_ids() if COURSE.reference_weights(COURSE.lesson(i)).is_file()]
CASES = [(lesson_id, m.name) for lesson_id in LESSONS for m in load_mistakes(COURSE.lesson(lesson_id))]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]  # the shared fixture grades every lesson's mistakes (~15 min)


class Graded:
    """lesson id -> submission name (without suffix) -> GradeResult, each lesson graded when a
    test first asks for it: `-k cifar-cnn` grades that lesson's submissions only."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp_path_factory = tmp_path_factory
        self._results: dict[str, dict] = {}

    def __getitem__(self, lesson_id: str) -> dict:
        if lesson_id not in self._results:
            self._results[lesson_id] = self._grade(lesson_id)
        return self._results[lesson_id]

    def _grade(self, lesson_id: str) -> dict:
        lesson = COURSE.lesson(lesson_id)
        folder = self._tmp_path_factory.mktemp(f"{lesson_id}-submissions")
        with on_sample_data():
            reference_submission(COURSE, lesson, folder)
            stub_submission(COURSE, lesson, folder)
            for mistake in load_mistakes(lesson):
                mistake_submission(COURSE, lesson, mistake, folder)
            summary = grade_batch(COURSE.autograder_zip(lesson_id), folder,
                                  self._tmp_path_factory.mktemp(f"{lesson_id}-grades"), workers=2, progress=False)
        return {r.submission.rsplit(".", 1)[0]: r for r in summary.results.values()}


@pytest.fixture(scope="session")
def graded(tmp_path_factory):
    return Graded(tmp_path_factory)


@pytest.mark.parametrize("lesson_id", LESSONS)
def test_reference_scores_full_marks(graded, lesson_id):
    result = graded[lesson_id]["reference"]
    assert result.status == "ok", result.reason
    assert result.score == result.possible > 0, {q.name: q.score for q in result.questions.values()}
    assert not result.flags


@pytest.mark.parametrize("lesson_id", LESSONS)
def test_untouched_stub_scores_zero_everywhere(graded, lesson_id):
    result = graded[lesson_id]["untouched-stub"]
    assert {q.name: q.score for q in result.questions.values()} == {q: 0 for q in result.questions}
    assert result.status == "missing-weights"
    assert not result.flags  # an empty notebook is not an attack


@pytest.mark.parametrize("lesson_id, mistake_name", CASES)
def test_typical_mistake_scores_partially_and_is_named(graded, lesson_id, mistake_name):
    mistake = next(m for m in load_mistakes(COURSE.lesson(lesson_id)) if m.name == mistake_name)
    result = graded[lesson_id][mistake_name]
    expect = mistake.expect
    assert result.status == expect["status"], result.reason
    assert 0 < result.score < result.possible, f"{mistake_name}: {result.score}/{result.possible}"
    if "reason" in expect:
        assert expect["reason"] in result.reason
    for name, phrase in expect.get("lose", {}).items():
        question = result.questions[name]
        assert question.score < question.possible, f"{name} should lose points for {mistake_name}"
        messages = [t.message for t in question.tests if not t.passed]
        assert any(phrase in m for m in messages), f"{name}: no message names the mistake: {messages}"
    assert not result.flags, result.flags


@pytest.mark.parametrize("lesson_id", LESSONS)
def test_reference_weights_meet_the_target_on_the_full_test_set(real_data, lesson_id):
    lesson = COURSE.lesson(lesson_id)
    with data_dir_set_to(real_data):
        verdict = verify(lesson, COURSE.reference_weights(lesson))
    assert verdict.fits_lesson, verdict.weights_problem
    assert verdict.accuracy >= lesson.accuracy_threshold, f"{verdict.accuracy:.2%}"
