"""Kinds of real input an outside tester found graded unfairly (the reader review of 2026-12-05):
class folders that swallowed students or split one, downloads wrapped in a folder or a zip,
byte-identical copies of an archive or of weights, Jupyter's and Drive's copy names, a hidden
environment zipped along, ``.pth.tar`` checkpoints, and a notebook that imports from a folder
beside its own. Every input is built here from the lesson's own reference notebook and weights."""

from __future__ import annotations

import os
import json
import subprocess
import sys
from pathlib import Path

import pytest

from dlcourse.course import Course
from dlcourse.grading.inputs import discover
from dlcourse.grading.reader.files import MAX_ENTRIES
from dlcourse.grading.submission import read_submission, stage
from helpers.files import put, zipped
from helpers.paths import ROOT

COURSE = Course.find(ROOT)
DENSE = COURSE.lesson("dense-mnist")
NB = (COURSE.solution_dir(DENSE.id) / f"{DENSE.id}-solution.ipynb").read_bytes()
PT = COURSE.reference_weights(DENSE).read_bytes()
UNTITLED = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()


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


# ---------------------------------------------------------------- a class folder or one student's

def rows(target: Path) -> dict[str, str | None]:
    return {entry.label: entry.problem and entry.problem[1] for entry in discover(target).entries}


def test_student_folders_beside_a_loose_notebook_are_each_a_row(tmp_path):
    root = put(tmp_path / "class", {f"alice/{DENSE.notebook}": NB, f"alice/{DENSE.weights}": PT,
                                    f"bob/{DENSE.notebook}": NB, f"bob/{DENSE.weights}": PT, "carl.ipynb": NB,
                                    "carl.pt": PT})
    found = discover(root)
    assert {e.label for e in found.entries} == {"alice", "bob", "carl.ipynb"}
    carl = next(e for e in found.entries if e.label == "carl.ipynb")
    assert read_submission(carl, DENSE).files == {DENSE.weights: PT}, "a lone notebook takes the weights of its name"


@pytest.mark.parametrize("copy", ["Copy of dense-mnist.ipynb", "dense-mnist (1).ipynb", DENSE.notebook])
def test_one_students_folder_with_a_renamed_notebook_beside_its_export_is_one_row(tmp_path, copy):
    folder = put(tmp_path / "kai", {copy: NB, "dense-mnist.zip": EXPORT})
    [entry] = discover(folder).entries
    assert entry.label == "kai" and entry.students[0].key == "kai", entry.students
    assert read_submission(entry, DENSE).files[DENSE.weights] == PT


def test_a_project_tree_given_as_input_is_one_row(tmp_path):
    folder = put(tmp_path / "lena", {f"notebooks/{DENSE.notebook}": NB, f"notebooks/{DENSE.weights}": PT,
                                     "src/__init__.py": b"", "src/models.py": b"X = 1\n"})
    assert list(rows(folder)) == ["lena"]


@pytest.mark.parametrize("wrapper", ["folder", "zip", "folder holding the zip", "two folders"])
def test_a_class_download_wrapped_in_a_folder_or_a_zip_is_read_inside(tmp_path, wrapper):
    files = {"Lab 2/alice.zip": EXPORT, "Lab 2/bob_dense-mnist.ipynb": NB, "Lab 2/bob_dense_mnist.pt": PT,
             "Lab 2/carol_dense-mnist.ipynb": NB, "Lab 2/carol_dense_mnist.pt": PT}
    if wrapper == "folder":
        target = put(tmp_path / "in", files)
    elif wrapper == "two folders":
        target = put(tmp_path / "in", {f"Lab 2-20261205T101500Z-001/{k}": v for k, v in files.items()})
    else:
        target = put(tmp_path / "in", {"Lab 2-20261205T101500Z-001.zip": zipped(files)})
        target = target if wrapper == "folder holding the zip" else target / "Lab 2-20261205T101500Z-001.zip"
    found = discover(target)
    assert sorted(e.label for e in found.entries) == ["alice.zip", "bob_dense-mnist.ipynb", "carol_dense-mnist.ipynb"]
    assert all(read_submission(e, DENSE).files == {DENSE.weights: PT} for e in found.entries)


