"""Kinds of real input an outside tester found graded unfairly (the reader review of 2026-12-05):
class folders that swallowed students or split one, downloads wrapped in a folder or a zip,
byte-identical copies of an archive or of weights, Jupyter's and Drive's copy names, a hidden
environment zipped along, ``.pth.tar`` checkpoints, and a notebook that imports from a folder
beside its own. Every input is built here from the lesson's own reference notebook and weights."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from dlcourse.course import Course
from dlcourse.grading.inputs import discover
from dlcourse.grading.reader.files import MAX_ENTRIES
from dlcourse.grading.submission import read_submission
from helpers.paths import ROOT

COURSE = Course.find(ROOT)
DENSE = COURSE.lesson("dense-mnist")
NB = (COURSE.solution_dir(DENSE.id) / f"{DENSE.id}-solution.ipynb").read_bytes()
PT = COURSE.reference_weights(DENSE).read_bytes()
UNTITLED = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def put(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


EXPORT = zipped({DENSE.notebook: NB, DENSE.weights: PT})


# ---------------------------------------------------------------- one submission: copies, names, caps

def test_byte_identical_archives_are_one_upload(tmp_path):
    folder = put(tmp_path / "s", {"dense-mnist.zip": EXPORT, "dense-mnist (1).zip": EXPORT})
    sub = read_submission(folder, DENSE)
    assert sub.files == {DENSE.weights: PT}
    assert any("dense-mnist (1).zip is a byte-identical copy" in note for note in sub.notes)
    nested = put(tmp_path / "n", {"outer.zip": zipped({"a.zip": EXPORT, "a (2).zip": EXPORT})})
    assert read_submission(nested, DENSE).files == {DENSE.weights: PT}


def test_the_weights_the_notebook_opens_win_and_identical_copies_are_one(tmp_path):
    beside = zipped({DENSE.notebook: NB, DENSE.weights: PT, f"backup/{DENSE.weights}": PT})
    sub = read_submission(put(tmp_path, {"s.zip": beside}) / "s.zip", DENSE)
    assert sub.files[DENSE.weights] == PT
    other = zipped({DENSE.notebook: NB, "weights (1).pt": PT, "old/weights.pt": PT, "x/dense_mnist-1.pt": PT,
                    "y/Dense_MNIST.pt": PT})
    sub = read_submission(put(tmp_path, {"t.zip": other}) / "t.zip", DENSE)
    assert sub.files[DENSE.weights] == PT
    assert any("x/dense_mnist-1.pt is a byte-identical copy" in note or "byte-identical" in note
               for note in sub.notes)


@pytest.mark.parametrize("copy", ["dense-mnist-Copy1.ipynb", "Copy of dense-mnist.ipynb", "dense-mnist - Kopie.ipynb",
                                  "lab 2 final.ipynb"])
def test_a_renamed_copy_beside_a_scratch_notebook_is_the_lessons(tmp_path, copy):
    archive = zipped({copy: NB, "Untitled.ipynb": UNTITLED, DENSE.weights: PT})
    sub = read_submission(put(tmp_path, {"s.zip": archive}) / "s.zip", DENSE)
    assert sub.assignment_name == DENSE.id and sub.files == {DENSE.weights: PT}
    assert any(f"graded {copy}, the lesson's notebook" in note for note in sub.notes)


def test_a_hidden_environment_counts_against_no_cap(tmp_path):
    files = {DENSE.notebook: NB, DENSE.weights: PT, **{f".venv/lib/f{i}.py": b"" for i in range(2001)}}
    sub = read_submission(put(tmp_path, {"s.zip": zipped(files)}) / "s.zip", DENSE)
    assert sub.files == {DENSE.weights: PT}
    too_many = {DENSE.notebook: NB, **{f"src/f{i}.py": b"" for i in range(2001)}}
    with pytest.raises(Exception, match=f"more than {MAX_ENTRIES} files"):  # 2001 code files: none left out
        read_submission(put(tmp_path, {"t.zip": zipped(too_many)}) / "t.zip", DENSE)


@pytest.mark.parametrize("name", ["model_best.pth.tar", "checkpoint.PTH.TAR"])
def test_a_pth_tar_checkpoint_is_weights_not_a_tar(tmp_path, name):
    sub = read_submission(put(tmp_path / "s", {DENSE.notebook: NB, name: PT}), DENSE)
    assert sub.files == {DENSE.weights: PT}
    assert any(f"{name} was graded as {DENSE.weights}" in note for note in sub.notes)
    assert not any("tar" in note and "readable" in note for note in sub.notes)
