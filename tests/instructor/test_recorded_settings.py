"""`dlcourse gradebook OUT` (collecting what shards wrote) writes the rows the grading run
would have: the input layout chosen with --layout, the roster, the late policy and the hand
grades are kept in OUT when grading and used when collecting. No kernel runs: a stand-in
execution hands back results built here."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import nbformat

from dlcourse.cli import main
from dlcourse.grading.batch import grade_batch
from dlcourse.grading.collect import RESULTS, CollectOptions
from dlcourse.grading.late import LatePolicy
from dlcourse.grading.recorded_settings import SETTINGS_FILE, save_settings, saved_settings
from dlcourse.grading.roster import Roster, read_roster
from dlcourse.grading.rows import HandGrade, OutputSettings
from dlcourse.grading.inputs import Student
from dlcourse.grading.trust import results_key
from helpers.gradebooks import read_rows, result

CANVAS_NAMES = ["lovelaceada_1001_55_dense-mnist.ipynb", "turingalan_LATE_1002_56_dense-mnist.ipynb"]


class Canned:
    """An execution that grades nothing: each entry gets a full-marks result."""

    def run(self, autograder, jobs):
        for entry, _ in jobs:
            yield entry, result(entry.label, 4, 4)


def test_gradebook_out_keeps_the_layout_roster_and_late_policy_of_the_grading_run(tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    for name in CANVAS_NAMES:   # Canvas's names, graded as a plain folder: the stems are the students
        nbformat.write(nbformat.v4.new_notebook(), inbox / name)
    roster_csv = tmp_path / "roster.csv"
    roster_csv.write_text("key,name\nlovelaceada_1001_55_dense-mnist,Ada\nturingalan_LATE_1002_56_dense-mnist,Alan\n"
                          "noetheremmy,Emmy\n")
    late = LatePolicy(dt.datetime(2026, 3, 1, 23, 59, tzinfo=dt.timezone.utc), penalty_percent=10)
    settings = OutputSettings(roster=read_roster(roster_csv), late=late, feedback="none", assignment="Lesson 1")
    autograder = tmp_path / "dense-mnist-autograder.zip"
    autograder.write_bytes(b"stand-in")
    out = tmp_path / "out"
    for shard in (1, 2):
        grade_batch(autograder, inbox, out, shard=(shard, 2), execution=Canned(), layout="plain", progress=False,
                    collect_options=CollectOptions(settings=settings))
    roster_csv.unlink()   # collecting needs none of the files again
    assert main(["gradebook", str(out)]) == 0
    rows = {r["student"]: r for r in read_rows(out / "gradebook.csv")}
    assert list(rows) == ["lovelaceada_1001_55_dense-mnist", "turingalan_LATE_1002_56_dense-mnist", "noetheremmy"], \
        "the plain layout chosen at grading (not Canvas's, which detection picks), in the roster's order"
    assert rows["noetheremmy"]["status"] == "missing"
    assert "no late penalty" in rows["turingalan_LATE_1002_56_dense-mnist"]["notes"], "the late policy was applied"
    assert json.loads((out / "batch.json").read_text())["layout"] == "plain"


def test_every_setting_reads_back_as_it_was_given(tmp_path):
    (tmp_path / RESULTS).mkdir()
    key = results_key(tmp_path / RESULTS, sandbox_reaches_grader=False)
    due = dt.datetime(2026, 3, 1, 23, 59, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    settings = OutputSettings(
        roster=Roster([Student("1001", "Ada", "ada@uni.edu", "S1", "ada")], {"1001": "Monday, 2 March 2026, 10:15 AM"}),
        late=LatePolicy(due, grace_seconds=900, penalty_percent=2, unit="hour", cap_percent=50,
                        extensions={"ada@uni.edu": due + dt.timedelta(days=3)}),
        hand={"1001": {"more_epochs": HandGrade(1.5, "good"), "why": HandGrade(None)}},
        exports=("canvas", "moodle"), feedback="folders", assignment="Lesson 1", assignment_id="4242",
        lesson_title="Dense MNIST", accuracy_target=0.96, weights_file="model.pt", template=tmp_path / "t.ipynb")
    save_settings(tmp_path, settings, key)
    assert saved_settings(tmp_path, key) == settings
    save_settings(tmp_path, None, key)
    assert saved_settings(tmp_path, key) is None


def test_settings_the_grader_did_not_sign_are_not_believed(tmp_path):
    (tmp_path / RESULTS).mkdir()
    key = results_key(tmp_path / RESULTS, sandbox_reaches_grader=False)
    save_settings(tmp_path, OutputSettings(assignment="Lesson 1"), key)
    record = json.loads((tmp_path / SETTINGS_FILE).read_text())
    record["settings"]["late"] = None
    record["settings"]["assignment"] = "changed"
    (tmp_path / SETTINGS_FILE).write_text(json.dumps(record))
    assert saved_settings(tmp_path, key) is None
    assert saved_settings(Path(tmp_path / "nowhere"), key) is None
