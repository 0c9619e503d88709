"""The liberal reader (grading/reader/): repair steps, archives, files found by what they are,
input layouts, and inputs built to stall or crash a reader. Every input is built here, from the
lessons' own reference notebooks and weights; the slow tests grade some of them for real."""

from __future__ import annotations

import io
import json
import os
import tarfile
import zipfile
from pathlib import Path

import nbformat
import pytest

from dlcourse.cli import main as cli_main
from dlcourse.course import Course
from dlcourse.grading.batch import grade_batch
from dlcourse.grading.inputs import discover
from dlcourse.grading.preflight import lesson_files
from dlcourse.grading.reader.files import find_lesson_file
from dlcourse.grading.reader.layouts import GRADESCOPE_METADATA
from dlcourse.grading.reader.repairs import MAX_CELLS, MAX_DEPTH
from dlcourse.grading.submission import SubmissionProblem, read_submission, stage
from dlcourse.sample_submissions import reference_submission
from helpers.gradebooks import read_rows, result as gradebook_result
from helpers.paths import ROOT, on_sample_data

COURSE = Course.find(ROOT)
DENSE = COURSE.lesson("dense-mnist")
CNN = COURSE.lesson("cnn-mnist")


def notebook_text(lesson) -> str:
    return (COURSE.solution_dir(lesson.id) / f"{lesson.id}-solution.ipynb").read_text()


def weights(lesson) -> bytes:
    return COURSE.reference_weights(lesson).read_bytes()


def members(lesson, notebook: str | bytes | None = None, prefix: str = "") -> dict[str, bytes]:
    text = notebook if notebook is not None else notebook_text(lesson)
    return {f"{prefix}{lesson.notebook}": text.encode() if isinstance(text, str) else text,
            f"{prefix}{lesson.weights}": weights(lesson)}