def test_a_folder_holding_only_a_canvas_download_zip_is_the_download(tmp_path):
    canvas = zipped({"lovelaceada_104211_9001_dense-mnist.zip": EXPORT, "turingalan_104214_9011_dense-mnist.zip": EXPORT})
    found = discover(put(tmp_path / "in", {"submissions.zip": canvas, ".DS_Store": b"\0"}))
    assert sorted(s.key for e in found.entries for s in e.students) == ["104211", "104214"]
    assert [a.name for a in found.set_aside] == [".DS_Store"]


def test_a_students_zip_with_a_scratch_notebook_is_not_a_class(tmp_path):
    archive = put(tmp_path, {"s.zip": zipped({"dense-mnist-Copy1.ipynb": NB, "Untitled.ipynb": UNTITLED,
                                              DENSE.weights: PT})}) / "s.zip"
    assert list(rows(archive)) == ["s.zip"]


def test_a_canvas_download_unzipped_beside_its_zip_sets_the_zip_aside(tmp_path):
    flat = {"lovelaceada_104211_9001_dense-mnist.ipynb": NB, "lovelaceada_104211_9002_dense_mnist.pt": PT,
            "turingalan_104214_9011_dense-mnist.ipynb": NB, "turingalan_104214_9012_dense_mnist.pt": PT}
    found = discover(put(tmp_path / "in", {**flat, "submissions.zip": zipped(flat)}))
    assert sorted(s.key for e in found.entries for s in e.students) == ["104211", "104214"]
    assert [(a.name, "already unpacked here" in a.reason) for a in found.set_aside] == [("submissions.zip", True)]
    student_zip = put(tmp_path / "plain", {DENSE.notebook: NB, DENSE.weights: PT, "bob.zip": EXPORT, "x.ipynb": NB})
    assert "bob.zip" in rows(student_zip), "one student's zip is never a download unpacked in place"


RECEIPT = """Name: {name} ({user})
Assignment: HW1
Date Submitted: Monday, February 12, 2024 10:03:15 AM CET
Files:
\tOriginal filename: dense-mnist.ipynb
\tFilename: HW1_{user}_attempt_{stamp}_dense-mnist.ipynb
"""


@pytest.mark.parametrize("kind", ["blackboard", "canvas beside its zip", "drive zip in a folder", "class folder"])
def test_every_top_level_entry_of_the_new_kinds_is_a_row_or_set_aside_with_why(tmp_path, kind):
    """The property of issue 20 item 2 on the kinds above: each name in INPUT is a row (its label,
    or one of its files for an LMS layout), an earlier attempt of one, or set aside with a reason."""
    stamp = "2024-02-12-10-03-15"
    inputs = {
        "blackboard": {f"HW1_{u}_attempt_{stamp}{tail}": data for u in ("alovelace", "bturing") for tail, data in
                       ((".txt", RECEIPT.format(name=u, user=u, stamp=stamp).encode()),
                        ("_dense-mnist.ipynb", NB), ("_dense_mnist.pt", PT))},
        "canvas beside its zip": {"lovelaceada_104211_9001_dense-mnist.ipynb": NB, "hopper_104215_9021_x.zip": EXPORT,
                                  "submissions.zip": zipped({"lovelaceada_104211_9001_dense-mnist.ipynb": NB,
                                                             "hopper_104215_9021_x.zip": EXPORT}),
                                  "notes.txt": b"TA notes"},
        "drive zip in a folder": {"Lab 2.zip": zipped({"Lab 2/a.zip": EXPORT, "Lab 2/b.zip": EXPORT}),
                                  ".DS_Store": b"\0"},
        "class folder": {f"a/{DENSE.notebook}": NB, f"a/{DENSE.weights}": PT, "c.ipynb": NB, "d - Colab.url": b"[x]",
                         "~$grades.xlsx": b"\0", "c.ipynb:Zone.Identifier": b"", "e.rar": b"Rar!"},
    }[kind]
    root = put(tmp_path / "in", inputs)
    found = discover(root)
    aside = {a.name.rstrip("/") for a in found.set_aside}
    assert all(a.reason for a in found.set_aside)
    inside = kind == "drive zip in a folder"  # the rows come from inside the archive; the wrapper's own files listed
    covered = {e.label for e in found.entries} | {p.name for e in found.entries for p in e.members.values()} | \
        {name for e in found.entries for name in e.earlier} | aside
    names = set(os.listdir(root)) - ({"Lab 2.zip"} if inside else set())
    assert names <= covered, names - covered
    if inside:
        assert sorted(e.label for e in found.entries) == ["a.zip", "b.zip"] and aside == {".DS_Store"}
    if kind == "canvas beside its zip":
        assert "submissions.zip" in aside and len(found.entries) == 2
    if kind == "blackboard":
        assert sum("receipt" in a.reason for a in found.set_aside) == 2


