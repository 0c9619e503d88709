"""What a TA found walking docs/instructors.md through a Canvas and a Moodle download, each
kept fixed: results are built here (no kernel runs)."""

from __future__ import annotations

import csv
import datetime as dt
import random
import shutil
from dataclasses import replace

import pytest

from dlcourse.cli import main
from dlcourse.course import Course
from dlcourse.course_config import CourseConfigError
from dlcourse.grading.answer_sheet import SHEET_CSV, read_hand_grades
from dlcourse.grading.inputs import Discovery, Entry, Student
from dlcourse.grading.late import LatePolicy, LateSettings, read_extensions
from dlcourse.grading.outputs import write_outputs
from dlcourse.grading.rows import HandGrade, OutputSettings
from dlcourse.grading.similarity import who
from helpers.gradebooks import canvas_like, read_rows
from helpers.paths import ROOT

DUE = dt.datetime(2026, 3, 1, 23, 59, tzinfo=dt.timezone.utc)


def course_with(tmp_path, course_yaml: str) -> Course:
    """A course of one lesson (dense-mnist's settings) whose course.yaml is ``course_yaml``."""
    root = tmp_path / "course"
    (root / "assignments" / "dense-mnist").mkdir(parents=True)
    shutil.copy(ROOT / "assignments" / "dense-mnist" / "lesson.yaml", root / "assignments" / "dense-mnist")
    (root / "course.yaml").write_text(course_yaml)
    return Course(root)


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


def fill_sheet(path, points: dict[str, str]) -> None:
    rows = read_rows(path)
    for row in rows:
        row["points"] = points.get(row["student"], "")
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_a_rerun_without_hand_grades_keeps_the_filled_sheet(tmp_path):
    found, results = canvas_like(tmp_path)
    write_outputs(tmp_path, found, results, OutputSettings())
    fill_sheet(tmp_path / SHEET_CSV, {"1001": "2", "1002": "1"})
    warnings = write_outputs(tmp_path, found, results, OutputSettings())   # no --hand-grades
    assert any("2 hand-graded row(s)" in w and "merged" in w for w in warnings), warnings
    sheet = {r["student"]: r["points"] for r in read_rows(tmp_path / SHEET_CSV)}
    assert (sheet["1001"], sheet["1002"]) == ("2", "1"), "the typed points are still in the sheet"
    ada = next(r for r in read_rows(tmp_path / "gradebook.csv") if r["student"] == "1001")
    assert (ada["hand"], ada["final"]) == ("2", "10")
    (tmp_path / SHEET_CSV).write_text("student,question,possible,points\n1001,more_epochs,2,seven\n")
    warnings = write_outputs(tmp_path, found, results, OutputSettings())
    assert any("moved to written-answers.kept-1.csv" in w for w in warnings), warnings
    assert "seven" in (tmp_path / "written-answers.kept-1.csv").read_text(), "an unreadable sheet is kept, not overwritten"


def test_identical_weights_uploaded_as_separate_or_renamed_files_are_one_row_per_pair(tmp_path):
    import nbformat

    from dlcourse.grading.similarity import find_copies

    weights = random.Random(0).randbytes(5000)
    ada, bob, cyd = Student("1001", "Ada Lovelace"), Student("1002", "Bob Byte"), Student("1003", "Cyd C")

    def flat(student: Student, weights_name: str, blob: bytes, code: str) -> Entry:
        """Canvas's flat files of one student: the notebook and the weights, each its own file."""
        folder = tmp_path / student.key
        folder.mkdir()
        notebook = folder / f"x_{student.key}_1_dense-mnist.ipynb"
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)]), notebook)
        (folder / "w").write_bytes(blob)
        return Entry(notebook, notebook.name, [student], layout="canvas",
                     members={"dense-mnist.ipynb": notebook, weights_name: folder / "w"})

    entries = [flat(ada, "dense_mnist.pt", weights, "a = 1"), flat(bob, "dense_mnist (1).pt", weights, "b = 2"),
               flat(cyd, "dense_mnist.pt", random.Random(1).randbytes(5000), "c = 3")]
    entries.append(replace(flat(Student("1002b"), "dense_mnist.pt", weights, "b = 3"), students=[bob]))
    copies = find_copies(Discovery(entries, []), {}, weights_file="dense_mnist.pt")
    assert [(who(c.a), who(c.b), c.kinds) for c in copies] == \
        [("Ada Lovelace (1001)", "Bob Byte (1002)", ("identical-weights",))], "one row per pair of students"
    write_outputs(tmp_path, Discovery(entries, []), {}, OutputSettings(weights_file="dense_mnist.pt"))
    rows = read_rows(tmp_path / "copies.csv")
    assert [(r["students_a"], r["students_b"], r["kinds"]) for r in rows] == \
        [("Ada Lovelace (1001)", "Bob Byte (1002)", "identical-weights")]


