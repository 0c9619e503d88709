"""Honest work written another way gets the grade of the reference: networks written as
classes (layers declared in another order than forward uses them, flattening with ``view``,
activations and pooling as functions), and a notebook stopped by a forgotten training cell,
which keeps the questions measured from its weights. On dense-mnist and cnn-mnist; on
dense-mnist also answers as students write them (numpy integers, printing instead of
returning)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import nbformat
import pytest
import torch

from dlcourse.course import Course
from dlcourse.grading.batch import grade_batch
from helpers.paths import ROOT, on_sample_data

COURSE = Course(ROOT)
pytestmark = pytest.mark.slow

DENSE_CLASS = """\
import torch.nn.functional as F

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.out = nn.Linear(256, 10)     # declared first, used last
        self.hidden = nn.Linear(512, 256)
        self.first = nn.Linear(784, 512)

    def forward(self, x):
        x = x.view(x.size(0), -1)
        return self.out(F.relu(self.hidden(F.relu(self.first(x)))))

model = Net()
"""
CNN_CLASS = """\
import torch.nn.functional as F

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Linear(32, 10)
        self.dense = nn.Linear(32 * 9 * 9, 32)
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.conv3 = nn.Conv2d(64, 32, kernel_size=3)
        self.drop = nn.Dropout(0.3)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = self.drop(F.relu(self.conv2(x)))
        x = torch.flatten(F.relu(self.conv3(x)), 1)
        return self.head(F.relu(self.dense(x)))

model = Net()
"""
# the class's layers, in the order forward uses them (= the lesson's order)
USE_ORDER = {"dense-mnist": ["first", "hidden", "out"], "cnn-mnist": ["conv1", "conv2", "conv3", "dense", "head"]}
DECLARED = {"dense-mnist": ["out", "hidden", "first"], "cnn-mnist": ["head", "dense", "conv1", "conv2", "conv3"]}
CLASSES = {"dense-mnist": DENSE_CLASS, "cnn-mnist": CNN_CLASS}
FORGOTTEN_TRAINING = "for epoch in range(1000):  # a training cell left untagged\n    __import__('time').sleep(1)"


def _edit_cell(starts: str, old: str, new: str):
    def change(notebook: nbformat.NotebookNode) -> None:
        cell = next(c for c in notebook.cells if c.source.startswith(starts))
        assert old in cell.source
        cell.source = cell.source.replace(old, new)
    return change


# Answers as students write them: a count held in a numpy integer (a whole number all the
# same), and a function that prints its result instead of returning it.
ANSWER_SLIPS = {"dense-mnist": {
    "numpy-count": _edit_cell("def linear_params", "total_params = dense_params(",
                              "total_params = __import__('numpy').int64(0) + dense_params("),
    "prints-instead": _edit_cell("def flat_features", "return channels * height * width",
                                 "print(channels * height * width)"),
    # not a slip: the kernel killed from outside (as a container's memory limit does) while
    # the tests ask it questions
    "killed-during-tests": _edit_cell("def flat_features", "channels, height, width = image_shape",
                                      "import os, signal; os.kill(os.getpid(), signal.SIGKILL)\n"
                                      "    channels, height, width = image_shape"),
}}


def class_weights(lesson) -> bytes:
    """The reference weights as torch.save(Net().state_dict()) writes them: the class's names,
    in declaration order."""
    reference = torch.load(COURSE.reference_weights(lesson), weights_only=True)
    tensors = list(reference.values())
    by_layer = {name: tensors[2 * i:2 * i + 2] for i, name in enumerate(USE_ORDER[lesson.id])}
    state = {f"{name}.{kind}": tensor for name in DECLARED[lesson.id]
             for kind, tensor in zip(("weight", "bias"), by_layer[name])}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def submission(folder: Path, name: str, lesson, notebook: nbformat.NotebookNode, weights: bytes) -> None:
    with zipfile.ZipFile(folder / f"{name}.zip", "w") as archive:
        archive.writestr(lesson.notebook, nbformat.writes(notebook))
        archive.writestr(lesson.weights, weights)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    results = {}
    for lesson_id in ("dense-mnist", "cnn-mnist"):
        lesson = COURSE.lesson(lesson_id)
        folder = tmp_path_factory.mktemp(f"{lesson_id}-fair")
        solution = nbformat.read(COURSE.solution_notebook(lesson_id), as_version=4)
        as_class = nbformat.from_dict(solution)
        cell = next(c for c in as_class.cells if c.source.startswith(("model = nn.Sequential(", "class DigitCNN(")))
        cell.source = CLASSES[lesson_id]
        submission(folder, "class", lesson, as_class, class_weights(lesson))
        looping = nbformat.from_dict(solution)
        looping.cells.append(nbformat.v4.new_code_cell(FORGOTTEN_TRAINING))
        submission(folder, "forgotten-training", lesson, looping, COURSE.reference_weights(lesson).read_bytes())
        for name, change in ANSWER_SLIPS.get(lesson_id, {}).items():
            slipped = nbformat.from_dict(solution)
            change(slipped)
            submission(folder, name, lesson, slipped, COURSE.reference_weights(lesson).read_bytes())
        with on_sample_data():
            summary = grade_batch(COURSE.autograder_zip(lesson_id), folder, tmp_path_factory.mktemp("out"),
                                  workers=2, timeout=45, progress=False)
        results[lesson_id] = {r.submission.removesuffix(".zip"): r for r in summary.results.values()}
    return results


@pytest.mark.parametrize("lesson_id", ["dense-mnist", "cnn-mnist"])
def test_a_network_written_as_a_class_scores_full_marks(graded, lesson_id):
    result = graded[lesson_id]["class"]
    assert result.status == "ok", result.reason
    assert result.score == result.possible, {q.name: [t.message for t in q.tests if not t.passed]
                                             for q in result.questions.values() if q.score < q.possible}


@pytest.mark.parametrize("lesson_id", ["dense-mnist", "cnn-mnist"])
def test_a_forgotten_training_cell_keeps_what_the_weights_show(graded, lesson_id):
    lesson = COURSE.lesson(lesson_id)
    result = graded[lesson_id]["forgotten-training"]
    assert result.status == "timeout" and "for epoch in range(1000)" in result.reason, result.reason
    for role in ("architecture", "accuracy"):
        question = result.questions[lesson.verified_questions[role]]
        assert question.score == question.possible, role
        assert "verified from the weights alone" in question.verification


def test_a_numpy_integer_count_is_a_whole_number(graded):
    result = graded["dense-mnist"]["numpy-count"]
    assert result.score == result.possible, {q.name: [t.message for t in q.tests if not t.passed]
                                             for q in result.questions.values() if q.score < q.possible}


def test_a_function_that_prints_instead_of_returning_is_told_so(graded):
    result = graded["dense-mnist"]["prints-instead"]
    flatten = result.questions["flatten"]
    assert flatten.score == 0
    assert all("`flat_features` returned nothing (None)" in t.message for t in flatten.tests), flatten.tests
    assert result.score == result.possible - flatten.possible


def test_a_kernel_killed_while_the_tests_ask_keeps_what_the_weights_show_and_says_so(graded):
    lesson = COURSE.lesson("dense-mnist")
    result = graded["dense-mnist"]["killed-during-tests"]
    assert result.status == "error" and "stopped answering while the tests asked it questions" in result.reason
    assert result.questions["flatten"].score == result.questions["parameters"].score == 0
    assert not any("define the function" in t.message for q in result.questions.values() for t in q.tests)
    for role in ("architecture", "accuracy"):
        question = result.questions[lesson.verified_questions[role]]
        assert question.score == question.possible, (role, question)
