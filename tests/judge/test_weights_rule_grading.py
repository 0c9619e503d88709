"""The weights rule and the GPU shim, graded for real on dense-mnist and cnn-mnist (kernels in
the sandbox, the judge, the clean room): a notebook written for Colab's GPU gets full marks on
the CPU grader, with a note; the untouched stub handed in with trained weights earns what the
weights prove, whether its run completes or ends itself with os._exit, and the run that ends
itself is an error row; a compiled network's training checkpoint is read by the course's own
evaluation cell and the grader alike."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import nbformat
import pytest
import torch

from dlcourse.course import Course
from dlcourse.grading.batch import grade_batch
from helpers.paths import ROOT, on_sample_data

COURSE = Course(ROOT)
LESSONS = ("dense-mnist", "cnn-mnist")
pytestmark = pytest.mark.slow

CUDA_LINES = 'device = "cuda"  # written on Colab\'s GPU\n'
EXIT_CELL = "import os\nos._exit(0)  # ends the run before the tests can ask anything"


def zipped(folder: Path, name: str, lesson, notebook: nbformat.NotebookNode, weights: bytes) -> None:
    with zipfile.ZipFile(folder / f"{name}.zip", "w") as archive:
        archive.writestr(lesson.notebook, nbformat.writes(notebook))
        archive.writestr(lesson.weights, weights)


def on_the_gpu(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The model cell sends the network to "cuda" by name; a tensor is made there too."""
    notebook = nbformat.from_dict(solution)
    cell = next(c for c in notebook.cells if c.cell_type == "code" and re.search(r"^model = ", c.source, re.M))
    cell.source = (CUDA_LINES + cell.source.rstrip() + "\nmodel = model.to(device)\nmodel.cuda()\n"
                   "_ = torch.zeros(1, device=device)")
    return notebook


def compiled_checkpoint(lesson) -> bytes:
    """The reference weights as a training checkpoint of a torch.compile'd network (``_orig_mod.`` names)."""
    state = torch.load(COURSE.reference_weights(lesson), weights_only=True)
    buffer = io.BytesIO()
    torch.save({"epoch": 5, "model_state_dict": {f"_orig_mod.{k}": v for k, v in state.items()}}, buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    results = {}
    for lesson_id in LESSONS:
        lesson = COURSE.lesson(lesson_id)
        folder = tmp_path_factory.mktemp(f"{lesson_id}-weights-rule")
        solution = nbformat.read(COURSE.solution_notebook(lesson_id), as_version=4)
        stub = nbformat.read(COURSE.student_dir(lesson_id) / lesson.notebook, as_version=4)
        weights = COURSE.reference_weights(lesson).read_bytes()
        zipped(folder, "cuda", lesson, on_the_gpu(solution), weights)
        zipped(folder, "stub", lesson, stub, weights)
        exiting = nbformat.from_dict(stub)
        exiting.cells.append(nbformat.v4.new_code_cell(EXIT_CELL))
        zipped(folder, "stub-exit", lesson, exiting, weights)
        zipped(folder, "compiled-checkpoint", lesson, solution, compiled_checkpoint(lesson))
        with on_sample_data():
            summary = grade_batch(COURSE.autograder_zip(lesson_id), folder, tmp_path_factory.mktemp("out"),
                                  workers=2, progress=False)
        results[lesson_id] = {r.submission.removesuffix(".zip"): r for r in summary.results.values()}
    return results


def _lost(result) -> dict:
    return {q.name: [t.message for t in q.tests if not t.passed] for q in result.questions.values()
            if q.score < q.possible}


@pytest.mark.parametrize("lesson_id", LESSONS)
def test_a_notebook_written_for_a_gpu_gets_full_marks_on_the_cpu_with_a_note(graded, lesson_id):
    result = graded[lesson_id]["cuda"]
    assert result.status == "ok", result.reason
    assert result.score == result.possible, _lost(result)
    assert any('GPU ("cuda")' in note for note in result.notes), result.notes


@pytest.mark.parametrize("lesson_id", LESSONS)
def test_the_stub_with_trained_weights_earns_what_the_weights_prove_however_its_run_ends(graded, lesson_id):
    lesson = COURSE.lesson(lesson_id)
    completed, ended = graded[lesson_id]["stub"], graded[lesson_id]["stub-exit"]
    proven = {lesson.verified_questions[role] for role in ("architecture", "accuracy")}
    for result in (completed, ended):
        assert {q.name for q in result.questions.values() if q.score > 0} == proven, _lost(result)
        assert all(result.questions[name].score == result.questions[name].possible for name in proven)
    assert ended.score == completed.score
    architecture = completed.questions[lesson.verified_questions["architecture"]]
    why = architecture.verification  # dense-mnist's stub cell fails; cnn-mnist's defines an empty class
    assert ("never defined `model`" in why and 'the cell "' in why) or "still holds the release's `...`" in why, why
    assert completed.status == "error"
    assert ended.status == "error" and "ended before its tests ran" in ended.reason, ended.reason


@pytest.mark.parametrize("lesson_id", LESSONS)
def test_a_compiled_networks_checkpoint_is_read_by_the_course_cell_and_the_grader(graded, lesson_id):
    result = graded[lesson_id]["compiled-checkpoint"]
    assert result.status == "ok", result.reason
    assert result.score == result.possible, _lost(result)
