"""Acceptance of the instructor's loop, end to end through `dlcourse grade`: a Canvas-like and
a Moodle-like download graded with a roster from the same LMS. One row per student (a
non-submitter included), a resubmission graded once, a LATE upload and a due date giving the
stated penalty, an extension honoured, the LMS's import file and a feedback page per student."""

from __future__ import annotations

import csv
import shutil
import zipfile
from pathlib import Path

import pytest

from dlcourse.cli import main
from dlcourse.course import Course
from dlcourse.sample_submissions import reference_submission, stub_submission
from helpers.paths import ROOT, on_sample_data

COURSE = Course(ROOT)
DENSE = COURSE.lesson("dense-mnist")
pytestmark = pytest.mark.slow
# The Canvas and Moodle layouts are the reader's (issue 20, grading/reader/): until they are on
# this branch these tests cannot find a student in either download.
pytest.importorskip("dlcourse.grading.reader", reason="the input layouts (grading/reader/) are not merged yet")


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def parts(tmp_path_factory) -> tuple[Path, Path]:
    scratch = tmp_path_factory.mktemp("parts")
    return reference_submission(COURSE, DENSE, scratch), stub_submission(COURSE, DENSE, scratch)


def grade(inputs: Path, out: Path, *options: str) -> int:
    with on_sample_data():
        return main(["--course", str(ROOT), "grade", "--lesson", DENSE.id, str(inputs), "--out", str(out),
                     "--workers", "2", "--timeout", "60", *options])


def test_a_canvas_download_with_its_gradebook_as_roster(tmp_path, parts):
    reference, stub = parts
    download = tmp_path / "canvas"
    download.mkdir()
    shutil.copy(reference, download / "lovelaceada_1001_501_dense-mnist-submission.zip")
    shutil.copy(reference, download / "turingalan_LATE_1002_502_dense-mnist-submission.zip")
    with zipfile.ZipFile(download / "hoppergrace_1003_503_dense-mnist-submission.zip", "w") as first:
        first.write(stub, DENSE.notebook)   # the first upload: no weights yet
    shutil.copy(reference, download / "hoppergrace_1003_504_dense-mnist-submission-1.zip")
    roster = tmp_path / "canvas-gradebook.csv"
    roster.write_text("Student,ID,SIS User ID,SIS Login ID,Section,Lesson 1 (4242)\n"
                      "    Points Possible,,,,,18\n"
                      "\"Lovelace, Ada\",1001,S1,ada@uni.edu,A,\n\"Turing, Alan\",1002,S2,alan@uni.edu,A,\n"
                      "\"Hopper, Grace\",1003,S3,grace@uni.edu,A,\n\"Noether, Emmy\",1004,S4,emmy@uni.edu,A,\n")
    out = tmp_path / "out"
    assert grade(download, out, "--roster", str(roster), "--due", "2026-03-01T23:59+00:00",
                 "--late-penalty", "10%/day", "--export", "canvas", "--assignment", "Lesson 1",
                 "--assignment-id", "4242") == 0
    rows = {r["student"]: r for r in read_rows(out / "gradebook.csv")}
    assert list(rows) == ["1001", "1002", "1003", "1004"], "one row per roster member, in its order"
    assert rows["1004"]["status"] == "missing"
    assert rows["1003"]["status"] == "ok" and rows["1003"]["other_submissions"], "the resubmission, graded once"
    assert len(list((out / "results").glob("*.json"))) == 3, "the earlier attempt is listed, not graded"
    full = float(rows["1001"]["possible"])
    assert rows["1001"]["final"] == rows["1001"]["raw"] and float(rows["1001"]["raw"]) == full
    alan = rows["1002"]
    assert float(alan["penalty"]) == pytest.approx(0.1 * full) and float(alan["final"]) == pytest.approx(0.9 * full)
    imported = {r["ID"]: r["Lesson 1 (4242)"] for r in read_rows(out / "canvas-import.csv") if r["ID"]}  # not Points Possible
    assert imported == {"1001": rows["1001"]["final"], "1002": alan["final"], "1003": rows["1003"]["final"], "1004": "0"}
    pages = {p.parent.name for p in (out / "feedback").glob("*/feedback.html")}
    assert pages == {"1001", "1002", "1003"}
    assert "10%" in (out / "feedback" / "1002" / "feedback.html").read_text()


def test_a_moodle_download_with_its_grading_worksheet_as_roster(tmp_path, parts):
    reference, stub = parts
    download = tmp_path / "moodle"
    for folder, source in [("Ada Lovelace_2001_assignsubmission_file_", reference),
                           ("Alan Turing_2002_assignsubmission_file_", reference),
                           ("Grace Hopper_2003_assignsubmission_file_", stub)]:
        (download / folder).mkdir(parents=True)
        shutil.copy(source, download / folder / source.name)
    worksheet = tmp_path / "worksheet.csv"
    worksheet.write_text(
        "Identifier,Full name,Email address,Status,Grade,Maximum Grade,Grade can be changed,"
        "Last modified (submission),Last modified (grade),Feedback comments\n"
        "Participant 2001,Ada Lovelace,ada@uni.edu,Submitted,,18,Yes,\"Sunday, 1 March 2026, 9:00 PM\",-,\n"
        "Participant 2002,Alan Turing,alan@uni.edu,Submitted,,18,Yes,\"Tuesday, 3 March 2026, 10:00 AM\",-,\n"
        "Participant 2003,Grace Hopper,grace@uni.edu,Submitted,,18,Yes,\"Tuesday, 3 March 2026, 10:00 AM\",-,\n"
        "Participant 2004,Emmy Noether,emmy@uni.edu,No submission,,18,Yes,-,-,\n")
    extensions = tmp_path / "extensions.csv"
    extensions.write_text("student,days\ngrace@uni.edu,3\n")
    out = tmp_path / "out"
    assert grade(download, out, "--roster", str(worksheet), "--due", "2026-03-01T23:59+00:00",
                 "--late-penalty", "10%/day", "--extensions", str(extensions), "--export", "moodle") == 0
    rows = {r["student"]: r for r in read_rows(out / "gradebook.csv")}
    assert list(rows) == ["2001", "2002", "2003", "2004"] and rows["2004"]["status"] == "missing"
    assert rows["2001"]["late"] == "", "submitted before the due date"
    assert rows["2002"]["penalty_percent"] == "20", "1 day 10 hours late: 2 started days at 10%"
    assert rows["2003"]["late"] == "" and rows["2003"]["status"] == "missing-weights", "the extension holds"
    worksheet_back = {r["Identifier"]: r for r in read_rows(out / "moodle-import.csv")}
    assert set(worksheet_back) == {"Participant 2001", "Participant 2002", "Participant 2003", "Participant 2004"}
    assert worksheet_back["Participant 2002"]["Grade"] == rows["2002"]["final"]
    assert "Late penalty: 20%" in worksheet_back["Participant 2002"]["Feedback comments"]
    folders = {p.parent.name for p in (out / "feedback").glob("*/feedback.html")}
    assert "Alan Turing_2002_assignsubmission_file_" in folders, "Moodle's feedback-zip upload matches its own names"
