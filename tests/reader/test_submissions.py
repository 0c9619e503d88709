"""Honest work in every shape students really submit gets a fair grade (issue 11, kinds 2-4).

Kind 2, weights in the formats tutorials teach; kind 3, what a submission is (one definition
for every reader); kind 4, notebook files as editors write them. Every input is built here
from the lesson's own reference material. The fast tests check reading; the slow ones grade
for real, on the bundled sample data, and hold each shape against the plain reference.
"""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
import torch.serialization
from torch import nn

from dlcourse.checks.weights import (UnsafeWeights, WeightsProblem, WholeModel, read_weights, spec_model_with,
                                     state_dict_problem)
from dlcourse.checks.architecture import in_use_order
from dlcourse.course import Course
from dlcourse.grading.batch import grade_batch
from dlcourse.grading.inputs import Entry, discover
from dlcourse.grading.submission import SubmissionProblem, check_assignment, read_submission, stage
from dlcourse.sample_submissions import reference_submission
from helpers.paths import ROOT, on_sample_data
from helpers.weights import saved, saved_on_a_gpu

COURSE = Course(ROOT)
DENSE = COURSE.lesson("dense-mnist")
CNN = COURSE.lesson("cnn-mnist")


# ---------------------------------------------------------------- building inputs

def reference_state(lesson) -> dict[str, torch.Tensor]:
    return torch.load(COURSE.reference_weights(lesson), weights_only=True)


def reference_notebook_text(lesson) -> str:
    return COURSE.solution_notebook(lesson.id).read_text()



def checkpoint(lesson) -> dict:
    state = reference_state(lesson)
    model = spec_model_with(state, lesson.architecture)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.zeros(2, *lesson.architecture.input_shape)).sum().backward()
    optimizer.step()
    return {"epoch": np.int64(5), "model_state_dict": state, "optimizer_state_dict": optimizer.state_dict(),
            "loss": np.float32(0.05), "history": np.array([0.3, 0.1])}


def weight_formats(lesson) -> dict[str, bytes]:
    """The lesson's reference weights in each format tutorials teach, by a name for the case."""
    from safetensors.torch import save as safetensors_save

    state = reference_state(lesson)
    return {
        "dataparallel": saved({f"module.{k}": v for k, v in state.items()}),
        "compiled": saved({f"_orig_mod.{k}": v for k, v in state.items()}),
        "checkpoint": saved(checkpoint(lesson)),
        "safetensors": safetensors_save({k: v.contiguous() for k, v in state.items()}),
        "float16": saved({k: v.half() for k, v in state.items()}),
        "legacy": saved(state, _use_new_zipfile_serialization=False),
        "gpu": saved_on_a_gpu(state),
    }