def test_a_sheet_of_strangers_and_blank_rows_is_said_and_ungraded_is_not_zero(tmp_path):
    found, results = canvas_like(tmp_path)
    sheet = tmp_path / "hand.csv"
    sheet.write_text("student,question,possible,points,comment\n1001,more_epochs,2,2,\n1002,more_epochs,2,,\n"
                     "5001,more_epochs,2,1,\n5002,more_epochs,2,2,\n")
    warnings = write_outputs(tmp_path, found, results, OutputSettings(hand=read_hand_grades(sheet)))
    said = [w for w in warnings if w.startswith("hand grades:")]
    assert len(said) == 1 and "2 row(s) match no student of this batch (5001, 5002)" in said[0], warnings
    assert "2 written answer(s) not graded yet" in said[0], "Alan's blank row and Grace's absent one"
    pages = [p.read_text() for p in sorted((tmp_path / "feedback").glob("*/feedback.html"))]
    alan, ada = (next(page for page in pages if name in page) for name in ("Alan Turing", "Ada Lovelace"))
    assert '<th>graded by hand</th><td id="by-hand">2 / 2</td>' in ada
    assert '<th>graded by hand</th><td id="by-hand">not graded yet (2 points)</td>' in alan and "0 / 2" not in alan


def test_before_the_hand_grades_a_students_page_and_results_say_what_is_still_to_be_graded(tmp_path):
    """8 autograded points and 2 by hand: a full autograded score reads 8 of 10 so far, not 8 / 8."""
    from dlcourse.grading.feedback import page_context

    found, results = canvas_like(tmp_path)
    write_outputs(tmp_path, found, results, OutputSettings())
    ada = (tmp_path / "feedback" / "1001" / "feedback.html").read_text()
    assert "8 graded by the autograder and 2 graded by hand" in ada and "worth 10 points" in ada
    assert '<td id="autograded">8 / 8</td>' in ada
    assert '<td id="by-hand">not graded yet (2 points)</td>' in ada
    assert "<th>score so far</th><td id=\"final\"><strong>8 / 10</strong>" in ada
    assert "2 of the 10 points are graded by hand and not graded yet" in ada
    assert "more_epochs (graded by hand)" in ada and "train longer, it overfits" in ada, "the written answer is shown"
    late = LatePolicy(DUE, penalty_percent=10)
    write_outputs(tmp_path, found, results, OutputSettings(late=late))
    alan = (tmp_path / "feedback" / "1002" / "feedback.html").read_text()
    assert "&minus;10% of the 8 points graded so far = &minus;0.8 points" in alan, "the penalty's base is said"
    assert [r["final"] for r in read_rows(tmp_path / "gradebook.csv")][:1] == ["8"], "the gradebook is as it was"
    row = next(r for r in OutputSettings().rows(found, results) if r.student.key == "1001")
    graded = replace(row, hand_counted=True, hand={"more_epochs": HandGrade(2.0, "")})
    done = page_context(graded, "dense-mnist")
    assert (done["final"], done["possible"], done["hand_pending"]) == (10, 10, 0), "once graded, nothing is pending"
    summary = results[found.entries[0].key].to_gradescope()["output"]
    assert "The autograder grades 8 of this assignment's 10 points; the other 2 (more_epochs) are graded by hand" \
        in summary


def test_the_reports_total_counts_the_hand_points_once_merged(tmp_path):
    found, results = canvas_like(tmp_path)
    write_outputs(tmp_path, found, results, OutputSettings())
    report = (tmp_path / "report.md").read_text()
    assert "(of 8 autograded; the 2 points graded by hand are not in them" in report
    assert "Points possible to set in the LMS: 10." in report, "the full total, whether or not hand grades are in"
    sheet = tmp_path / "hand.csv"
    sheet.write_text("student,question,possible,points\n1001,more_epochs,2,2\n1002,more_epochs,2,1\n"
                     "1003,more_epochs,2,0\n")
    write_outputs(tmp_path, found, results, OutputSettings(hand=read_hand_grades(sheet)))
    for name in ("report.md", "report.html"):
        text = (tmp_path / name).read_text()
        assert "(of 10: 8 autograded + 2 graded by hand, merged)" in text, name
        assert "not in these scores" not in text and "(of 8)" not in text, name
    assert "| more_epochs (by hand, 3 graded) | 1.00 / 2 | 33% |" in (tmp_path / "report.md").read_text()


