"""The Gradescope autograders, emulated: each built zip unpacked into a Gradescope-like tree
(/autograder/source, submission, results under a temporary root), its entry point run with
this project's environment, and results.json checked against Gradescope's format."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
import yaml

from dlcourse.build.assign import assignment_config
from dlcourse.build.autograder import TORCH_REQUIREMENTS
from dlcourse.course import Course
from dlcourse.sample_submissions import reference_submission, stub_submission
from dlcourse.settings import SAMPLE_DIR
from tests.conftest import ROOT

COURSE = Course(ROOT)
LESSONS = COURSE.lesson_ids()
TRAINED = [i for i in LESSONS if COURSE.reference_weights(COURSE.lesson(i)).is_file()]
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}


def unpack(lesson_id: str, root: Path, submission: Path, **lesson_overrides) -> Path:
    """A Gradescope-like tree under ``root`` with ``submission``'s files in submission/."""
    tree = root / "autograder"
    with zipfile.ZipFile(COURSE.autograder_zip(lesson_id)) as archive:
        archive.extractall(tree / "source")
    if lesson_overrides:
        path = tree / "source" / "files" / "lesson.yaml"
        path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), **lesson_overrides}))
    (tree / "submission").mkdir()
    if submission.suffix == ".zip":
        with zipfile.ZipFile(submission) as archive:
            archive.extractall(tree / "submission")
    else:
        (tree / "submission" / submission.name).write_bytes(submission.read_bytes())
    return tree


def run_autograder(tree: Path) -> dict:
    # This machine's torch is the CUDA build, ~450 MB larger than Gradescope's CPU wheels.
    env = {**os.environ, "DLCOURSE_DATA": str(SAMPLE_DIR), "DLCOURSE_MEMORY_MB": "3000"}
    done = subprocess.run([sys.executable, "-m", "dlcourse.grading.gradescope", str(tree)], capture_output=True,
                          text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((tree / "results" / "results.json").read_text())
    check_gradescope_format(results)
    return results


def check_gradescope_format(results: dict) -> None:
    """Gradescope's documented results.json: tests with name, score, max_score, visibility, output."""
    assert isinstance(results.get("tests"), list) and results["tests"]
    if "score" in results:
        assert isinstance(results["score"], (int, float))
    assert results.get("stdout_visibility", "hidden") in VISIBILITIES
    for test in results["tests"]:
        assert isinstance(test["name"], str) and test["name"]
        assert isinstance(test["score"], (int, float)) and isinstance(test["max_score"], (int, float))
        assert 0 <= test["score"] <= test["max_score"]
        assert test["visibility"] in VISIBILITIES
        assert isinstance(test["output"], str)


def total(results: dict) -> tuple[float, float]:
    return sum(t["score"] for t in results["tests"]), sum(t["max_score"] for t in results["tests"])


@pytest.mark.slow
@pytest.mark.parametrize("lesson_id", TRAINED)
def test_reference_scores_full_marks_on_gradescope(lesson_id, tmp_path):
    submission = reference_submission(COURSE, COURSE.lesson(lesson_id), tmp_path / "in")
    results = run_autograder(unpack(lesson_id, tmp_path, submission))
    score, possible = total(results)
    assert score == possible > 0, results
    public = [t for t in results["tests"] if t["visibility"] == "visible"]
    hidden = [t for t in results["tests"] if t["visibility"] == "after_published"]
    assert public and hidden, "public results show at once, hidden ones once grades are published"


@pytest.mark.slow
@pytest.mark.parametrize("lesson_id", LESSONS)
def test_untouched_stub_scores_zero_on_gradescope(lesson_id, tmp_path):
    submission = stub_submission(COURSE, COURSE.lesson(lesson_id), tmp_path / "in")
    results = run_autograder(unpack(lesson_id, tmp_path, submission))
    assert total(results)[0] == 0
    assert "missing-weights" in results["output"]
    hidden_outputs = " ".join(t["output"] for t in results["tests"] if t["visibility"] != "visible")
    assert "Error at line" not in hidden_outputs, "no test source line reaches a student"


@pytest.mark.slow
def test_a_looping_submission_times_out_within_the_configured_limit(tmp_path):
    lesson = COURSE.lesson("dense-mnist")
    notebook = nbformat.read(COURSE.solution_notebook(lesson.id), as_version=4)
    notebook.cells.insert(3, nbformat.v4.new_code_cell("while True:\n    pass"))
    path = tmp_path / "in" / lesson.notebook
    path.parent.mkdir()
    nbformat.write(notebook, path)
    tree = unpack(lesson.id, tmp_path, path, grading_timeout=20)
    results = run_autograder(tree)
    assert results["output"].startswith("timeout: stopped after 20 s, the time limit"), results["output"]
    assert "while True:" in results["output"]
    score, possible = total(results)
    assert score == 0 and possible > 0, "every question still gets a row, at zero"
    assert all("not graded (timeout): stopped after 20 s" in t["output"] for t in results["tests"])


@pytest.mark.parametrize("lesson_id", LESSONS)
def test_setup_installs_pinned_cpu_torch_and_fetches_data_only_at_build(lesson_id):
    with zipfile.ZipFile(COURSE.autograder_zip(lesson_id)) as archive:
        setup = archive.read("setup.sh").decode()
        run = archive.read("run_autograder").decode()
        requirements = archive.read("requirements.txt").decode()
    assert "--index-url https://download.pytorch.org/whl/cpu" in setup
    assert TORCH_REQUIREMENTS in setup and re.search(r"torch==\d+\.\d+\.\d+ torchvision==\d+\.\d+\.\d+", setup)
    assert all("==" in line for line in requirements.splitlines() if line and not line.startswith("#"))
    assert "data fetch" in setup, "the dataset is fetched while the image is built"
    assert not re.search(r"data fetch|wget|curl|pip install", run), "nothing is downloaded per submission"
    assert "DLCOURSE_DATA=" in run
    commands = "\n".join(line for line in setup.splitlines() if not line.lstrip().startswith("#"))
    assert not re.search(r"playwright|chromium|texlive|pandoc", commands, re.I), "no PDF tooling: the autograder makes no PDFs"


@pytest.mark.parametrize("lesson_id", LESSONS)
def test_python_version_is_quoted_in_otter_config(lesson_id):
    lesson = COURSE.lesson(lesson_id)
    assert assignment_config(lesson.directory / lesson.notebook)["python_version"] == "3.11"
