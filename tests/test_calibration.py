"""Calibration resumes from what solutions/calibration.json holds, and retrains it on request
(after a lesson's network or recipe changed, the recorded runs measure the old recipe). The
training itself is replaced here by a recorder: the real runs are minutes each."""

import shutil

import pytest

from dlcourse import calibration
from dlcourse.calibration import Run, load, record
from dlcourse.course import Course

LESSON = "dense-mnist"


@pytest.fixture
def scratch(course, tmp_path, monkeypatch):
    """A course with one lesson and a recorded seed-0 run; returns it and the seeds trained."""
    shutil.copytree(course.assignments / LESSON, tmp_path / "assignments" / LESSON)
    (tmp_path / "solutions").mkdir()
    scratch_course = Course(tmp_path)
    lesson = scratch_course.lesson(LESSON)
    record(scratch_course, lesson, Run("correct", 0, accuracy=0.90, seconds_per_epoch=[1.0]))
    trained = []

    def train(course, lesson, seed):
        trained.append(seed)
        return Run("correct", seed, accuracy=0.97, seconds_per_epoch=[1.0])

    monkeypatch.setattr(calibration, "_correct", train)
    return scratch_course, lesson, trained


def test_calibrate_trains_only_the_runs_not_recorded(scratch):
    course, lesson, trained = scratch
    calibration.calibrate(course, lesson, seeds=[0, 1], wrong=False)
    assert trained == [1]
    assert [r.accuracy for r in load(course)[LESSON]] == [0.90, 0.97]


def test_calibrate_again_retrains_recorded_runs(scratch):
    course, lesson, trained = scratch
    calibration.calibrate(course, lesson, seeds=[0, 1], wrong=False, again=True)
    assert trained == [0, 1]
    assert [r.accuracy for r in load(course)[LESSON]] == [0.97, 0.97]
    assert "min **97.00%**" in (course.root / "solutions" / "CALIBRATION.md").read_text()