def test_a_rerun_removes_exports_and_pages_it_did_not_write(tmp_path):
    found, results = canvas_like(tmp_path)
    write_outputs(tmp_path, found, results, OutputSettings(exports=("canvas", "moodle")))
    assert (tmp_path / "canvas-import.csv").is_file() and (tmp_path / "feedback.zip").is_file()
    warnings = write_outputs(tmp_path, found, results, OutputSettings(exports=("moodle",), feedback="none"))
    assert not (tmp_path / "canvas-import.csv").exists(), "an old gradebook must not be imported"
    assert (tmp_path / "moodle-import.csv").is_file()
    assert not (tmp_path / "feedback").exists() and not (tmp_path / "feedback.zip").exists()
    assert sorted(w.split()[1] for w in warnings if w.startswith("removed ")) == \
        ["canvas-import.csv", "feedback", "feedback.zip"]


def test_the_report_lists_every_row_that_is_not_ok_and_submitters_off_the_roster(tmp_path):
    from dlcourse.grading.roster import read_roster

    found, results = canvas_like(tmp_path)
    alan = results[found.entries[1].key]
    alan.status, alan.reason = "error", "cell 7 raised NameError: name 'modle' is not defined"
    roster = tmp_path / "roster.csv"
    roster.write_text("Student,ID,SIS User ID,SIS Login ID,Section\n\"Lovelace, Ada\",1001,S1,ada@uni.edu,A\n"
                      "\"Turing, Alan\",1002,S2,alan@uni.edu,A\n")
    write_outputs(tmp_path, found, results, OutputSettings(roster=read_roster(roster)))
    report, html = (tmp_path / "report.md").read_text(), (tmp_path / "report.html").read_text()
    look = report.split("## Submissions to look at")[1].split("##")[0]
    assert "`turingalan_LATE_1002_56_dense.zip`: **error**: cell 7 raised NameError" in look
    assert "- not on the roster: Grace Hopper (`1003`), `hoppergrace_1003_58_dense-1.zip`" in report
    assert "<strong>error</strong>: cell 7 raised NameError" in html
    assert "Not on the roster (1)" in html and "hoppergrace_1003_58_dense-1.zip" in html


def test_every_top_level_moodle_entry_is_a_row_or_a_set_aside_line(tmp_path):
    from dlcourse.grading.inputs import discover

    root = tmp_path / "moodle"
    for name, file, text in [("Emmy Noether_123405_assignsubmission_file_", "dense-mnist.ipynb", "{}"),
                             ("Emmy Noether_123405_assignsubmission_onlinetext_", "onlinetext.html", "<p>see zip</p>"),
                             ("Kurt Goedel_123406_assignsubmission_onlinetext_", "onlinetext.html", "<p>late</p>")]:
        (root / name).mkdir(parents=True)
        (root / name / file).write_text(text)
    found = discover(root)
    rows = {e.students[0].key: e for e in found.entries}
    assert set(rows) == {"123405", "123406"}, "Kurt sent only online text: still a row"
    assert rows["123406"].problem == ("invalid-notebook", "no file submitted (only Moodle's onlinetext)")
    assert sorted(a.name for a in found.set_aside) == ["Emmy Noether_123405_assignsubmission_onlinetext_",
                                                       "Kurt Goedel_123406_assignsubmission_onlinetext_"]
    assert all("read it in Moodle" in a.reason for a in found.set_aside)


