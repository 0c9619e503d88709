"""The instructor's loop after grading, on results built here (no kernel runs): a roster with
a student who submitted nothing, a resubmission, late uploads and an extension; each LMS's
import file against its documented layout, read back; the written-answer sheet round trip;
text from students made safe for CSV, Markdown and the terminal; failures grouped by cause;
the release build refusing a placeholder address; an empty folder and missing data stopping
before any grading."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import zipfile
from pathlib import Path

import pytest

from dlcourse.cli import main
from dlcourse.grading.answer_sheet import SHEET_CSV, read_hand_grades
from dlcourse.grading.failures import cause, group_failures
from dlcourse.grading.inputs import Discovery, Entry, SetAside, Student
from dlcourse.grading.late import LatePolicy, read_extensions
from dlcourse.grading.lms_export import EXPORTS, export_path
from dlcourse.grading.outputs import write_outputs
from dlcourse.grading.result import GradeResult
from dlcourse.grading.result import TestResult as Case  # not a pytest class
from dlcourse.grading.roster import read_roster
from dlcourse.grading.rows import OutputSettings
from dlcourse.grading.safe_text import csv_cell, markdown_inline, terminal
from helpers.paths import ROOT
from helpers.gradebooks import canvas_like, read_rows, result

DUE = dt.datetime(2026, 3, 1, 23, 59, tzinfo=dt.timezone.utc)



def write_roster(path: Path) -> Path:
    path.write_text("Student,ID,SIS User ID,SIS Login ID,Section\n"
                    "    Points Possible,,,,\n"
                    "\"Lovelace, Ada\",1001,S1,ada@uni.edu,A\n"
                    "\"Turing, Alan\",1002,S2,alan@uni.edu,A\n"
                    "\"Hopper, Grace\",1003,S3,grace@uni.edu,A\n"
                    "\"Noether, Emmy\",1004,S4,emmy@uni.edu,A\n"
                    "\"Student, Test\",9999,,,A\n")
    return path



def test_a_canvas_download_with_a_roster_gives_one_row_per_student(tmp_path):
    found, results = canvas_like(tmp_path)
    roster = read_roster(write_roster(tmp_path / "roster.csv"))
    assert [s.key for s in roster.students] == ["1001", "1002", "1003", "1004"], "points row and test student skipped"
    late = LatePolicy(DUE, penalty_percent=10, unit="day", cap_percent=30)
    write_outputs(tmp_path, found, results, OutputSettings(roster=roster, late=late))
    rows = {r["student"]: r for r in read_rows(tmp_path / "gradebook.csv")}
    assert list(rows) == ["1001", "1002", "1003", "1004"]
    assert rows["1004"]["status"] == "missing" and rows["1004"]["final"] == "0" and rows["1004"]["name"] == "Noether, Emmy"
    assert rows["1003"]["submission"] == "hoppergrace_1003_58_dense-1.zip", "the resubmission is the one graded"
    assert rows["1003"]["other_submissions"] == "hoppergrace_1003_57_dense.zip"
    assert rows["1003"]["final"] == "8" and rows["1003"]["late"] == ""
    # Canvas marks Alan LATE without a time: one day charged, 10% of 8 points
    alan = rows["1002"]
    assert (alan["raw"], alan["penalty_percent"], alan["penalty"], alan["final"]) == ("4", "10", "0.8", "3.2")
    assert "marked late by the platform" in alan["notes"]
    assert rows["1001"]["login"] == "ada@uni.edu" and rows["1001"]["sid"] == "1001"
    report = (tmp_path / "report.md").read_text()
    assert "4 students, 1 submitted nothing, 1 late" in report and "Noether" in report


def test_what_the_reader_and_the_grading_repaired_is_in_the_row_and_on_the_page(tmp_path):
    """A renamed file or a repaired notebook is graded, and the student and the TA are told."""
    found, results = canvas_like(tmp_path)
    ada = found.entries[0]
    ada.notes.append("the notebook was found in a subfolder: graded it")
    results[ada.key].notes.append("dense_mnist (1).pt was graded as dense_mnist.pt, the lesson's file")
    write_outputs(tmp_path, found, results, OutputSettings())
    row = next(r for r in read_rows(tmp_path / "gradebook.csv") if r["student"] == "1001")
    assert row["notes"] == ("the notebook was found in a subfolder: graded it; "
                            "dense_mnist (1).pt was graded as dense_mnist.pt, the lesson's file")
    page = (tmp_path / "feedback" / "1001" / "feedback.html").read_text()
    assert "dense_mnist (1).pt was graded as dense_mnist.pt" in page


def test_late_time_from_the_platform_grace_cap_and_an_extension(tmp_path):
    moodle = Student("77", "Emmy Noether", email="emmy@uni.edu", sid="77")   # as in a Gradescope export
    other = Student("78", "Kurt Goedel", sid="78")
    three_days = Entry(tmp_path / "a", "a", [moodle], "2026-03-04T23:00:00+00:00", layout="gradescope")
    extensions = tmp_path / "extensions.csv"
    extensions.write_text("student,days\nemmy@uni.edu,3\n")
    policy = LatePolicy(DUE, grace_seconds=600, penalty_percent=10, unit="day", cap_percent=25,
                        extensions=read_extensions(extensions, DUE))
    assert policy.assess(moodle, three_days).units == 0, "the extension moves Emmy's due date 3 days"
    late = policy.assess(other, Entry(tmp_path / "b", "b", [other], "2026-03-04T23:00:00+00:00", layout="gradescope"))
    assert (late.units, late.penalty_percent) == (3, 25), "3 started days at 10%, capped at 25%"
    within = policy.assess(other, Entry(tmp_path / "c", "c", [other], "2026-03-02T00:05:00+00:00", layout="gradescope"))
    assert within.units == 0 and within.note == "within the grace period"
    past = policy.assess(other, Entry(tmp_path / "d", "d", [other], "2026-03-02T00:10:00+00:00", layout="gradescope"))
    assert past.units == 1, "past the grace: counted from the due date, per started day"
    hourly = LatePolicy(DUE, penalty_percent=2, unit="hour")
    assert hourly.assess(other, Entry(tmp_path / "e", "e", [other], "2026-03-02T02:30:00+00:00", layout="gradescope")) \
        .penalty_percent == 6
    copied = Entry(tmp_path / "f", "f", [other], "2026-03-09T00:00:00+00:00", layout="plain")
    assert policy.assess(other, copied).units == 0, "a file's copy time is never a submission time"
    moodle_download = Entry(tmp_path / "g", "g", [other], "2026-03-09T00:00:00+00:00", layout="moodle")
    assert policy.assess(other, moodle_download).units == 0, "Moodle's download has only file times"
    late = policy.assess(other, moodle_download, roster_time="Tuesday, 3 March 2026, 9:00 AM")
    assert late.units == 2, "the worksheet's time, in the due date's zone: 1 day 9 hours late"


# Each platform's documented import layout: the header, and where the identity and the grade are
# (the sources: dlcourse/grading/lms_export.py's docstring).
DOCUMENTED = {
    "canvas": (["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Lesson 1 (4242)"], "ID", "Lesson 1 (4242)"),
    "moodle": (["Identifier", "Full name", "Email address", "Grade", "Maximum Grade", "Last modified (grade)",
                "Feedback comments"], "Identifier", "Grade"),
    "blackboard": (["Last Name", "First Name", "Username", "Student ID", "Lesson 1 [Total Pts: 10 Score] |4242"],
                   "Username", "Lesson 1 [Total Pts: 10 Score] |4242"),
    "gradescope": (["Name", "SID", "Email", "Total Score", "Max Points", "Status"], "Email", "Total Score"),
}


def test_every_lms_export_has_the_documented_layout_and_reads_back(tmp_path):
    found, results = canvas_like(tmp_path)
    sheet = tmp_path / "hand.csv"
    sheet.write_text("student,question,possible,points,comment\n1001,more_epochs,2,1.5,good\n"
                     "1002,more_epochs,2,2,\n1003,more_epochs,2,0,no answer\n")
    roster = tmp_path / "roster.csv"
    roster.write_text("First name,Last name,ID number,Email address,Username\n"
                      "Ada,Lovelace,1001,ada@uni.edu,ada\nAlan,Turing,1002,alan@uni.edu,alan\n"
                      "Grace,Hopper,1003,grace@uni.edu,grace\nEmmy,Noether,1004,emmy@uni.edu,emmy\n")
    settings = OutputSettings(roster=read_roster(roster), late=LatePolicy(DUE, penalty_percent=10),
                              hand=read_hand_grades(sheet), exports=tuple(EXPORTS), assignment="Lesson 1",
                              assignment_id="4242")
    write_outputs(tmp_path, found, results, settings)
    for platform, (header, identity, grade) in DOCUMENTED.items():
        text = export_path(tmp_path, platform).read_text()
        rows = read_rows(export_path(tmp_path, platform))
        assert list(rows[0]) == header, platform
        by_id = {r[identity]: r[grade] for r in rows}
        ada = {"canvas": "1001", "moodle": "Participant 1001", "blackboard": "ada", "gradescope": "ada@uni.edu"}[platform]
        assert by_id[ada] == "9.5", (platform, "8 autograded + 1.5 by hand, a plain decimal point")
        emmy = {"canvas": "1004", "moodle": "Participant 1004", "blackboard": "emmy", "gradescope": "emmy@uni.edu"}[platform]
        assert by_id[emmy] == "0", "submitted nothing"
        alan = {"canvas": "1002", "moodle": "Participant 1002", "blackboard": "alan", "gradescope": "alan@uni.edu"}[platform]
        assert by_id[alan] == "5", "(4 + 2 by hand) minus 10% of 10 for a day late"
        if platform == "blackboard":
            assert text.startswith('"Last Name","First Name","Username"'), "Blackboard wants every value quoted"
        if platform == "canvas":   # its importer takes a new assignment's points from this row
            assert rows[0]["Student"] == "    Points Possible" and rows[0][grade] == "10"
    gradescope = {r["Email"]: r for r in read_rows(export_path(tmp_path, "gradescope"))}
    assert (gradescope["ada@uni.edu"]["Max Points"], gradescope["ada@uni.edu"]["Status"]) == ("10", "Graded")
    assert gradescope["emmy@uni.edu"]["Status"] == "Missing"
    moodle = {r["Identifier"]: r for r in read_rows(export_path(tmp_path, "moodle"))}
    assert moodle["Participant 1001"]["Maximum Grade"] == "10" and moodle["Participant 1001"]["Feedback comments"] == "good"
    assert "Late penalty: 10%" in moodle["Participant 1002"]["Feedback comments"]
    assert moodle["Participant 1004"]["Maximum Grade"] == "10", "submitted nothing: the hand-graded points count too"


def test_the_written_answer_sheet_round_trips_into_gradebook_and_exports(tmp_path):
    found, results = canvas_like(tmp_path)
    write_outputs(tmp_path, found, results, OutputSettings(exports=("canvas",)))
    html = (tmp_path / "written-answers.html").read_text()
    assert "lovelaceada_1001_55_dense.zip says: train longer" in html
    rows = read_rows(tmp_path / SHEET_CSV)
    assert {r["student"] for r in rows} == {"1001", "1002", "1003"} and all(r["points"] == "" for r in rows)
    assert next(read_rows(tmp_path / "gradebook.csv").__iter__())["more_epochs"] == "manual"
    for row in rows:
        row["points"], row["comment"] = {"1001": ("2", "clear"), "1003": ("", "")}.get(row["student"], ("1", ""))
    filled = tmp_path / "filled.csv"
    with open(filled, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    write_outputs(tmp_path, found, results, OutputSettings(exports=("canvas",), hand=read_hand_grades(filled)))
    ada = next(r for r in read_rows(tmp_path / "gradebook.csv") if r["student"] == "1001")
    assert (ada["more_epochs"], ada["hand"], ada["raw"], ada["possible"], ada["final"]) == ("2", "2", "10", "10", "10")
    grace = next(r for r in read_rows(tmp_path / "gradebook.csv") if r["student"] == "1003")
    assert (grace["more_epochs"], grace["hand"]) == ("manual", ""), "not graded by hand yet: no 0 shown"
    assert {r["ID"]: r["dense-mnist"] for r in read_rows(export_path(tmp_path, "canvas"))}["1001"] == "10"
    again = {r["student"]: r for r in read_rows(tmp_path / SHEET_CSV)}
    assert again["1001"]["points"] == "2" and again["1001"]["comment"] == "clear", "a rewritten sheet keeps the grades"


def test_points_outside_the_question_are_refused_with_the_line(tmp_path):
    sheet = tmp_path / "hand.csv"
    sheet.write_text("student,question,possible,points,comment\n1001,more_epochs,2,3,\n")
    with pytest.raises(ValueError, match=r"line 2: 3 points for more_epochs \(allowed 0 to 2\)"):
        read_hand_grades(sheet)


HOSTILE = "=HYPERLINK(\"http://evil\")\n<!-- \x1b[2J\x1b]0;owned\x07\udcff|"


def test_student_text_is_safe_in_csv_markdown_and_the_terminal(tmp_path):
    assert csv_cell("=1+1") == "'=1+1" and csv_cell("@SUM(A1)") == "'@SUM(A1)" and csv_cell("-1.5") == "-1.5"
    assert csv_cell("+33 1 23") == "'+33 1 23"
    line = terminal(HOSTILE)
    assert "\x1b" not in line and "\n" not in line and "\x07" not in line and "\\udcff" in line
    md = markdown_inline(HOSTILE)
    assert "<!--" not in md and "\n" not in md and "\\|" in md
    evil = Student(HOSTILE, HOSTILE)
    entry = Entry(tmp_path / "x.zip", "x\n<!-- hidden.zip", [evil], "", layout="plain")
    bad = result(entry.label, 0, 0, message=HOSTILE)
    bad.status, bad.reason = "timeout", HOSTILE
    good = Entry(tmp_path / "good.zip", "good.zip", [Student("good")], "", layout="plain")
    found = Discovery([entry, good], [SetAside(HOSTILE, HOSTILE), SetAside("after.txt", "not a submission")])
    write_outputs(tmp_path, found, {entry.key: bad, good.key: result("good.zip", 4, 4)},
                  OutputSettings(exports=tuple(EXPORTS)))
    for name in ["gradebook.csv", "submissions.csv", "written-answers.csv"] + [export_path(tmp_path, p).name for p in EXPORTS]:
        text = (tmp_path / name).read_text(encoding="utf-8")
        assert "\x1b" not in text and "\x07" not in text, name
        for row in csv.reader(text.splitlines()[1:]):
            assert not any(cell.startswith(("=", "+", "@")) for cell in row), (name, row)
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "<!--" not in report and "\x1b" not in report
    skipped = report.split("## Skipped files")[1].strip().splitlines()
    assert len(skipped) == 2 and skipped[1] == "- `after.txt`: not a submission", "one line per file, none hidden"
    assert "- x &lt;!-- hidden.zip: **timeout**" in report, "the label, escaped, on its own line"


def test_failures_are_grouped_by_cause_not_by_their_random_inputs():
    assert cause("expected shape (7, 10), got (7, 5)") == cause("expected shape (13, 10), got (13, 5)")
    assert cause("accuracy 91.20% below 96%") == cause("accuracy 88.00% below 96%")
    assert cause("expected shape (7, 10)") != cause("`prepare` is not defined")
    results = [result(f"s{i}.zip", 0, 4, f"expected shape ({i}, 10), got ({i}, 5)") for i in range(5)]
    results.append(result("t.zip", 0, 4, "`prepare` is not defined"))
    groups = group_failures(results)
    assert [len(g.submissions) for g in groups] == [5, 1]
    assert groups[0].example.startswith("expected shape (0, 10)")


def test_a_release_build_refuses_the_placeholder_address(tmp_path, capsys):
    from dlcourse.release.wheel import placeholder_problem

    assert placeholder_problem("https://courses.example.edu/dl/dlcourse-0.1.0-py3-none-any.whl")
    assert placeholder_problem("https://site.test/dlcourse-0.1.0-py3-none-any.whl")
    assert placeholder_problem("https://courses.uni.edu/dl/dlcourse-0.1.0-py3-none-any.whl") is None
    assert placeholder_problem("file:///srv/course/dlcourse-0.1.0-py3-none-any.whl") is None
    assert "example" in (ROOT / "course.yaml").read_text(), "this test relies on the committed placeholder"
    assert main(["--course", str(ROOT), "build", "--wheel"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "placeholder" in err[0] and "toolkit_url" in err[0]


def test_an_empty_folder_stops_with_one_line(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "notes.txt").write_text("hi")
    assert main(["--course", str(ROOT), "grade", "--lesson", "dense-mnist", str(tmp_path / "in"),
                 "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no submissions in" in err[0] and "notes.txt" in err[0]
    assert not (tmp_path / "out").exists()


def test_missing_data_stops_before_any_grading(tmp_path, capsys):
    submissions = tmp_path / "in"
    submissions.mkdir()
    (submissions / "alice.ipynb").write_text("{}")
    assert main(["--course", str(ROOT), "grade", "--lesson", "dense-mnist", str(submissions),
                 "--out", str(tmp_path / "out"), "--data", str(tmp_path / "no-data")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "MNIST is missing from" in err[0] and "dlcourse data fetch mnist" in err[0]
    assert not (tmp_path / "out").exists(), "nothing graded, nothing written"


def test_a_broken_autograder_stops_with_one_line(tmp_path, capsys):
    broken = tmp_path / "x-autograder.zip"
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("README", "not an autograder")
    (tmp_path / "a.ipynb").write_text("{}")
    assert main(["grade", "--autograder", str(broken), str(tmp_path / "a.ipynb"), "--out", str(tmp_path / "o")]) == 2
    assert "rebuild it" in capsys.readouterr().err


def feedback_batch(tmp_path: Path) -> tuple[Discovery, dict[str, GradeResult]]:
    """Two students: one whose hidden test failed on a named input and who was late, one full marks."""
    found, results = canvas_like(tmp_path)
    alan = found.entries[1]
    results[alan.key].questions["model"].tests[0] = Case(
        "model hidden", True, 4.0, False, "for flat_features((3, 35, 12)): flat_features should multiply the "
                                          "dimensions after the batch dimension: expected 420, got 35")
    results[alan.key].questions["model"].score = 0
    found.entries[1].notes.append("the notebook was found in a subfolder: graded it")
    (tmp_path / "notebooks").mkdir()
    results[alan.key].notebook_sha256 = executed(tmp_path / "notebooks" / "turingalan_LATE_1002_56_dense.ipynb", "{}")
    return found, results


def executed(path: Path, text: str) -> str:
    """An executed notebook saved at ``path`` as grading saves one; its digest, which the result records."""
    path.write_bytes(text.encode())
    return hashlib.sha256(text.encode()).hexdigest()


def feedback_settings(tmp_path: Path) -> OutputSettings:
    sheet = tmp_path / "hand.csv"
    sheet.write_text("student,question,possible,points,comment\n1002,more_epochs,2,1,Say which curve shows it.\n")
    return OutputSettings(late=LatePolicy(DUE, penalty_percent=10), hand=read_hand_grades(sheet),
                          lesson_title="Lesson 1: a dense network", accuracy_target=0.96)


def test_a_feedback_page_per_student_with_every_element_and_nobody_elses_data(tmp_path):
    from dlcourse.grading.feedback import rerunnable_input

    assert rerunnable_input("for flat_features((3, 35, 12)): wrong: 3") == "flat_features((3, 35, 12))"
    assert rerunnable_input("for model(torch.zeros(2, 1, 28, 28)): RuntimeError: a: b") == \
        "model(torch.zeros(2, 1, 28, 28))"
    assert rerunnable_input("accuracy 91%: below") is None
    found, results = feedback_batch(tmp_path)
    write_outputs(tmp_path, found, results, feedback_settings(tmp_path))
    pages = sorted((tmp_path / "feedback").glob("*/feedback.html"))
    assert [p.parent.name for p in pages] == ["1001", "1002", "1003"]
    alan = (tmp_path / "feedback" / "1002" / "feedback.html").read_text()
    for part in ("Lesson 1: a dense network", "Alan Turing", "0 / 4", "expected 420, got 35",
                 "<code>flat_features((3, 35, 12))</code>", "97.00%", "(target 96%)", "10%", "Say which curve shows it.",
                 "found in a subfolder", 'href="graded-notebook.ipynb"'):
        assert part in alan, part
    assert (tmp_path / "feedback" / "1002" / "graded-notebook.ipynb").is_file()
    assert "graded so far" not in alan and "final score" in alan, "the sheet is given: the penalty is of all 10 points"
    for other in ("Ada", "Grace", "lovelaceada", "hoppergrace", "1001", "1003"):
        assert other not in alan, f"another student's data on Alan's page: {other}"
    with zipfile.ZipFile(tmp_path / "feedback.zip") as archive:
        assert "1002/feedback.html" in archive.namelist()


def test_executed_notebooks_are_named_by_the_submissions_stem_and_never_collide(tmp_path):
    """``reference.zip`` -> ``reference.ipynb`` (not ``reference.zip.ipynb``); a stem two entries
    share keeps each one's suffix, and each student's page gets their own notebook."""
    from dlcourse.grading.inputs import notebook_names

    labels = ["reference.zip", "untouched-stub.ipynb", "carl.tar.gz", "alice.zip", "alice.ipynb", "alice",
              "Bob.zip", "bob.ipynb", "a b.zip", "a_b.zip"]
    names = notebook_names([Entry(tmp_path / label, label, [Student(label)]) for label in labels])
    assert (names["reference.zip"], names["untouched-stub.ipynb"], names["carl.tar.gz"]) == \
        ("reference.ipynb", "untouched-stub.ipynb", "carl.ipynb")
    assert (names["alice.zip"], names["alice.ipynb"], names["alice"]) == \
        ("alice (zip).ipynb", "alice (ipynb).ipynb", "alice.ipynb")
    assert (names["Bob.zip"], names["bob.ipynb"]) == ("Bob (zip).ipynb", "bob (ipynb).ipynb"), "apart where case is not"
    assert len({name.casefold() for name in names.values()}) == len(labels), names
    assert all(not name.endswith((".zip.ipynb", ".ipynb.ipynb")) for name in names.values())

    students = {"alice.zip": "alice-a", "alice.ipynb": "alice-b"}   # two students whose files share a stem
    found = Discovery([Entry(tmp_path / label, label, [Student(key)], layout="plain")
                       for label, key in students.items()], [])
    results = {entry.key: result(entry.label, 4, 4) for entry in found.entries}
    (tmp_path / "notebooks").mkdir()
    for entry in found.entries:
        results[entry.key].notebook_sha256 = executed(tmp_path / "notebooks" / names[entry.key], f'{{"executed": "{entry.key}"}}')
    write_outputs(tmp_path, found, results, OutputSettings())
    for label, key in students.items():
        copied = tmp_path / "feedback" / key / "graded-notebook.ipynb"
        assert copied.read_text() == f'{{"executed": "{label}"}}', "each page links its own submission's notebook"


def test_notebook_names_that_only_case_keeps_apart_get_a_digest_of_their_key(tmp_path):
    """``alice.ipynb`` beside ``ALICE.ipynb`` (and folders ``bob``, ``BOB``) would be one file on
    macOS and Windows, one student's notebook written over the other's: each gets a digest of its
    key, the same every run; names no other meets once case is ignored stay as they were."""
    from dlcourse.grading.inputs import notebook_names

    labels = ["alice.zip", "alice.ipynb", "ALICE.ipynb", "bob", "BOB", "carl.zip", "Dave.zip", "dave.ipynb"]
    entries = [Entry(tmp_path / label, label, [Student(label)]) for label in labels]
    names = notebook_names(entries)
    assert len({name.casefold() for name in names.values()}) == len(labels), names
    assert (names["alice.zip"], names["carl.zip"], names["Dave.zip"], names["dave.ipynb"]) == \
        ("alice (zip).ipynb", "carl.ipynb", "Dave (zip).ipynb", "dave (ipynb).ipynb")
    for key, readable in [("alice.ipynb", "alice (ipynb-"), ("ALICE.ipynb", "ALICE (ipynb-"), ("bob", "bob ("), ("BOB", "BOB (")]:
        assert names[key].startswith(readable) and names[key].endswith(").ipynb"), names[key]
    assert notebook_names(list(reversed(entries))) == names, "the same names whatever the order"


def test_a_page_attaches_only_the_notebook_saved_with_its_result(tmp_path):
    """A notebook left under a row's name by an earlier run (the same student's, or another's
    whose name was the same once made safe) is not that row's: a refused submission, which
    saves none, and a result saved with another digest get no notebook on their page."""
    from dlcourse.grading.inputs import notebook_names

    keys = ["carol.ipynb", "bob_1.ipynb", "dave.zip"]
    found = Discovery([Entry(tmp_path / key, key, [Student(key.split(".")[0])], layout="plain") for key in keys], [])
    names = notebook_names(found.entries)
    results = {entry.key: result(entry.label, 4, 4) for entry in found.entries}
    results["carol.ipynb"].status = "invalid-notebook"   # refused this run: no notebook saved
    (tmp_path / "notebooks").mkdir()
    executed(tmp_path / "notebooks" / names["carol.ipynb"], '{"executed": "carol.zip, an earlier run"}')
    results["bob_1.ipynb"].notebook_sha256 = executed(tmp_path / "notebooks" / "elsewhere.ipynb", '{"executed": "bob_1"}')
    executed(tmp_path / "notebooks" / names["bob_1.ipynb"], '{"executed": "bob+1, an earlier run"}')
    results["dave.zip"].notebook_sha256 = executed(tmp_path / "notebooks" / names["dave.zip"], '{"executed": "dave"}')
    write_outputs(tmp_path, found, results, OutputSettings())
    feedback = tmp_path / "feedback"
    assert not (feedback / "carol" / "graded-notebook.ipynb").exists()
    assert "graded-notebook.ipynb" not in (feedback / "carol" / "feedback.html").read_text()
    assert not (feedback / "bob_1" / "graded-notebook.ipynb").exists()
    assert (feedback / "dave" / "graded-notebook.ipynb").read_text() == '{"executed": "dave"}'


def test_students_whose_folder_names_meet_once_made_safe_or_case_folded_keep_their_own_pages(tmp_path):
    """``bob_1`` and ``bob~1`` both make ``bob_1``; ``alice`` and ``ALICE`` are one folder on macOS
    and Windows: each gets a folder of its own, ending in a digest of the student's key, and
    a page that is their own; a student whose name meets nobody's keeps the plain name."""
    students = {"bob_1.zip": "bob_1", "bob~1.zip": "bob~1", "alice.zip": "alice", "ALICE2.zip": "ALICE", "carl.zip": "carl"}
    found = Discovery([Entry(tmp_path / label, label, [Student(key)], layout="plain") for label, key in students.items()], [])
    results = {entry.key: result(entry.label, 4, 4) for entry in found.entries}
    write_outputs(tmp_path, found, results, OutputSettings())
    folders = sorted(p.name for p in (tmp_path / "feedback").iterdir())
    assert len({f.casefold() for f in folders}) == 5 and "carl" in folders, folders
    for label, key in students.items():
        (page,) = [p for p in (tmp_path / "feedback").glob("*/feedback.html")
                   if f"submission <code>{label}</code>" in p.read_text()] or [None]
        assert page is not None and (key == "carl" or page.parent.name.startswith(key.replace("~", "_") + "-")), (label, folders)