# ---------------------------------------------------------------- the student's tree, staged whole

def test_a_project_tree_is_staged_whole_with_the_notebooks_folder_as_working_directory(tmp_path):
    files = {f"proj/notebooks/{DENSE.notebook}": NB, f"proj/notebooks/{DENSE.weights}": PT,
             "proj/src/__init__.py": b"", "proj/src/models.py": b"X = 1\n", "proj/README.md": b"hi"}
    sub = read_submission(put(tmp_path, {"p.zip": zipped(files)}) / "p.zip", DENSE)
    assert sub.files == {DENSE.weights: PT} and sub.home == "proj/notebooks"
    assert set(sub.tree) == {"proj/src/__init__.py", "proj/src/models.py", "proj/README.md"}
    run = tmp_path / "run" / "submission"
    support = put(tmp_path / "support", {"lesson.yaml": b"id: x\n"})
    stage(sub, DENSE, run, support=support)
    home = run / "proj" / "notebooks"
    assert sorted(p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file()) == [
        "proj/README.md", f"proj/notebooks/{DENSE.notebook}", f"proj/notebooks/{DENSE.weights}",
        "proj/notebooks/lesson.yaml", "proj/src/__init__.py", "proj/src/models.py"]
    done = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, '..'); from src.models import X; "
                                                 "print(X)"], cwd=home, capture_output=True, text=True)
    assert done.stdout.strip() == "1", done.stderr


def test_weights_outside_the_notebooks_folder_are_the_lessons_and_stay_in_place(tmp_path):
    files = {f"proj/notebooks/{DENSE.notebook}": NB, "proj/models/dense_mnist.pt": PT}
    sub = read_submission(put(tmp_path, {"p.zip": zipped(files)}) / "p.zip", DENSE)
    assert sub.files == {DENSE.weights: PT} and sub.tree == {"proj/models/dense_mnist.pt": PT}
    assert any("../models/dense_mnist.pt was graded as dense_mnist.pt" in note for note in sub.notes)


def test_staging_never_writes_outside_its_folder(tmp_path):
    """A path leading out (an LMS's 'original file name' is the student's text) is neither read nor staged."""
    from dlcourse.grading.inputs import Entry
    bad = put(tmp_path / "lms", {"nb": NB, "pt": PT, "evil": b"x"})
    entry = Entry(bad / "nb", "nb", members={DENSE.notebook: bad / "nb", DENSE.weights: bad / "pt",
                                             "../../escaped.py": bad / "evil"})
    sub = read_submission(entry, DENSE)
    assert not any(".." in name for name in [*sub.files, *sub.tree])
    sub.files["../escaped.py"] = b"x"
    stage(sub, DENSE, tmp_path / "run" / "submission")
    assert not (tmp_path / "run" / "escaped.py").exists()
    assert any("was not staged: a path leading outside" in note for note in sub.notes)