@pytest.mark.parametrize("key, value, words", [
    ("late_penalty", "10", "late penalty '10': write a percentage per day or hour, e.g. 10%/day or 2%/hour"),
    ("late_penalty", "10%", "late penalty '10%': write a percentage per day or hour"),
    ("due", "2026-03-01", "2026-03-01 has no time of day: write one, e.g. 2026-03-01T23:59+01:00"),
    ("late_cap", "150%", "late cap '150%': a percentage from 0 to 100, e.g. 50 or 50%"),
])
def test_the_options_and_course_yaml_share_one_rule_and_one_message(tmp_path, capsys, key, value, words):
    course = course_with(tmp_path, f"lessons:\n  dense-mnist:\n    due: 2026-03-01T23:59+00:00\n    {key}: {value}\n")
    with pytest.raises(CourseConfigError) as refused:
        course.late_settings("dense-mnist")
    assert words in str(refused.value) and f"lessons.dense-mnist.{key}" in str(refused.value)
    option = {"due": ["--due", value], "late_penalty": ["--late-penalty", value], "late_cap": ["--late-cap", value]}
    bare = course_with(tmp_path / "bare", "lessons: {}\n")
    assert main(["--course", str(bare.root), "grade", "--lesson", "dense-mnist", str(tmp_path),
                 "--due", "2026-03-01T23:59+00:00", *option[key]]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err and "Traceback" not in err and "usage:" not in err


def test_a_cap_with_a_percent_sign_is_read_alike_from_both():
    assert LateSettings(due="2026-03-01T23:59", late_cap="50%").policy().cap_percent == 50
    assert LateSettings(due="2026-03-01T23:59", late_cap=50).policy().cap_percent == 50


def test_a_roster_saved_with_semicolons_is_read_and_a_bad_header_names_the_delimiter(tmp_path):
    from dlcourse.grading.roster import RosterError, read_roster

    semicolons = tmp_path / "roster.csv"
    semicolons.write_text("\ufeffStudent;ID;SIS User ID;SIS Login ID;Section\n    Points Possible;;;;\n"
                          "Lovelace, Ada;104211;S0001;ada@uni.edu;A\n", encoding="utf-8")
    roster = read_roster(semicolons)
    assert [(s.name, s.sid) for s in roster.students] == [("Lovelace, Ada", "104211")]
    nothing = tmp_path / "nothing.csv"
    nothing.write_text("Who|Where\nAda|here\n")
    with pytest.raises(RosterError, match=r"read with the delimiter ',', its header is 'Who\|Where'"):
        read_roster(nothing)


def test_a_moodle_export_from_the_participants_roster_is_warned(tmp_path):
    from dlcourse.grading.roster import read_roster

    found, results = canvas_like(tmp_path)
    participants = tmp_path / "participants.csv"
    participants.write_text("First name,Last name,ID number,Email address,Username\n"
                            "Ada,Lovelace,1001,ada@uni.edu,ada\nAlan,Turing,1002,alan@uni.edu,alan\n")
    warnings = write_outputs(tmp_path, found, results, OutputSettings(roster=read_roster(participants),
                                                                      exports=("moodle",)))
    assert any("'id number' column, not Moodle's participant ids" in w and "grading worksheet" in w
               for w in warnings), warnings
    worksheet = tmp_path / "worksheet.csv"
    worksheet.write_text("Identifier,Full name,Email address,Status\nParticipant 1001,Ada Lovelace,ada@uni.edu,x\n")
    warnings = write_outputs(tmp_path, found, results, OutputSettings(roster=read_roster(worksheet),
                                                                      exports=("moodle",)))
    assert not any("participant ids" in w for w in warnings), warnings


def test_outside_a_course_the_message_says_where_to_run_or_how_to_name_it(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["grade", "--lesson", "dense-mnist", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "inside the course checkout" in err and "dlcourse --course DIR grade" in err and "\n" not in err


def test_a_zip_of_a_whole_download_prints_the_batchs_counts_not_one_students_block(tmp_path, capsys):
    from dlcourse.cli import _print_outcome
    from dlcourse.grading.batch import BatchSummary

    found, results = canvas_like(tmp_path)
    _print_outcome(BatchSummary(results=results, discovery=found), single=len(found.entries) == 1, shard=None)
    out = capsys.readouterr().out
    assert "4 graded (0 reused from an earlier run); 4 ok" in out and "accuracy" not in out
    one = {found.entries[0].key: results[found.entries[0].key]}
    _print_outcome(BatchSummary(results=one, discovery=found), single=True, shard=None)
    assert "lovelaceada_1001_55_dense.zip: ok  8/8" in capsys.readouterr().out


def test_a_release_naming_another_version_is_refused_before_anything_is_written(tmp_path, capsys):
    from dlcourse.release.wheel import wheel_name

    course = course_with(tmp_path, "toolkit_url: https://courses.uni.edu/dl/dlcourse-0.0.1-py3-none-any.whl\n")
    assert wheel_name() != "dlcourse-0.0.1-py3-none-any.whl"
    assert main(["--course", str(course.root), "build", "--wheel"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"does not name {wheel_name()}" in err[0]
    assert sorted(p.name for p in course.root.iterdir()) == ["assignments", "course.yaml"], "nothing was built"


def test_a_filled_sheet_in_the_folder_that_the_given_sheet_contradicts_is_kept(tmp_path):
    found, results = canvas_like(tmp_path)
    write_outputs(tmp_path, found, results, OutputSettings())
    fill_sheet(tmp_path / SHEET_CSV, {"1001": "2", "1002": "1"})
    other = tmp_path / "other.csv"
    other.write_text("student,question,possible,points\n1001,more_epochs,2,2\n")
    warnings = write_outputs(tmp_path, found, results, OutputSettings(hand=read_hand_grades(other)))
    assert any("1 filled row(s)" in w and "kept as written-answers.kept-1.csv" in w for w in warnings), warnings
    kept = {r["student"]: r["points"] for r in read_rows(tmp_path / "written-answers.kept-1.csv")}
    assert kept["1002"] == "1", "Alan's point, typed in the folder's sheet, is still there"
    again = write_outputs(tmp_path, found, results, OutputSettings(hand=read_hand_grades(other)))
    assert not any("kept" in w for w in again), "the sheet written from the given one agrees with it"
