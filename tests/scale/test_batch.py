"""Bulk grading: a mixed folder becomes a complete gradebook, every file accounted for, and an
interrupted run resumes to exactly what an uninterrupted one gives."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import nbformat
import pytest
import yaml

from dlcourse.course import Course
from dlcourse.grading.batch import grade_batch
from dlcourse.sample_submissions import load_mistakes, mistake_submission, reference_submission, stub_submission
from dlcourse.settings import SAMPLE_DIR
from helpers.paths import ROOT, on_sample_data

COURSE = Course(ROOT)
DENSE = COURSE.lesson("dense-mnist")
pytestmark = pytest.mark.slow


def notebook_variant(folder: Path, name: str, change) -> Path:
    notebook = nbformat.read(COURSE.solution_notebook(DENSE.id), as_version=4)
    change(notebook)
    path = folder / name
    nbformat.write(notebook, path)
    return path


def zipped(folder: Path, name: str, notebook: Path, weights: bool = True) -> Path:
    path = folder / name
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(notebook, DENSE.notebook)
        if weights:
            archive.write(COURSE.reference_weights(DENSE), DENSE.weights)
    return path


def make_mixed_batch(folder: Path) -> dict[str, str]:
    """Every kind of input a batch meets, with the status each must get."""
    folder.mkdir(parents=True)
    expected = {}
    scratch = folder.parent / "parts"
    scratch.mkdir()
    shutil.copy(reference_submission(COURSE, DENSE, scratch), folder / "reference.zip")
    expected["reference.zip"] = "ok"
    shutil.copy(stub_submission(COURSE, DENSE, scratch), folder / "stub.ipynb")
    expected["stub.ipynb"] = "missing-weights"
    crashing = next(m for m in load_mistakes(DENSE) if m.name == "crashing-cell")
    shutil.copy(mistake_submission(COURSE, DENSE, crashing, scratch), folder / "crashing.zip")
    expected["crashing.zip"] = "error"
    unscaled = next(m for m in load_mistakes(DENSE) if m.name == "unscaled-pixels")
    shutil.copy(mistake_submission(COURSE, DENSE, unscaled, scratch), folder / "flawed.zip")
    expected["flawed.zip"] = "ok"
    loop = notebook_variant(scratch, "loop.ipynb", lambda nb: nb.cells.insert(3, nbformat.v4.new_code_cell("while True:\n    pass")))
    zipped(folder, "loop.zip", loop)
    expected["loop.zip"] = "timeout"
    (folder / "broken.ipynb").write_text('{"cells": [ not json')
    expected["broken.ipynb"] = "invalid-notebook"
    (folder / "empty.ipynb").write_text("")
    expected["empty.ipynb"] = "invalid-notebook"
    (folder / "notes.txt").write_text("not a submission")
    other = COURSE.student_dir("cnn-mnist") / COURSE.lesson("cnn-mnist").notebook
    shutil.copy(other, folder / "other-lesson.ipynb")
    expected["other-lesson.ipynb"] = "wrong-assignment"
    custom = notebook_variant(scratch, "custom.ipynb",
                              lambda nb: nb.metadata.update(kernelspec={"name": "my-course-env", "display_name": "Mine", "language": "python"}))
    zipped(folder, "custom-kernel.zip", custom)
    expected["custom-kernel.zip"] = "ok"
    bare = notebook_variant(scratch, "bare.ipynb", lambda nb: None)
    zipped(folder, "no-weights.zip", bare, weights=False)
    expected["no-weights.zip"] = "missing-weights"
    shutil.copy(stub_submission(COURSE, DENSE, scratch), folder / "alice.ipynb")
    time.sleep(0.01)
    shutil.copy(reference_submission(COURSE, DENSE, scratch), folder / "alice.zip")
    expected["alice.ipynb"] = "missing-weights"
    expected["alice.zip"] = "ok"
    return expected


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixed")
    expected = make_mixed_batch(root / "in")
    with on_sample_data():
        summary = grade_batch(COURSE.autograder_zip(DENSE.id), root / "in", root / "out", workers=2,
                              timeout=25, progress=False)
    return expected, summary, root / "out"


def dense_full_marks() -> str:
    """dense-mnist's autograded points, as the gradebook writes them (from its autograder's manifest)."""
    manifest = json.loads(zipfile.ZipFile(COURSE.autograder_zip(DENSE.id)).read("manifest.json"))
    return f"{sum(q['points'] for q in manifest['questions']):g}"


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_every_input_gets_the_right_status(mixed):
    expected, summary, _ = mixed
    statuses = {r.submission: r.status for r in summary.results.values()}
    assert statuses == expected, {k: (statuses.get(k), v) for k, v in expected.items() if statuses.get(k) != v}


def test_every_status_comes_with_a_reason(mixed):
    _, summary, _ = mixed
    for result in summary.results.values():
        assert (result.status == "ok") == (result.reason == ""), (result.submission, result.reason)
    loop = next(r for r in summary.results.values() if r.submission == "loop.zip")
    assert "while True:" in loop.reason and "25 s" in loop.reason


def test_no_row_is_lost_and_skipped_files_are_listed(mixed):
    expected, _, out = mixed
    rows = read_csv(out / "submissions.csv")
    assert {r["submission"] for r in rows} == set(expected) | {"notes.txt"}
    assert next(r for r in rows if r["submission"] == "notes.txt")["status"] == "skipped"
    for name in expected:
        assert (out / "results" / f"{name}.json").is_file()


def test_one_row_per_student_with_the_latest_submission(mixed):
    _, _, out = mixed
    rows = read_csv(out / "gradebook.csv")
    alice = [r for r in rows if r["student"] == "alice"]
    assert len(alice) == 1
    assert alice[0]["submission"] == "alice.zip" and alice[0]["other_submissions"] == "alice.ipynb"
    assert alice[0]["score"] == alice[0]["possible"] == dense_full_marks()
    assert alice[0]["more_epochs"] == "manual", "a question graded by hand is marked, not scored"
    for column in ("prepare", "flatten", "model", "parameters", "accuracy", "percent", "status", "reason"):
        assert column in rows[0]


def test_report_summarises_the_batch(mixed):
    _, _, out = mixed
    report = (out / "report.md").read_text()
    for part in ("## Statuses", "| timeout | 1 |", "## Questions", "## Most common failure messages",
                 "## Submissions to look at", "loop.zip", "`notes.txt`", "![score histogram](scores.png)"):
        assert part in report
    assert (out / "scores.png").read_bytes()[:4] == b"\x89PNG"
    html = (out / "report.html").read_text()   # its figures drawn after the warm-up the judges ran beside
    assert '<img alt="score distribution of model" src="data:image/svg+xml;base64,' in html and 'id="accuracy-figure"' in html
    assert (out / "notebooks" / "reference.ipynb").is_file(), "named by the stem: no reference.zip.ipynb"


def test_a_rerun_reuses_results_and_force_regrades(mixed, tmp_path):
    expected, _, out = mixed
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    with on_sample_data():
        again = grade_batch(COURSE.autograder_zip(DENSE.id), out.parent / "in", copy, workers=2, timeout=25,
                            progress=False)
    assert again.reused == len(expected) and again.graded == 0


def test_interrupted_then_resumed_equals_a_clean_run(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    scratch = tmp_path / "parts"
    for name in ("one", "two", "three", "four"):
        shutil.copy(reference_submission(COURSE, DENSE, scratch), folder / f"{name}.zip")
    shutil.copy(stub_submission(COURSE, DENSE, scratch), folder / "five.ipynb")
    env = {**os.environ, "DLCOURSE_DATA": str(SAMPLE_DIR)}
    command = [sys.executable, "-m", "dlcourse", "grade", "--lesson", DENSE.id, str(folder), "--workers", "1"]

    clean = subprocess.run([*command, "--out", str(tmp_path / "clean")], env=env, capture_output=True, timeout=600)
    assert clean.returncode == 0, clean.stderr[-2000:]

    before = set(Path(tempfile.gettempdir()).glob("dlcourse-grade-*"))
    # A shell without job control starts background jobs with SIGINT ignored, and the child
    # would inherit that; Ctrl-C must reach it as it would at a terminal.
    interrupted = subprocess.Popen([*command, "--out", str(tmp_path / "resumed")], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    results = tmp_path / "resumed" / "results"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list(results.glob("*.json"))) < 2:
        time.sleep(0.2)
    interrupted.send_signal(signal.SIGINT)
    assert interrupted.wait(timeout=120) != 0
    partial = read_csv(tmp_path / "resumed" / "gradebook.csv")
    assert len(partial) == 5 and {r["status"] for r in partial} >= {"pending"}, "a consistent gradebook, pending rows included"
    assert set(Path(tempfile.gettempdir()).glob("dlcourse-grade-*")) <= before, "scratch folders (hidden tests) removed"

    resumed = subprocess.run([*command, "--out", str(tmp_path / "resumed")], env=env, capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0 and "reused from an earlier run" in resumed.stdout
    for name in ("gradebook.csv", "submissions.csv"):
        assert (tmp_path / "resumed" / name).read_text() == (tmp_path / "clean" / name).read_text()


def test_gradescope_export_maps_identities(tmp_path):
    export = tmp_path / "export"
    for folder, make in (("submission_111", reference_submission), ("submission_222", stub_submission)):
        (export / folder).mkdir(parents=True)
        made = make(COURSE, DENSE, tmp_path / "parts" / folder)
        if made.suffix == ".zip":
            with zipfile.ZipFile(made) as archive:
                archive.extractall(export / folder)
        else:
            shutil.copy(made, export / folder / made.name)
    (export / "submission_metadata.yml").write_text(yaml.safe_dump({
        "submission_111": {":submitters": [{":name": "Ada Lovelace", ":email": "ada@uni.edu", ":sid": "S1"},
                                            {":name": "Alan Turing", ":email": "alan@uni.edu", ":sid": "S2"}],
                           ":created_at": "2026-11-20 10:00:00"},
        "submission_222": {":submitters": [{":name": "Grace Hopper", ":email": "grace@uni.edu", ":sid": "S3"}],
                           ":created_at": "2026-11-20 11:00:00"},
    }))
    with on_sample_data():
        grade_batch(COURSE.autograder_zip(DENSE.id), export, tmp_path / "out", workers=2, progress=False)
    rows = {r["sid"]: r for r in read_csv(tmp_path / "out" / "gradebook.csv")}
    assert set(rows) == {"S1", "S2", "S3"}
    assert rows["S1"]["name"] == "Ada Lovelace" and rows["S1"]["email"] == "ada@uni.edu"
    assert rows["S1"]["score"] == rows["S2"]["score"] == dense_full_marks(), "a group submission counts for each member"
    assert rows["S3"]["status"] == "missing-weights" and rows["S3"]["submission"] == "submission_222"
    results = json.loads((tmp_path / "out" / "results" / "submission_111.json").read_text())
    assert results["result"]["status"] == "ok"
