"""What a TA found walking docs/instructors.md through a Canvas and a Moodle download, each
kept fixed: results are built here (no kernel runs)."""

from __future__ import annotations

import datetime as dt

from dlcourse.grading.inputs import Entry, Student
from dlcourse.grading.late import LatePolicy, read_extensions

DUE = dt.datetime(2026, 3, 1, 23, 59, tzinfo=dt.timezone.utc)


def test_a_late_mark_without_a_time_respects_an_extension(tmp_path):
    extended = Student("104388", "Ada Lovelace", sid="104388")
    other = Student("104389", "Alan Turing", sid="104389")
    extensions = tmp_path / "extensions.csv"
    extensions.write_text("student,days\n104388,2\n")
    policy = LatePolicy(DUE, penalty_percent=10, extensions=read_extensions(extensions, DUE))
    marked = policy.assess(extended, Entry(tmp_path / "a", "a", [extended], "", late=True, layout="canvas"))
    assert (marked.units, marked.penalty_percent) == (0, 0), "Canvas's LATE may be against the lesson's due date"
    assert "extended to 2026-03-03T23:59" in marked.note and "no late penalty" in marked.note
    plain = policy.assess(other, Entry(tmp_path / "b", "b", [other], "", late=True, layout="canvas"))
    assert (plain.units, plain.penalty_percent) == (1, 10), "without an extension a LATE mark still costs a day"
