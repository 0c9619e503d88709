"""An autograder zip run as Gradescope runs it: unpacked into a Gradescope-like tree
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

import yaml

from dlcourse.course import Course
from dlcourse.settings import SAMPLE_DIR

from .paths import ROOT


COURSE = Course(ROOT)


VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}


FORMATS = {"output_format", "test_output_format", "test_name_format"}


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
    assert re.search(r"^enforced: .*network namespace|^WARNING, not enforced: network isolation", done.stdout, re.M), \
        "the autograder output (the instructor's) says whether the network was blocked"
    results = json.loads((tree / "results" / "results.json").read_text())
    check_gradescope_format(results)
    return results


def check_gradescope_format(results: dict) -> None:
    """Gradescope's documented results.json: tests with name, score, max_score, visibility, output."""
    assert isinstance(results.get("tests"), list) and results["tests"]
    if "score" in results:
        assert isinstance(results["score"], (int, float))
    assert results.get("stdout_visibility", "hidden") in VISIBILITIES
    check_plain_text(results)
    for test in results["tests"]:
        assert isinstance(test["name"], str) and test["name"]
        assert isinstance(test["score"], (int, float)) and isinstance(test["max_score"], (int, float))
        assert 0 <= test["score"] <= test["max_score"]
        assert test["visibility"] in VISIBILITIES
        assert isinstance(test["output"], str)


def check_plain_text(results: dict) -> None:
    """Every string is declared plain text: Gradescope's default (simple_format) reads HTML."""
    assert {key: results.get(key) for key in FORMATS} == dict.fromkeys(FORMATS, "text")
    for test in results["tests"]:
        assert test.get("output_format") == test.get("name_format") == "text", test


def total(results: dict) -> tuple[float, float]:
    return sum(t["score"] for t in results["tests"]), sum(t["max_score"] for t in results["tests"])