def test_moodle_feedback_folders_follow_moodles_download_names(tmp_path):
    from dlcourse.grading.feedback import folder_name
    from dlcourse.grading.rows import StudentRow

    student = Student("77", "Emmy Noether", sid="77")
    entry = Entry(tmp_path / "x", "Emmy Noether_77_assignsubmission_file_", [student], layout="moodle")
    assert folder_name(StudentRow(student, entry)) == "Emmy Noether_77_assignsubmission_file_"


@pytest.mark.browser
def test_a_feedback_page_in_chromium_shows_the_points_and_a_failed_tests_message(tmp_path):
    import shutil

    chromium = shutil.which("chromium")
    if not chromium:
        pytest.fail("Debian's chromium is needed: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    found, results = feedback_batch(tmp_path)
    write_outputs(tmp_path, found, results, feedback_settings(tmp_path))
    page_file = tmp_path / "feedback" / "1002" / "feedback.html"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(page_file.as_uri())
            questions = page.locator("section.question")
            assert questions.count() == 3, "model, accuracy and the written question"
            assert questions.nth(0).locator("h2").inner_text().split() == ["model", "0", "/", "4"]
            assert questions.nth(1).locator("h2").inner_text().split() == ["accuracy", "0", "/", "4"]
            assert "1 / 2" in questions.nth(2).locator("h2").inner_text()
            message = questions.nth(0).locator("pre.message")
            assert message.is_visible() and "expected 420, got 35" in message.inner_text()
            assert page.locator("pre.rerun").inner_text() == "flat_features((3, 35, 12))"
            assert page.locator("#final").inner_text() == "0 / 10", "0 + 1 by hand, minus 10% of 10 for a day late"
        finally:
            browser.close()


def submission_zip(path: Path, cells: list[str], weights: bytes) -> Path:
    import nbformat

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("dense-mnist.ipynb", nbformat.writes(notebook))
        archive.writestr("dense_mnist.pt", weights)
    return path


def independent_predictions(labels: str, error: float, seed: int) -> str:
    """A network's predictions on the fixed images that errs on its own random share of them."""
    import random

    rng = random.Random(seed)
    return "".join(str((int(t) + rng.randint(1, 9)) % 10) if rng.random() < error else t for t in labels)


def test_copies_are_reported_and_independent_work_is_not(tmp_path):
    import random

    from dlcourse.grading.similarity import NEAR_IDENTICAL, disagreement_ratio

    given = "import torch\nfrom dlcourse import MNIST, fit"
    template = tmp_path / "template.ipynb"
    import nbformat

    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(given)]), template)
    answer = ("model = torch.nn.Sequential(\n    torch.nn.Flatten(),  # 784 inputs\n    torch.nn.Linear(784, 128),\n"
              "    torch.nn.ReLU(),\n    torch.nn.Linear(128, 10),\n)")
    training = "history = fit(model, MNIST(train=True), epochs=5, batch_size=64, learning_rate=0.001)"
    copied = "model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 128),   torch.nn.ReLU(), " \
             "torch.nn.Linear(128, 10),)  # mine!"
    mine = ("layers = [torch.nn.Flatten(), torch.nn.Linear(28 * 28, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10)]\n"
            "model = torch.nn.Sequential(*layers)")
    other_training = "h = fit(model, MNIST(train=True), epochs=8, batch_size=128)"
    weights = random.Random(0).randbytes(5000)
    inputs = tmp_path / "in"
    inputs.mkdir()
    entries = [Entry(submission_zip(inputs / f"{n}.zip", cells, w), f"{n}.zip", [Student(n)], layout="plain")
               for n, cells, w in [("ana", [given, answer, training], weights),
                                   ("bob", [given, copied, training + "  # same"], weights),
                                   ("cyd", [given, mine, other_training], random.Random(1).randbytes(5000)),
                                   ("dee", [given, answer.replace("128", "64"), "h = fit(model, MNIST(), epochs=3)"],
                                    random.Random(2).randbytes(5000))]]
    labels = "".join(str(random.Random(3).randint(0, 9)) for _ in range(1000))
    predicted = {"ana": independent_predictions(labels, 0.02, 4), "cyd": independent_predictions(labels, 0.02, 5),
                 "dee": independent_predictions(labels, 0.03, 6)}
    predicted["bob"] = predicted["ana"]
    results = {}
    for entry in entries:
        name = entry.label.removesuffix(".zip")
        results[entry.key] = result(entry.label, 4, 4)
        results[entry.key].predictions = predicted[name]
        results[entry.key].accuracy = sum(p == t for p, t in zip(predicted[name], labels)) / 1000
    assert disagreement_ratio(predicted["ana"], predicted["cyd"], 0.02, 0.02) > 2 * NEAR_IDENTICAL
    found = Discovery(entries, [])
    write_outputs(tmp_path, found, results, OutputSettings(weights_file="dense_mnist.pt", template=template))
    rows = read_rows(tmp_path / "copies.csv")
    assert [(r["students_a"], r["students_b"]) for r in rows] == [("ana", "bob")], f"independent work reported: {rows}"
    kinds = rows[0]["kinds"].split("; ")
    assert kinds[:3] == ["identical-weights", "identical-answers", "near-identical-network"], \
        "comments and layout do not hide a copy"
    report = (tmp_path / "report.md").read_text()
    assert "- ana and bob: **identical-weights, identical-answers, near-identical-network" in report
    assert [r["final"] for r in read_rows(tmp_path / "gradebook.csv")] == ["8"] * 4, "no score changes"
    html = (tmp_path / "report.html").read_text()
    assert "identical-weights" in html and 'id="accuracy-figure"' in html and "data:image/svg+xml;base64," in html
    for page in (tmp_path / "feedback").glob("*/feedback.html"):
        assert "identical" not in page.read_text() and "copies" not in page.read_text(), "nothing said to students"
