"""Regrades give the same grade: hidden tests draw their inputs from a keyed hash of the
submission, so the same submission draws the same inputs every time, another submission
draws others, and students, who never see the key, cannot predict them."""

from __future__ import annotations

import ast
import json
import re
import secrets
import zipfile

import nbformat
import pytest
import torch

from dlcourse.course import Course
from dlcourse.grading.pipeline import GradingOptions, grade_submission
from dlcourse.grading.randomness import KEY_FILE, seed_for, seeded, submission_digest
from dlcourse.settings import SAMPLE_DIR
from helpers.paths import ROOT

COURSE = Course(ROOT)


def draws(key: str, digest: str) -> tuple:
    with seeded(seed_for(key, digest, "tests/flatten.py")):
        return tuple(secrets.randbelow(10**9) for _ in range(3)), torch.randint(0, 256, (4,)).tolist()


def test_inputs_follow_the_submission_and_the_key():
    one, other = submission_digest({"a.ipynb": b"1"}), submission_digest({"a.ipynb": b"2"})
    assert draws("key", one) == draws("key", one)
    assert draws("key", one) != draws("key", other)
    assert draws("key", one) != draws("another key", one)
    before = secrets.randbelow(2**60), secrets.randbelow(2**60)
    assert before[0] != before[1], "outside the block, secrets is the operating system's again"


@pytest.mark.parametrize("lesson_id", COURSE.lesson_ids())
def test_the_key_travels_only_in_the_autograder(lesson_id):
    key = (COURSE.assignments / lesson_id / KEY_FILE).read_text().strip()
    with zipfile.ZipFile(COURSE.autograder_zip(lesson_id)) as archive:
        assert archive.read(KEY_FILE).decode().strip() == key
    released = [p for p in COURSE.student_dir(lesson_id).rglob("*") if p.is_file()]
    assert not any(p.name == KEY_FILE or key in p.read_text(errors="replace") for p in released)


@pytest.mark.slow
def test_the_same_submission_graded_twice_gets_the_same_results(tmp_path):
    """A flat_features that is right only for small images fails some random shapes: which
    ones, and so its score and messages, must not change between regrades. The failure names
    the shape that failed, in a result students see once grades are published."""
    lesson = COURSE.lesson("dense-mnist")
    notebook = nbformat.read(COURSE.solution_notebook(lesson.id), as_version=4)
    cell = next(c for c in notebook.cells if c.source.startswith("def flat_features"))
    cell.source += "\n\n_right = flat_features\ndef flat_features(shape):\n    return _right(shape) if max(shape) < 10 else 0\n"
    path = tmp_path / "partly-wrong.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(lesson.notebook, nbformat.writes(notebook))
        archive.write(COURSE.reference_weights(lesson), lesson.weights)
    graded = []
    for _ in range(2):
        report = grade_submission(COURSE.autograder_zip(lesson.id), path, GradingOptions(data=SAMPLE_DIR)).to_gradescope()
        report.pop("execution_time")
        graded.append(json.dumps(report, sort_keys=True))
    assert graded[0] == graded[1]
    hidden = next(t for t in json.loads(graded[0])["tests"] if t["name"] == "flatten (hidden tests)")
    assert hidden["visibility"] == "after_published" and hidden["score"] < hidden["max_score"]
    shown = re.findall(r"for flat_features\((\(\d+, \d+, \d+\))\): flat_features should multiply", hidden["output"])
    assert len(shown) == 1 and max(ast.literal_eval(shown[0])) >= 10, hidden["output"]