def as_zip(path: Path, members: dict[str, bytes | str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def submission_zip(path: Path, lesson, weights: bytes, notebook: str | bytes | None = None) -> Path:
    return as_zip(path, {lesson.notebook: notebook if notebook is not None else reference_notebook_text(lesson),
                         lesson.weights: weights})


# ---------------------------------------------------------------- kind 2: reading weights

@pytest.mark.parametrize("lesson", [DENSE, CNN], ids=lambda lesson: lesson.id)
def test_every_taught_weights_format_reads_as_the_reference(lesson, tmp_path):
    reference = reference_state(lesson)
    for case, data in weight_formats(lesson).items():
        path = tmp_path / f"{case}.pt"   # the lesson's .pt name, whatever the content
        path.write_bytes(data)
        state = read_weights(path)
        assert list(state) == list(reference) or (case == "safetensors" and set(state) == set(reference)), case
        if case == "safetensors":  # sorted by name: the grader lines a class's tensors up in the notebook's order
            state = in_use_order(state, list(reference))
        assert state_dict_problem(state, lesson.architecture) is None, case
        for name, tensor in reference.items():
            assert state[name].dtype == torch.float32 and state[name].device.type == "cpu", case
            assert torch.allclose(state[name], tensor, atol=1e-2 if case == "float16" else 0), case


class Net(nn.Module):  # a class of the student's own, as torch.save(model) pickles it
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(784, 10)


def test_a_whole_pickled_model_is_refused_with_a_state_dict_message_not_as_unsafe(tmp_path):
    for name, model in {"sequential": spec_model_with(reference_state(DENSE), DENSE.architecture),
                        "own-class": Net()}.items():
        path = tmp_path / f"{name}.pt"
        torch.save(model, path)
        with pytest.raises(WholeModel, match=r"whole model object .*torch\.save\(model\.state_dict\(\)") as caught:
            read_weights(path)
        assert not isinstance(caught.value, UnsafeWeights), name


def test_a_crafted_pickle_is_still_unsafe_and_never_run(tmp_path):
    sentinel = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (eval, (f"open({str(sentinel)!r}, 'w')",))

    torch.save({"model_state_dict": {"weight": Payload()}}, tmp_path / "crafted.pt")
    with pytest.raises(UnsafeWeights, match="builtins.eval"):
        read_weights(tmp_path / "crafted.pt")
    assert not sentinel.exists()


def test_a_checkpoint_without_a_state_dict_says_what_to_save(tmp_path):
    torch.save({"epoch": 3, "loss": 0.1}, tmp_path / "w.pt")
    with pytest.raises(WeightsProblem, match=r"without your network's state_dict.*model\.state_dict\(\)"):
        read_weights(tmp_path / "w.pt")


def test_gpu_weights_are_staged_on_the_cpu_for_the_notebook(tmp_path):
    data = saved_on_a_gpu({"model_state_dict": reference_state(DENSE), "epoch": 2})
    sub = read_submission(submission_zip(tmp_path / "gpu.zip", DENSE, data))
    stage(sub, DENSE, tmp_path / "run")
    staged = torch.load(tmp_path / "run" / DENSE.weights, weights_only=True)  # no map_location needed
    assert staged["epoch"] == 2 and set(staged["model_state_dict"]) == set(reference_state(DENSE))
    assert any("saved on a GPU" in note for note in sub.notes)
    assert sub.files[DENSE.weights] == data  # what the judge measures: the bytes as submitted


# ---------------------------------------------------------------- kind 3: what a submission is

def test_a_zip_of_the_whole_lesson_folder_ignores_checkpoints(tmp_path):
    text, weights = reference_notebook_text(DENSE), COURSE.reference_weights(DENSE).read_bytes()
    path = as_zip(tmp_path / "hw1.zip", {
        f"hw1/{DENSE.notebook}": text, f"hw1/{DENSE.weights}": weights, "hw1/lesson.yaml": "id: dense-mnist\n",
        "hw1/tests/model.py": "# public tests", "hw1/.ipynb_checkpoints/dense-mnist-checkpoint.ipynb": text,
        "__MACOSX/hw1/._dense-mnist.ipynb": b"\x00"})
    sub = read_submission(path)
    assert sub.files[DENSE.weights] == weights
    assert not any("checkpoint" in name or name.startswith("._") for name in sub.files)


def test_two_notebooks_or_two_weights_files_of_one_name_are_refused_by_path(tmp_path):
    """Two that differ at the same depth are refused; an older copy in a subfolder is not graded."""
    text, weights = reference_notebook_text(DENSE), COURSE.reference_weights(DENSE).read_bytes()
    two_notebooks = as_zip(tmp_path / "a.zip", {f"hw1/a/{DENSE.notebook}": text, f"hw1/b/{DENSE.notebook}": text + " ",
                                                f"hw1/{DENSE.weights}": weights})
    with pytest.raises(SubmissionProblem, match=r"2 notebooks \(hw1/a/dense-mnist.ipynb, hw1/b/dense-mnist.ipynb\)"):
        read_submission(two_notebooks)
    older = as_zip(tmp_path / "o.zip", {f"hw1/{DENSE.notebook}": text, f"hw1/old/{DENSE.notebook}": text + " ",
                                        f"hw1/{DENSE.weights}": weights})
    assert any("graded hw1/dense-mnist.ipynb; hw1/old/dense-mnist.ipynb in a subfolder" in note
               for note in read_submission(older).notes)
    beside = as_zip(tmp_path / "b.zip", {f"hw1/{DENSE.notebook}": text, f"hw1/{DENSE.weights}": weights,
                                         f"hw1/runs/{DENSE.weights}": weights + b"\0"})
    assert read_submission(beside).files[DENSE.weights] == weights, "the file the notebook opens wins"
    two_weights = as_zip(tmp_path / "c.zip", {f"hw1/{DENSE.notebook}": text, f"hw1/old/{DENSE.weights}": weights,
                                              f"hw1/runs/{DENSE.weights}": weights + b"\0"})
    with pytest.raises(SubmissionProblem, match=r"2 files that could be dense_mnist.pt \(old/dense_mnist.pt, "
                                                r"runs/dense_mnist.pt\)"):
        read_submission(two_weights)


def test_an_unzipped_student_folder_given_as_input_is_one_row(tmp_path):
    folder = tmp_path / "student_ada"
    (folder / ".ipynb_checkpoints").mkdir(parents=True)
    (folder / DENSE.notebook).write_text(reference_notebook_text(DENSE))
    (folder / DENSE.weights).write_bytes(COURSE.reference_weights(DENSE).read_bytes())
    (folder / ".ipynb_checkpoints" / "dense-mnist-checkpoint.ipynb").write_text(reference_notebook_text(DENSE))
    found = discover(folder)
    assert [(e.path, e.label) for e in found.entries] == [(folder, "student_ada")] and found.set_aside == []
    assert DENSE.weights in read_submission(folder).files


def test_student_folders_with_subfolders_and_gradescope_submissions_are_read_alike(tmp_path):
    """A folder of student folders (each with its lesson folder inside), and what Gradescope
    unpacks into /autograder/submission when a student uploads a folder: the same reading."""
    root = tmp_path / "in"
    for student in ("ada", "bob"):
        lesson_folder = root / student / "hw1"
        lesson_folder.mkdir(parents=True)
        (lesson_folder / DENSE.notebook).write_text(reference_notebook_text(DENSE))
        (lesson_folder / DENSE.weights).write_bytes(COURSE.reference_weights(DENSE).read_bytes())
    found = discover(root)
    assert [e.label for e in found.entries] == ["ada", "bob"] and found.set_aside == []
    assert DENSE.weights in read_submission(root / "ada").files


def test_names_that_differ_only_in_punctuation_keep_their_own_rows(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    reference = reference_submission(COURSE, DENSE, tmp_path / "parts").read_bytes()
    for name in ("a b.zip", "a_b.zip", "a-b.zip", "a (1).zip"):
        (root / name).write_bytes(reference)
    keys = [entry.key for entry in discover(root).entries]
    assert len(keys) == len(set(keys)) == 4
    assert Entry(Path("a_b.zip"), "a_b.zip").key == "a_b.zip"  # a safe name stays as it was


# ---------------------------------------------------------------- kind 4: notebooks as editors write them

def test_a_byte_order_mark_is_read_like_any_utf8_notebook(tmp_path):
    path = submission_zip(tmp_path / "bom.zip", DENSE, b"", b"\xef\xbb\xbf" + reference_notebook_text(DENSE).encode())
    assert read_submission(path).assignment_name == DENSE.id


@pytest.mark.parametrize("change", ["ids-under-4.4", "no-ids-under-4.5"])
def test_nbformat_minor_disagreeing_with_cell_ids_is_normalised(tmp_path, change):
    notebook = json.loads(reference_notebook_text(DENSE))
    if change == "ids-under-4.4":
        notebook["nbformat_minor"] = 4
        for i, cell in enumerate(notebook["cells"]):
            cell["id"] = f"cell-{i}"
    else:
        notebook["nbformat_minor"] = 5
        for cell in notebook["cells"]:
            cell.pop("id", None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing for the grader's console: the ids are added
        sub = read_submission(submission_zip(tmp_path / "nb.zip", DENSE, b"", json.dumps(notebook)))
    nbformat.validate(sub.notebook)
    assert sub.notebook.nbformat_minor == 5 and all("id" in cell for cell in sub.notebook.cells)


def test_a_notebook_without_otter_metadata_is_graded_as_the_named_lesson_with_a_note(tmp_path):
    notebook = json.loads(reference_notebook_text(DENSE))
    notebook["metadata"] = {"kernelspec": notebook["metadata"].get("kernelspec", {})}
    sub = read_submission(submission_zip(tmp_path / "bare.zip", DENSE, b"", json.dumps(notebook)))
    check_assignment(sub, DENSE)
    assert any("carries no assignment name" in note and "'dense-mnist'" in note for note in sub.notes)
    other = read_submission(COURSE.student_dir(CNN.id) / CNN.notebook)  # another lesson's name still refused
    with pytest.raises(SubmissionProblem, match="the notebook is for 'cnn-mnist', not 'dense-mnist'"):
        check_assignment(other, DENSE)


# ---------------------------------------------------------------- graded for real

def graded_batch(tmp_path: Path, lesson, inputs: dict[str, Path]) -> dict:
    out = tmp_path / "out"
    with on_sample_data():
        summary = grade_batch(COURSE.autograder_zip(lesson.id), tmp_path / "in", out, workers=2, progress=False)
    by_label = {entry.label: summary.results[entry.key] for entry in summary.discovery.entries}
    assert sorted(by_label) == sorted(inputs)
    return by_label


def questions(result) -> dict[str, float]:
    return {name: q.score for name, q in result.questions.items()}


@pytest.mark.slow
@pytest.mark.parametrize("lesson", [DENSE, CNN], ids=lambda lesson: lesson.id)
def test_weights_formats_grade_like_the_reference(lesson, tmp_path):
    """Kind 2, graded: every format scores what the reference scores, status ok where the
    notebook itself can load the file; a whole model loses exactly the accuracy question."""
    inputs = {"reference.zip": reference_submission(COURSE, lesson, tmp_path / "in")}
    formats = weight_formats(lesson)
    if lesson is CNN:  # the grading time of a CNN: the formats that matter most
        formats = {k: formats[k] for k in ("dataparallel", "checkpoint", "safetensors", "gpu")}
    for case, data in formats.items():
        inputs[f"{case}.zip"] = submission_zip(tmp_path / "in" / f"{case}.zip", lesson, data)
    model = spec_model_with(reference_state(lesson), lesson.architecture)
    inputs["whole-model.zip"] = submission_zip(tmp_path / "in" / "whole-model.zip", lesson, saved(model))
    results = graded_batch(tmp_path, lesson, inputs)

    reference = results["reference.zip"]
    assert reference.status == "ok" and reference.score == reference.possible
    for case in formats:
        result = results[f"{case}.zip"]
        assert questions(result) == questions(reference), case
        assert not result.flags, case
    assert results["gpu.zip"].status == "ok"  # the notebook's own torch.load works on a CPU-only machine

    whole = results["whole-model.zip"]
    accuracy, architecture = lesson.verified_questions["accuracy"], lesson.verified_questions["architecture"]
    assert whole.status != "flagged" and not whole.flags
    assert questions(whole)[architecture] == questions(reference)[architecture]
    assert questions(whole)[accuracy] == 0
    assert whole.score == reference.score - whole.questions[accuracy].possible
    assert any("model.state_dict()" in (test.message or "") for test in whole.questions[accuracy].tests)


@pytest.mark.slow
def test_submission_shapes_and_editor_notebooks_grade_like_the_reference(tmp_path):
    """Kinds 3 and 4, graded through one batch: a lesson-folder zip with checkpoints, an
    unzipped student folder, names differing in punctuation, a BOM, cell ids under 4.4, and
    lost Otter metadata all score what the reference scores; duplicates are refused by path."""
    text, weights = reference_notebook_text(DENSE), COURSE.reference_weights(DENSE).read_bytes()
    root = tmp_path / "in"
    inputs = {"reference.zip": submission_zip(root / "reference.zip", DENSE, weights)}
    inputs["hw1.zip"] = as_zip(root / "hw1.zip", {f"hw1/{DENSE.notebook}": text, f"hw1/{DENSE.weights}": weights,
                                                  "hw1/.ipynb_checkpoints/dense-mnist-checkpoint.ipynb": text})
    folder = root / "student_ada" / "hw1"
    folder.mkdir(parents=True)
    (folder / DENSE.notebook).write_text(text)
    (folder / DENSE.weights).write_bytes(weights)
    inputs["student_ada"] = folder.parent
    inputs["a b.zip"] = submission_zip(root / "a b.zip", DENSE, weights)
    inputs["a_b.zip"] = submission_zip(root / "a_b.zip", DENSE, weights)
    inputs["bom.zip"] = submission_zip(root / "bom.zip", DENSE, weights, b"\xef\xbb\xbf" + text.encode())
    old_minor = json.loads(text)
    old_minor["nbformat_minor"] = 4
    inputs["old-minor.zip"] = submission_zip(root / "old-minor.zip", DENSE, weights, json.dumps(old_minor))
    bare = json.loads(text)
    bare["metadata"] = {"kernelspec": bare["metadata"].get("kernelspec", {})}
    inputs["no-metadata.zip"] = submission_zip(root / "no-metadata.zip", DENSE, weights, json.dumps(bare))
    inputs["twice.zip"] = as_zip(root / "twice.zip", {f"hw1/{DENSE.notebook}": text, f"hw1/{DENSE.weights}": weights,
                                                      f"hw1/backup/{DENSE.weights}": weights})
    results = graded_batch(tmp_path, DENSE, inputs)

    reference = results["reference.zip"]
    assert reference.status == "ok" and reference.score == reference.possible
    for label in ("hw1.zip", "student_ada", "a b.zip", "a_b.zip", "bom.zip", "old-minor.zip", "no-metadata.zip"):
        assert (results[label].status, questions(results[label])) == ("ok", questions(reference)), label
    assert any("carries no assignment name" in note for note in results["no-metadata.zip"].notes)
    twice = results["twice.zip"]   # the weights the notebook opens win over a backup copy (reader review R5)
    assert (twice.status, questions(twice)) == ("ok", questions(reference))


def test_weights_of_another_lesson_are_named_in_a_note(tmp_path):
    """Kind 7, where reading can tell: cnn-mnist's notebook handed in with dense-mnist's weights file."""
    path = as_zip(tmp_path / "mixed.zip", {CNN.notebook: reference_notebook_text(CNN),
                                           DENSE.weights: COURSE.reference_weights(DENSE).read_bytes()})
    sub = read_submission(path)
    check_assignment(sub, CNN)
    assert any(f"{CNN.weights} was not submitted, but {DENSE.weights} was" in note for note in sub.notes)


def test_cell_errors_are_plain_text_without_terminal_colour_codes():
    """torch.load's own refusal is bold in a terminal; the row's reason shows the words only."""
    from dlcourse.grading.notebook_run import _cell_errors

    cell = nbformat.v4.new_code_cell('model.load_state_dict(torch.load("dense_mnist.pt"))')
    cell.outputs = [nbformat.v4.new_output("error", ename="UnpicklingError", traceback=[],
                                           evalue="Weights only load failed. \x1b[1mdo those steps only if you trust "
                                                  "the source\x1b[0m.")]
    notebook = nbformat.v4.new_notebook(cells=[cell])
    assert _cell_errors(notebook) == ['cell "model.load_state_dict(torch.load("dense_mnist.pt"))" raised '
                                      'UnpicklingError: Weights only load failed. do those steps only if you '
                                      'trust the source.']