def as_zip(path: Path, files: dict[str, bytes | str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def as_tar(path: Path, files: dict[str, bytes], mode: str = "w:gz", link: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo(link)
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            archive.addfile(info)
    return path


def write(folder: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


# ---------------------------------------------------------------- item 1: repair steps, each with a note

def test_vscode_transient_output_keys_are_dropped_with_a_note(tmp_path):
    nb = json.loads(notebook_text(DENSE))
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code")
    cell["outputs"] = [{"output_type": "display_data", "data": {"text/plain": "x"}, "metadata": {},
                        "transient": {"display_id": "abc"}}]
    nb["metadata"]["vscode"] = {"interpreter": {"hash": "0" * 64}}
    sub = read_submission(as_zip(tmp_path / "s.zip", members(DENSE, json.dumps(nb))), DENSE)
    nbformat.validate(sub.notebook)
    assert any(note.startswith("schema:") and "transient" in note for note in sub.notes)


@pytest.mark.parametrize("encoding", ["utf-16", "crlf"])
def test_utf16_and_windows_line_endings_are_read_with_a_note(tmp_path, encoding):
    text = notebook_text(DENSE)
    if encoding == "utf-16":
        data = text.encode("utf-16")
    else:
        nb = json.loads(text)
        for cell in nb["cells"]:
            cell["source"] = "".join(cell["source"]).replace("\n", "\r\n")
        data = json.dumps(nb).encode()
    sub = read_submission(as_zip(tmp_path / "s.zip", members(DENSE, data)), DENSE)
    assert sub.assignment_name == DENSE.id
    assert any(note.startswith("encoding:" if encoding == "utf-16" else "line endings:") for note in sub.notes)
    assert all("\r" not in cell.source for cell in sub.notebook.cells)


def test_missing_required_keys_are_added_and_duplicate_ids_made_unique(tmp_path):
    nb = json.loads(notebook_text(DENSE))
    for cell in nb["cells"]:
        cell["id"] = "same"
        cell.pop("metadata", None)
    sub = read_submission(as_zip(tmp_path / "s.zip", members(DENSE, json.dumps(nb))), DENSE)
    nbformat.validate(sub.notebook)
    assert len({cell.id for cell in sub.notebook.cells}) == len(sub.notebook.cells)
    assert any(note.startswith("cell ids:") for note in sub.notes)


def test_cell_ids_jupyter_opens_but_the_schema_refuses_are_made_valid(tmp_path):
    nb = json.loads(notebook_text(DENSE))
    nb["nbformat_minor"] = 5
    for cell, bad in zip(nb["cells"], ["cell 0", "{9f1c-uuid}", None, "x" * 80, "cell 0"]):
        cell["id"] = bad
    sub = read_submission(as_zip(tmp_path / "s.zip", members(DENSE, json.dumps(nb))), DENSE)
    nbformat.validate(sub.notebook)
    assert [cell.id for cell in sub.notebook.cells[:2]] == ["cell-0", "-9f1c-uuid-"]
    assert len({cell.id for cell in sub.notebook.cells}) == len(sub.notebook.cells)
    assert any(note.startswith("cell ids: 5 cell id(s) the format does not allow were made valid") for note in sub.notes)


def test_invalid_tags_are_repaired_not_dropped(tmp_path):
    """``otter_ignore`` decides which cells run: a schema repair keeps every tag it can."""
    nb = json.loads(notebook_text(DENSE))
    code = [cell for cell in nb["cells"] if cell["cell_type"] == "code"]
    code[0]["metadata"]["tags"] = ["otter_ignore", "otter_ignore"]
    code[1]["metadata"]["tags"] = "otter_ignore"
    code[2]["metadata"]["tags"] = ["otter_ignore,slow", 3]
    sub = read_submission(as_zip(tmp_path / "s.zip", members(DENSE, json.dumps(nb))), DENSE)
    nbformat.validate(sub.notebook)
    tags = [cell.metadata.get("tags") for cell in sub.notebook.cells if cell.cell_type == "code"][:3]
    assert tags == [["otter_ignore"], ["otter_ignore"], ["otter_ignore", "slow"]]
    assert any(note.startswith("schema: the tags of 3 cell(s) made a list of unique tags") for note in sub.notes)


@pytest.mark.parametrize("content, says", [
    (b"PK\x03\x04rest", "a zip archive renamed .ipynb"),
    (b"%PDF-1.7 ...", "a PDF"),
    (b"<!DOCTYPE html><html>", "an HTML page"),
    (b"import torch\nprint(1)\n", "Python code"),
    (b'{"a": 1}', "not a Jupyter notebook"),
    (b'{"cells": 5}', "not a Jupyter notebook (its cells are not a list)"),
    (b'{"cells": {"a": 1}, "nbformat": 4}', "not a Jupyter notebook (its cells are not a list)"),
    (b'{"worksheets": 5, "nbformat": 3}', "not a Jupyter notebook"),
    (b'{"worksheets": [], "nbformat": 3}', "an nbformat 3 notebook that Jupyter cannot convert to 4"),
    (b"[" * 100_000 + b"]" * 100_000, f"deeper than any notebook (over {MAX_DEPTH} levels)"),
    (b'{"cells": [' + b",".join([b'{"cell_type": "raw", "metadata": {}, "source": ""}'] * (MAX_CELLS + 1))
     + b'], "metadata": {}, "nbformat": 4, "nbformat_minor": 4}', f"has {MAX_CELLS + 1} cells"),
])
def test_what_no_tool_opens_is_refused_saying_what_the_file_is(tmp_path, content, says):
    path = tmp_path / DENSE.notebook
    path.write_bytes(content)
    with pytest.raises(SubmissionProblem, match="dense-mnist.ipynb .*" + says.replace("(", r"\(").replace(")", r"\)")):
        read_submission(path, DENSE)


# ---------------------------------------------------------------- item 2: every archive, every input a row

@pytest.mark.parametrize("name, mode", [("carl.tar.gz", "w:gz"), ("carl.TGZ", "w:gz"), ("carl.tar.bz2", "w:bz2"),
                                        ("carl.tar.xz", "w:xz"), ("carl.TAR", "w")])
def test_every_tar_format_reads_like_a_zip_with_links_left_out(tmp_path, name, mode):
    path = as_tar(tmp_path / name, members(DENSE, prefix="hw1/"), mode, link="hw1/passwd")
    sub = read_submission(path, DENSE)
    assert sub.files == {DENSE.weights: weights(DENSE)}
    assert any("links and special files inside it were not followed (hw1/passwd)" in n for n in sub.notes)


def test_unsafe_or_encrypted_archives_are_refused_with_what_is_wrong(tmp_path):
    with pytest.raises(SubmissionProblem, match="unsafe path: ../evil.py"):
        read_submission(as_tar(tmp_path / "a.tar.gz", {**members(DENSE), "../evil.py": b"x"}), DENSE)
    encrypted = bytearray(as_zip(tmp_path / "e.zip", members(DENSE)).read_bytes())
    for offset in _headers(bytes(encrypted)):  # set the "encrypted" flag bit on every member
        encrypted[offset] |= 0x1
    (tmp_path / "e.zip").write_bytes(bytes(encrypted))
    with pytest.raises(SubmissionProblem, match="e.zip is encrypted .*zip it again without one"):
        read_submission(tmp_path / "e.zip", DENSE)


def _headers(data: bytes) -> list[int]:
    """Offsets of the general-purpose flag byte of every local and central zip header."""
    offsets = []
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = data.find(signature)
        while start != -1:
            offsets.append(start + flag_at)
            start = data.find(signature, start + 4)
    return offsets


def test_every_top_level_entry_is_a_row_or_set_aside_with_why(tmp_path):
    """A class folder holding one of every kind: each entry is a student's row or set aside."""
    root = tmp_path / "class"
    root.mkdir()
    as_zip(root / "ada.zip", members(DENSE))
    as_tar(root / "carl.tar.gz", members(DENSE, prefix="hw1/"))
    (root / "dora.ipynb").write_text(notebook_text(DENSE))
    write(root / "eve", members(DENSE, prefix="hw1/"))
    (root / "fred.rar").write_bytes(b"Rar!\x1a\x07\x00")
    (root / "gus.7z").write_bytes(b"7z\xbc\xaf\x27\x1c")
    (root / "hal.py").write_text("print('hello')\n")
    (root / "ivy.pdf").write_bytes(b"%PDF-1.7")
    (root / "jo.pt").write_bytes(weights(DENSE))
    write(root / "kim", {"model.pt": weights(DENSE)})
    (root / "empty").mkdir()
    (root / "README.md").write_text("hand-in folder\n")
    (root / ".DS_Store").write_bytes(b"\0")
    (root / "link.zip").symlink_to(root / "ada.zip")
    os.mkfifo(root / "pipe.ipynb")
    (root / os.fsdecode(b"l\xe9a.ipynb")).write_text(notebook_text(DENSE))
    (root / "nia - Colab.url").write_text("[InternetShortcut]\nURL=https://colab.research.google.com/drive/1x\n")
    (root / "ada.zip:Zone.Identifier").write_text("[ZoneTransfer]\nZoneId=3\n")
    (root / "~$grades.xlsx").write_bytes(b"\0")
    write(root / "oz", {"Copy of dense-mnist.ipynb": notebook_text(DENSE).encode(),
                        "dense-mnist.zip": (root / "ada.zip").read_bytes()})
    found = discover(root)
    rows = {entry.label: entry for entry in found.entries}
    aside = {item.name.rstrip("/"): item.reason for item in found.set_aside}
    names = {os.fsdecode(n) for n in os.listdir(root)}
    assert len(rows) + len(aside) == len(names) and not set(rows) & set(aside)
    graded = {"ada.zip", "carl.tar.gz", "dora.ipynb", "eve", "l\ufffda.ipynb", "oz"}
    assert {label for label, entry in rows.items() if entry.problem is None} == graded
    problems = {label: entry.problem[1] for label, entry in rows.items() if entry.problem}
    assert "a .rar archive" in problems["fred.rar"] and "submit a .zip" in problems["fred.rar"]
    assert "a .7z archive" in problems["gus.7z"] and "a Python script" in problems["hal.py"]
    assert "a PDF" in problems["ivy.pdf"] and "weights file without a notebook" in problems["jo.pt"]
    assert "holds no notebook" in problems["kim"] and "model.pt" in problems["kim"]
    assert "a shortcut to a page online" in problems["nia - Colab.url"]
    assert "system file" in aside["ada.zip:Zone.Identifier"] and "system file" in aside["~$grades.xlsx"]
    assert "link" in aside["link.zip"] and "FIFO" in aside["pipe.ipynb"] and "empty" in aside["empty"]
    assert "a .md file" in aside["README.md"] and "hidden" in aside[".DS_Store"]
    assert rows["carl.tar.gz"].students[0].key == "carl"
    for label in graded:
        assert read_submission(rows[label], DENSE).files.get(DENSE.weights) == (
            None if label.endswith(".ipynb") else weights(DENSE)), label


def test_a_fifo_or_a_link_to_a_device_inside_a_submission_is_listed_never_read(tmp_path):
    folder = write(tmp_path / "ada", members(DENSE))
    os.mkfifo(folder / "data.csv")  # an open() on it would wait for a writer forever
    (folder / "big.bin").symlink_to("/dev/zero")  # a read() on it would never end
    sub = read_submission(folder, DENSE)
    assert set(sub.files) == {DENSE.weights}
    assert any("data.csv (a named pipe (FIFO)" in note for note in sub.notes)


# ---------------------------------------------------------------- item 3: files found by what they are, folders kept

def test_renamed_files_are_found_when_one_candidate_exists_with_a_note_naming_it(tmp_path):
    files = {"dense-mnist (2).ipynb": notebook_text(DENSE), "dense_mnist (1).pt": weights(DENSE)}
    sub = read_submission(as_zip(tmp_path / "s.zip", files), DENSE)
    assert sub.files == {DENSE.weights: weights(DENSE)}
    assert any("dense_mnist (1).pt was graded as dense_mnist.pt" in note for note in sub.notes)
    for wanted, names in [("dense_mnist.pt", ["DENSE_MNIST.PT"]), ("dense_mnist.pt", ["lovelace_1_2_dense_mnist-1.pt"]),
                          ("dense-mnist.ipynb", ["Dense_MNIST copy.ipynb"])]:
        assert find_lesson_file(wanted, names)[0] == names[0]
    assert find_lesson_file("dense_mnist.pt", ["cnn_mnist.pt", "model.pt"]) == (None, None)


def test_two_candidates_are_refused_naming_both(tmp_path):
    files = {DENSE.notebook: notebook_text(DENSE), "dense_mnist (1).pt": weights(DENSE),
             "Dense-MNIST-2.pt": weights(DENSE) + b"\0"}   # byte-identical ones would be one file
    with pytest.raises(SubmissionProblem, match=r"2 files that could be dense_mnist.pt \(Dense-MNIST-2.pt, "
                                                r"dense_mnist \(1\).pt\)"):
        read_submission(as_zip(tmp_path / "s.zip", files), DENSE)
    notebooks = {"dense-mnist (1).ipynb": notebook_text(DENSE), "dense-mnist (2).ipynb": notebook_text(DENSE) + " "}
    with pytest.raises(SubmissionProblem, match=r"2 notebooks \(dense-mnist \(1\).ipynb, dense-mnist \(2\).ipynb\)"):
        read_submission(as_zip(tmp_path / "n.zip", notebooks), DENSE)


@pytest.mark.parametrize("names", [["dense-mnist (1).ipynb", "dense-mnist (2).ipynb"], ["a.ipynb", "b.ipynb"]])
def test_byte_identical_notebooks_are_one_notebook_graded_with_a_note(tmp_path, names):
    files = {name: notebook_text(DENSE) for name in names} | {DENSE.weights: weights(DENSE)}
    sub = read_submission(as_zip(tmp_path / "s.zip", files), DENSE)
    assert sub.assignment_name == DENSE.id and set(sub.files) == {DENSE.weights}
    assert any(f"graded {names[0]}; the submission's other notebooks are byte-identical copies of it ({names[1]})"
               in note for note in sub.notes)


@pytest.mark.parametrize("name", ["dense_mnist.pth", "model.pt", "dense_mnist_best.pt", "weights/net.ckpt"])
def test_the_only_weights_file_under_another_name_is_the_lessons(tmp_path, name):
    sub = read_submission(as_zip(tmp_path / "s.zip", {DENSE.notebook: notebook_text(DENSE), name: weights(DENSE)}),
                          DENSE)
    assert sub.files == {DENSE.weights: weights(DENSE)}
    assert any(f"{name} was graded as {DENSE.weights}: the only weights file" in note for note in sub.notes)
    two = {DENSE.notebook: notebook_text(DENSE), "model.pt": weights(DENSE), "best.pth": weights(DENSE)}
    sub = read_submission(as_zip(tmp_path / "two.zip", two), DENSE)
    assert set(sub.files) == {"model.pt", "best.pth"}, "two candidates: not guessed, the row names them"


@pytest.mark.parametrize("lesson", [DENSE, CNN], ids=lambda lesson: lesson.id)
def test_a_package_folder_keeps_its_layout_in_the_sandbox(tmp_path, lesson):
    files = {**members(lesson, prefix="hw/"), "hw/src/__init__.py": b"", "hw/src/models.py": b"X = 1\n",
             "hw/utils.py": b"Y = 2\n", "hw/.ipynb_checkpoints/x.py": b""}
    sub = read_submission(as_zip(tmp_path / "s.zip", files), lesson)
    assert set(sub.files) == {lesson.weights, "src/__init__.py", "src/models.py", "utils.py"}
    stage(sub, lesson, tmp_path / "run")
    assert (tmp_path / "run" / "src" / "models.py").read_text() == "X = 1\n"
    assert (tmp_path / "run" / lesson.notebook).is_file()


def test_one_rule_for_every_reader(tmp_path):
    """A single file, a folder, a zip, a tar and Gradescope's unpacked upload read the same."""
    files = {"dense-mnist (1).ipynb": notebook_text(DENSE).encode(), "Dense_MNIST.PT": weights(DENSE),
             "src/models.py": b"X = 1\n"}
    readers = {"folder": write(tmp_path / "folder", files), "zip": as_zip(tmp_path / "s.zip", files),
               "tar": as_tar(tmp_path / "s.tar.xz", files, "w:xz"),
               "gradescope": write(tmp_path / "autograder" / "submission", files)}
    read = {kind: read_submission(path, DENSE) for kind, path in readers.items()}
    assert all(sub.files == read["zip"].files for sub in read.values())
    assert set(read["zip"].files) == {DENSE.weights, "src/models.py"}


def test_a_notebook_beside_its_own_export_zip_takes_the_weights_from_it_wherever_the_folder_is(tmp_path):
    nb = notebook_text(DENSE).encode()
    export = as_zip(tmp_path / "export.zip", members(DENSE)).read_bytes()
    write(tmp_path / "class" / "ada", {DENSE.notebook: nb, "dense-mnist.zip": export})
    write(tmp_path / "class" / "bob", {DENSE.notebook: nb})
    for target in (tmp_path / "class", tmp_path / "class" / "ada"):
        [entry] = [e for e in discover(target).entries if e.label == "ada"]
        sub = read_submission(entry, DENSE)
        assert sub.files.get(DENSE.weights) == weights(DENSE), target
        assert any("dense_mnist.pt taken from dense-mnist.zip beside it" in note for note in sub.notes)


def test_loose_files_of_several_students_in_one_folder_are_paired_by_their_prefix(tmp_path):
    nb, pt = notebook_text(DENSE).encode(), weights(DENSE)
    root = write(tmp_path / "class", {"alice_dense-mnist.ipynb": nb, "alice_dense_mnist.pt": pt,
                                      "bob_dense-mnist.ipynb": nb, "Bob_Dense_MNIST (1).pt": pt,
                                      "carol_dense-mnist.ipynb": nb})
    found = discover(root)
    rows = {entry.label: entry for entry in found.entries}
    assert set(rows) == {"alice_dense-mnist.ipynb", "bob_dense-mnist.ipynb", "carol_dense-mnist.ipynb"}
    for label in ("alice_dense-mnist.ipynb", "bob_dense-mnist.ipynb"):
        assert read_submission(rows[label], DENSE).files == {DENSE.weights: pt}, label
    assert read_submission(rows["carol_dense-mnist.ipynb"], DENSE).files == {}


def test_an_environment_zipped_along_is_left_out_and_nested_zips_are_opened(tmp_path):
    venv = {f"hw/venv/lib/site-packages/pkg{i}/__init__.py": b"" for i in range(300)}
    files = {**members(DENSE, prefix="hw/"), "hw/utils.py": b"Y = 2\n", **venv}
    for archive in (as_zip(tmp_path / "s.zip", files), as_tar(tmp_path / "s.tar.gz", files)):
        sub = read_submission(archive, DENSE)
        assert set(sub.files) == {DENSE.weights, "utils.py"}, archive.name
        assert any(f"{archive.name} holds 303 files" in note and "left out (hw/venv/)" in note for note in sub.notes)
    inner = as_zip(tmp_path / "inner.zip", members(DENSE)).read_bytes()
    middle = as_zip(tmp_path / "middle.zip", {"inner.zip": inner}).read_bytes()
    sub = read_submission(as_zip(tmp_path / "outer.zip", {"middle.zip": middle}), DENSE)
    assert sub.assignment_name == DENSE.id and set(sub.files) == {DENSE.weights}


PACKAGE = {"src/__init__.py": b"", "src/models.py": b"from torch import nn\n"}


def test_an_upload_reads_the_same_files_zipped_tarred_or_unpacked_as_gradescope_does(tmp_path, monkeypatch):
    """One rule for which files are read, whatever holds them: a zip graded by `dlcourse grade`,
    the same as a tar, and the same zip unpacked into Gradescope's submission folder. An
    environment or a dataset zipped along is left out with a note (it was refused as a folder
    past 500 files, and as an archive past the size cap while its folder was read)."""
    from dlcourse.grading.reader import files as reader_files

    monkeypatch.setattr(reader_files, "MAX_FILE_MB", 8)  # the size cap, at a size a test writes quickly
    code = {**members(DENSE, prefix="hw/"), **{f"hw/{k}": v for k, v in PACKAGE.items()}}
    extras = {"venv": {f"hw/venv/lib/python3.12/site-packages/p{i}/m.py": b"" for i in range(600)},
              "dataset": {f"hw/data/cifar-10-batches-py/data_batch_{i}": bytes(3 << 20) for i in (1, 2, 3)}}
    for kind, extra in extras.items():
        files = {**code, **extra}
        inputs = [as_zip(tmp_path / kind / "s.zip", files), as_tar(tmp_path / kind / "s.tar.gz", files),
                  write(tmp_path / kind / "submission", files)]
        for path in inputs:
            sub = read_submission(path, DENSE)
            assert set(sub.files) == {DENSE.weights, *PACKAGE}, (kind, path.name)
            assert any(f"{path.name} holds {len(files)} files" in note and f"{len(extra)} left out (hw/" in note
                       for note in sub.notes), (kind, path.name, sub.notes)
    everything = {**code, **{f"hw/src/big_{i}.py": bytes(3 << 20) for i in range(3)}}
    for path in (as_zip(tmp_path / "code.zip", everything), write(tmp_path / "code", everything)):
        with pytest.raises(SubmissionProblem, match="notebooks, weights, archives and code alone are over 8 MB"):
            read_submission(path, DENSE)


@pytest.mark.parametrize("lesson_id", [lesson.id for lesson in COURSE.lessons()])
def test_the_names_a_loose_upload_is_read_by_come_from_every_built_autograder(lesson_id):
    """A lesson with a baseline (its weights submitted too) reads the baseline's settings from the
    autograder itself: a batch of such a lesson once failed before its first row."""
    lesson = COURSE.lesson(lesson_id)
    assert lesson_files(COURSE.autograder_zip(lesson_id)) == (lesson.notebook, *lesson.submitted_files)


def test_a_students_loose_files_are_one_student_named_by_the_part_beside_the_lessons_name(tmp_path):
    """Loose files in a plain folder: the lesson's file name after (or before) a separator is the
    lesson, the rest the student, whatever the folder holds beside them (one student alone, a
    zip of another), and the same in an LMS layout's loose files."""
    nb, pt = notebook_text(DENSE).encode(), weights(DENSE)
    names = (DENSE.notebook, *DENSE.submitted_files)
    export = as_zip(tmp_path / "export.zip", members(DENSE)).read_bytes()
    root = write(tmp_path / "class", {"alice_dense-mnist.ipynb": nb, "alice_dense-mnist.pt": pt,
                                      "Bob - dense-mnist.ipynb": nb, "bob_dense_mnist (1).pt": pt,
                                      "dense-mnist_carol.ipynb": nb, "dense_mnist_carol.pt": pt,
                                      "dave_dense-mnist.zip": export, "erin_dense_mnist.pt": pt})
    rows = {entry.students[0].key: entry for entry in discover(root, lesson_files=names).entries}
    assert set(rows) == {"alice", "Bob", "carol", "dave", "erin"}
    for student in ("alice", "Bob", "carol"):
        assert read_submission(rows[student], DENSE).files == {DENSE.weights: pt}, student
    assert rows["erin"].problem and "weights file without a notebook" in rows["erin"].problem[1]
    alone = write(tmp_path / "alone", {"frank_dense-mnist.ipynb": nb, "frank_dense_mnist.pt": pt,
                                       "gina_dense-mnist.zip": export})   # one notebook: nothing to compare with
    rows = {entry.students[0].key: entry for entry in discover(alone, lesson_files=names).entries}
    assert set(rows) == {"frank", "gina"} and read_submission(rows["frank"], DENSE).files == {DENSE.weights: pt}
    own = write(tmp_path / "own", {"hana_dense-mnist.ipynb": nb, "hana_dense-mnist.pt": pt})
    (entry,) = discover(own, lesson_files=names).entries
    assert entry.students[0].key == "hana" and read_submission(entry, DENSE).files == {DENSE.weights: pt}
    canvas = write(tmp_path / "canvas", {"lovelaceada_104211_9311870_dense-mnist.ipynb": nb,
                                         "lovelaceada_104211_9311871_dense_mnist.pt": pt,
                                         "ivan_dense-mnist.ipynb": nb, "ivan_dense_mnist.pt": pt})
    found = discover(canvas, lesson_files=names)
    rows = {entry.students[0].key: entry for entry in found.entries}
    assert set(rows) == {"104211", "ivan"} and rows["ivan"].layout == "canvas"
    assert read_submission(rows["ivan"], DENSE).files == {DENSE.weights: pt}
    scratch = write(tmp_path / "scratch", {"jo.ipynb": nb, "jo_dense-mnist.ipynb": nb, "jo_dense_mnist.pt": pt})
    rows = {entry.label: entry for entry in discover(scratch, lesson_files=names).entries}
    assert {entry.students[0].key for entry in rows.values()} == {"jo"}, "one student, two notebooks"
    assert read_submission(rows["jo_dense-mnist.ipynb"], DENSE).files == {DENSE.weights: pt}


class FullMarks:
    """An execution that runs no kernel: each entry gets a full-marks result."""

    def run(self, autograder, jobs):
        for entry, _ in jobs:
            yield entry, gradebook_result(entry.label, 4, 4)


def test_a_batch_and_its_collected_gradebook_name_loose_files_students_by_the_lesson(tmp_path):
    nb, pt = notebook_text(DENSE).encode(), weights(DENSE)
    inbox = write(tmp_path / "in", {"alice_dense-mnist.ipynb": nb, "alice_dense_mnist.pt": pt,
                                    "bob_dense-mnist.ipynb": nb})
    out = tmp_path / "out"
    for shard in (1, 2):
        grade_batch(COURSE.autograder_zip(DENSE.id), inbox, out, shard=(shard, 2), execution=FullMarks(),
                    progress=False)
    assert cli_main(["gradebook", str(out)]) == 0
    assert [row["student"] for row in read_rows(out / "gradebook.csv")] == ["alice", "bob"]


# ---------------------------------------------------------------- item 4: input layouts

def test_canvas_download_pairs_each_students_files_with_late_and_resubmissions(tmp_path):
    nb, pt = notebook_text(DENSE).encode(), weights(DENSE)
    root = write(tmp_path / "canvas", {
        "lovelaceada_104211_9311870_dense-mnist.ipynb": nb, "lovelaceada_104211_9311871_dense_mnist.pt": pt,
        "hopperg_LATE_104388_9312455_dense-mnist-1.ipynb": nb, "hopperg_LATE_104388_9312456_dense_mnist-1.pt": pt,
        "hopperg_LATE_104388_9300001_dense-mnist.ipynb": nb, "notes.txt": b"x"})
    found = discover(root)
    rows = {entry.students[0].key: entry for entry in found.entries}
    assert set(rows) == {"104211", "104388"} and [a.name for a in found.set_aside] == ["notes.txt"]
    ada, grace = rows["104211"], rows["104388"]
    assert (ada.layout, ada.late, ada.students[0].login, ada.label) == \
        ("canvas", False, "lovelaceada", "lovelaceada_104211_9311870_dense-mnist.ipynb")
    assert grace.late is True and grace.earlier == ["hopperg_LATE_104388_9300001_dense-mnist.ipynb"]
    assert grace.label == "hopperg_LATE_104388_9312455_dense-mnist-1.ipynb"
    assert read_submission(grace, DENSE).files == {DENSE.weights: pt}


def test_moodle_folders_and_flat_files_are_one_student_each(tmp_path):
    nb, pt = notebook_text(DENSE).encode(), weights(DENSE)
    root = write(tmp_path / "moodle", {
        "Ada Lovelace_4521_assignsubmission_file_/hw1/dense-mnist.ipynb": nb,
        "Ada Lovelace_4521_assignsubmission_file_/hw1/dense_mnist.pt": pt,
        "Ada Lovelace_4521_assignsubmission_file_/hw1/src/models.py": b"X = 1\n",
        "Ada Lovelace_4521_assignsubmission_onlinetext_/onlinetext.html": b"<p>hi</p>",
        "Grace Hopper_4522_assignsubmission_file_dense-mnist.ipynb": nb,
        "Grace Hopper_4522_assignsubmission_file_dense_mnist.pt": pt})
    found = discover(root)
    rows = {entry.students[0].key: entry for entry in found.entries}
    assert set(rows) == {"4521", "4522"}
    assert [(a.name, "not graded, read it in Moodle" in a.reason) for a in found.set_aside] == \
        [("Ada Lovelace_4521_assignsubmission_onlinetext_", True)], "online text: a set-aside line, not a file"
    assert rows["4521"].students[0].name == "Ada Lovelace" and rows["4521"].layout == "moodle"
    assert set(read_submission(rows["4521"], DENSE).files) == {DENSE.weights, "src/models.py"}
    assert set(read_submission(rows["4522"], DENSE).files) == {DENSE.weights}


RECEIPT = """Name: {name} ({user})
Assignment: HW1
Date Submitted: Monday, 12 February 2024 10:03:15 o'clock GMT
Current Grade: Needs Grading

Submission Field:
There is no student submission text data for this assignment.

Comments:
There are no student comments for this assignment.

Files:
\tOriginal filename: dense-mnist.ipynb
\tFilename: HW1_{user}_attempt_{stamp}_dense-mnist.ipynb
\tOriginal filename: dense_mnist.pt
\tFilename: HW1_{user}_attempt_{stamp}_dense_mnist.pt
"""


def test_blackboard_receipts_name_the_student_and_the_latest_attempt_is_graded(tmp_path):
    nb, pt = notebook_text(DENSE).encode(), weights(DENSE)
    files = {}
    for stamp in ("2024-02-10-09-00-00", "2024-02-12-10-03-15"):
        files[f"HW1_alovelace_attempt_{stamp}.txt"] = RECEIPT.format(name="Ada Lovelace", user="alovelace",
                                                                      stamp=stamp).encode()
        files[f"HW1_alovelace_attempt_{stamp}_dense-mnist.ipynb"] = nb
        files[f"HW1_alovelace_attempt_{stamp}_dense_mnist.pt"] = pt
    found = discover(write(tmp_path / "bb", files))
    [entry] = found.entries
    assert (entry.layout, entry.students[0].name, entry.students[0].key, entry.submitted_at) == \
        ("blackboard", "Ada Lovelace", "alovelace", "2024-02-12T10:03:15")
    assert entry.earlier == ["HW1_alovelace_attempt_2024-02-10-09-00-00_dense-mnist.ipynb",
                             "HW1_alovelace_attempt_2024-02-10-09-00-00_dense_mnist.pt"]
    assert set(read_submission(entry, DENSE).files) == {DENSE.weights}


@pytest.mark.parametrize("receipts", [True, False], ids=["receipts", "no-receipts"])
def test_blackboard_users_sharing_a_suffix_are_two_rows_never_merged(tmp_path, receipts):
    """``HW_1_jane_doe`` and ``HW_1_john_doe``: the assignment and the user names hold ``_``."""
    nb, pt, stamp = notebook_text(DENSE).encode(), weights(DENSE), "2024-02-12-10-03-15"
    files = {}
    for user, name in (("jane_doe", "Jane Doe"), ("john_doe", "John Doe")):
        if receipts:
            files[f"HW_1_{user}_attempt_{stamp}.txt"] = RECEIPT.format(name=name, user=user, stamp=stamp).encode()
        files[f"HW_1_{user}_attempt_{stamp}_dense-mnist.ipynb"] = nb
        files[f"HW_1_{user}_attempt_{stamp}_dense_mnist.pt"] = pt
    found = discover(write(tmp_path / "bb", files))
    rows = {entry.students[0].key: entry for entry in found.entries}
    assert set(rows) == {"jane_doe", "john_doe"}
    assert [a.name for a in found.set_aside] == [n for n in sorted(files) if n.endswith(".txt")], "receipts listed"
    assert rows["jane_doe"].students[0].name == ("Jane Doe" if receipts else "")
    assert set(read_submission(rows["jane_doe"], DENSE).files) == {DENSE.weights}


def test_gradescope_export_folder_or_zip_with_null_fields_read_as_empty(tmp_path):
    export = tmp_path / "download" / "assignment_7_export"
    write(export / "submission_1", members(DENSE))
    (export / GRADESCOPE_METADATA).write_text(
        "submission_1:\n  :submitters:\n  - :name: Ada Lovelace\n    :sid: null\n    :email: ada@example.edu\n"
        "  :created_at: 2024-02-12 10:03:15.000000000 -08:00\n")
    zipped = as_zip(tmp_path / "export.zip", {f"assignment_7_export/{p.relative_to(export).as_posix()}": p.read_bytes()
                                             for p in export.rglob("*") if p.is_file()})
    for target in (tmp_path / "download", zipped):  # the folder holding the export folder, and the export's zip
        found = discover(target)
        [entry] = found.entries
        assert entry.layout == "gradescope" and entry.students[0].sid == ""
        assert entry.students[0].key == "ada@example.edu" and entry.submitted_at.startswith("2024-02-12")
        assert read_submission(entry, DENSE).files[DENSE.weights] == weights(DENSE)


def test_a_layout_can_be_named_instead_of_detected(tmp_path):
    root = write(tmp_path / "in", {"ada_1_2_dense-mnist.ipynb": notebook_text(DENSE).encode(),
                                   "ada_1_3_dense_mnist.pt": weights(DENSE), "x.ipynb": b"{}", "y.ipynb": b"{}",
                                   "z.ipynb": b"{}"})
    assert {e.layout for e in discover(root).entries} == {"plain"}  # a minority of Canvas names: plain
    canvas = discover(root, "canvas")
    assert {e.layout for e in canvas.entries} == {"canvas"} and len(canvas.entries) == 4


# ---------------------------------------------------------------- graded for real

def graded(tmp_path: Path, target: Path) -> dict:
    with on_sample_data():
        summary = grade_batch(COURSE.autograder_zip(DENSE.id), target, tmp_path / "out", workers=1, progress=False)
    return {result.submission: result for result in summary.results.values()}


@pytest.mark.slow
def test_package_folder_and_renamed_files_grade_like_the_reference(tmp_path):
    reference = reference_submission(COURSE, DENSE, tmp_path / "parts")
    nb = zipfile.ZipFile(reference).read(DENSE.notebook).decode()
    cell = json.loads(nb)
    for c in cell["cells"]:
        if c["cell_type"] == "code" and "".join(c["source"]).lstrip().startswith("def prepare("):
            (tmp_path / "prepare.py").write_text("import torch\n\n\n" + "".join(c["source"]))
            c["source"] = "from src.data import prepare"
    root = tmp_path / "class"
    as_zip(root / "package.zip", {DENSE.notebook: json.dumps(cell), DENSE.weights: weights(DENSE),
                                  "src/__init__.py": "", "src/data.py": (tmp_path / "prepare.py").read_text()})
    as_zip(root / "renamed.zip", {"dense-mnist (2).ipynb": nb, "dense_mnist (1).pt": weights(DENSE)})
    for c in cell["cells"]:   # a project's tree: notebooks/ beside src/, reached through sys.path (issue 20 item 3)
        if c["source"] == "from src.data import prepare":
            c["source"] = "import sys\nsys.path.insert(0, '..')\nfrom src.data import prepare"
    as_zip(root / "tree.zip", {f"proj/notebooks/{DENSE.notebook}": json.dumps(cell),
                               f"proj/notebooks/{DENSE.weights}": weights(DENSE), "proj/src/__init__.py": "",
                               "proj/src/data.py": (tmp_path / "prepare.py").read_text()})
    results = graded(tmp_path, root)
    full = results["renamed.zip"].possible
    assert {label: (r.status, r.score) for label, r in results.items()} == \
        {"package.zip": ("ok", full), "renamed.zip": ("ok", full), "tree.zip": ("ok", full)}
    assert any("dense_mnist (1).pt" in note for note in results["renamed.zip"].notes)


# ---------------------------------------------------------------- issue 24: inputs built to stall or crash a batch

def test_inputs_that_stall_or_crash_a_reader_each_get_a_row_with_a_reason(tmp_path):
    """A FIFO, names that are not UTF-8, an encrypted zip, deeply nested JSON and a notebook of
    many cells in one class folder: the batch ends, every one is a row or set aside with why."""
    root = tmp_path / "class"
    root.mkdir()
    os.mkfifo(root / "stalls.zip")
    (root / os.fsdecode(b"caf\xe9.rar")).write_bytes(b"Rar!\x1a\x07\x00")
    encrypted = bytearray(as_zip(tmp_path / "e.zip", members(DENSE)).read_bytes())
    for offset in _headers(bytes(encrypted)):
        encrypted[offset] |= 0x1
    (root / "locked.zip").write_bytes(bytes(encrypted))
    (root / "deep.ipynb").write_bytes(b'{"cells": ' + b"[" * 200_000 + b"]" * 200_000 + b"}")
    many = json.loads(notebook_text(DENSE))
    many["cells"] += [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                       "source": "x = 1\n" * 100} for _ in range(1900)]
    (root / "many.ipynb").write_text(json.dumps(many))
    with on_sample_data():
        summary = grade_batch(COURSE.autograder_zip(DENSE.id), root, tmp_path / "out", workers=1, progress=False)
    rows = {result.submission: (result.status, result.reason) for result in summary.results.values()}
    assert set(rows) == {"caf\ufffd.rar", "locked.zip", "deep.ipynb", "many.ipynb"}
    assert {status for status, _ in rows.values()} == {"invalid-notebook"}
    assert "a .rar archive" in rows["caf\ufffd.rar"][1] and "encrypted" in rows["locked.zip"][1]
    assert "deeper than any notebook" in rows["deep.ipynb"][1] and "lines of code" in rows["many.ipynb"][1]
    assert [(a.name, "FIFO" in a.reason) for a in summary.discovery.set_aside] == [("stalls.zip", True)]
    report = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")  # strict UTF-8 throughout
    assert "caf\ufffd.rar" in report and "stalls.zip" in report


def test_an_upload_gradescope_unpacks_that_is_no_notebook_says_what_it_is(tmp_path):
    folder = write(tmp_path / "submission", {"hw1.rar": b"Rar!\x1a\x07\x00", "dense_mnist.pt": weights(DENSE)})
    with pytest.raises(SubmissionProblem, match="hw1.rar is a .rar archive, which the grader cannot open: submit a .zip"):
        read_submission(folder, DENSE)
