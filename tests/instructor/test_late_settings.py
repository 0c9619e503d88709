"""Due dates and late rules as settings of the course's lesson (course.yaml's ``lessons``
section), each overridden by the grading command's option of the same name, and a bad setting
refused with one line naming its key. No kernel runs: results are built here."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dlcourse.cli import main
from dlcourse.course import Course
from dlcourse.course_config import CourseConfigError
from dlcourse.grading.late import LateSettings
from dlcourse.grading.outputs import write_outputs
from dlcourse.grading.rows import OutputSettings
from helpers.paths import ROOT
from helpers.gradebooks import canvas_like, read_rows

OFFERING = """\
toolkit_url: https://courses.example.edu/deep-learning/dlcourse-0.1.0-py3-none-any.whl
lessons:
  dense-mnist:
    due: 2026-03-01T23:59+00:00
    grace: 15m
    late_penalty: 10%/day
    late_cap: 50
    extensions: extensions.csv
"""


def course_with(tmp_path: Path, course_yaml: str) -> Course:
    """A course of one lesson (dense-mnist's settings) whose course.yaml is ``course_yaml``."""
    root = tmp_path / "course"
    (root / "assignments" / "dense-mnist").mkdir(parents=True)
    shutil.copy(ROOT / "assignments" / "dense-mnist" / "lesson.yaml", root / "assignments" / "dense-mnist")
    (root / "course.yaml").write_text(course_yaml)
    (root / "extensions.csv").write_text("student,days\n1003,2\n")
    return Course(root)


def test_the_courses_late_rule_applies_without_options(tmp_path):
    course = course_with(tmp_path, OFFERING)
    late = course.late_settings("dense-mnist").overridden_by(LateSettings()).policy()
    assert (late.grace_seconds, late.penalty_percent, late.unit, late.cap_percent) == (900, 10, "day", 50)
    assert "1003" in late.extensions, "the extensions file, found beside course.yaml"
    found, results = canvas_like(tmp_path)
    write_outputs(tmp_path, found, results, OutputSettings(late=late))
    alan = {r["student"]: r for r in read_rows(tmp_path / "gradebook.csv")}["1002"]
    # Canvas marks Alan LATE without a time: one day at the course's 10% of 8 points
    assert (alan["raw"], alan["late"], alan["penalty_percent"], alan["penalty"], alan["final"]) \
        == ("4", "marked late, no time given", "10", "0.8", "3.2")
    assert alan["submitted_at"] == "", "Canvas's download carries no submission time: the file's is not shown as one"
    assert "<td>1 day</td>" in (tmp_path / "report.html").read_text(), "the report says what a unit charged is"


def test_an_option_overrides_the_courses_key_of_the_same_name(tmp_path):
    course = course_with(tmp_path, OFFERING)
    options = LateSettings(late_penalty="25%/day", due="2026-03-08T23:59+00:00")
    late = course.late_settings("dense-mnist").overridden_by(options).policy()
    assert (late.penalty_percent, late.due.day) == (25, 8), "the options given"
    assert (late.grace_seconds, late.cap_percent) == (900, 50), "the course's, where no option is given"
    found, results = canvas_like(tmp_path)
    write_outputs(tmp_path, found, results, OutputSettings(late=late))
    alan = {r["student"]: r for r in read_rows(tmp_path / "gradebook.csv")}["1002"]
    assert (alan["penalty_percent"], alan["final"]) == ("25", "2")


def test_a_course_without_late_rules_has_no_policy(tmp_path):
    course = course_with(tmp_path, "toolkit_url: https://x.edu/dlcourse-0.1.0-py3-none-any.whl\n")
    assert course.late_settings("dense-mnist").policy() is None
    with pytest.raises(ValueError, match="need a due date"):
        LateSettings(extensions=tmp_path / "course" / "extensions.csv").policy()


@pytest.mark.parametrize("line, key, words", [
    ("    late_penalty: ten percent\n", "lessons.dense-mnist.late_penalty", "10%/day"),
    ("    penalty: 10%/day\n", "lessons.dense-mnist.penalty", "unknown key"),
    ("    due: 2026-03-01\n", "lessons.dense-mnist.due", "no time of day"),
    ("    due: tomorrow\n", "lessons.dense-mnist.due", "ISO 8601"),
    ("    grace: soon\n", "lessons.dense-mnist.grace", "15m"),
    ("    late_cap: 150\n", "lessons.dense-mnist.late_cap", "100"),
    ("    extensions: nowhere.csv\n", "lessons.dense-mnist.extensions", "no file"),
])
def test_a_bad_setting_is_refused_naming_its_key(tmp_path, line, key, words):
    course = course_with(tmp_path, "lessons:\n  dense-mnist:\n" + line)
    with pytest.raises(CourseConfigError) as refused:
        course.late_settings("dense-mnist")
    message = str(refused.value)
    assert key in message and words in message and "\n" not in message


def test_a_lesson_the_course_lacks_is_refused(tmp_path):
    course = course_with(tmp_path, "lessons:\n  dense-mnst:\n    due: 2026-03-01T23:59\n")
    with pytest.raises(CourseConfigError, match=r"lessons\.dense-mnst: no such lesson \(lessons: dense-mnist\)"):
        course.config()


def test_grade_and_build_stop_on_a_bad_setting_with_one_line(tmp_path, capsys):
    course = course_with(tmp_path, "lessons:\n  dense-mnist:\n    late_penalty: 10%/week\n")
    assert main(["--course", str(course.root), "grade", "--lesson", "dense-mnist", str(tmp_path)]) == 2
    assert main(["--course", str(course.root), "build", "--check"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and all("lessons.dense-mnist.late_penalty" in line for line in lines)
