"""One rule for the points the weights prove, whatever the notebook's run did (scoring.py):
the accuracy is the grader's measurement; the architecture is earned from the weights where the
run could not show it (a name never defined, a cell error, a timeout, a dead kernel alike), and
ending a run never scores more than completing it. A run that loses its kernel or runner is an
error row in the grader's words. And a newer Python's syntax is explained in one line.
Reports are built here, as the judge would send them; no kernel runs."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest

from dlcourse.course import Course
from dlcourse.grading.cleanroom import Verdict
from dlcourse.grading.judge import JudgeReport
from dlcourse.grading.result import QuestionResult
from dlcourse.grading.result import TestResult as CaseResult  # not a pytest class
from dlcourse.grading.sandbox import Outcome
from dlcourse.grading.scoring import combine
from helpers.paths import ROOT

COURSE = Course(ROOT)
LESSONS = {lesson_id: COURSE.lesson(lesson_id) for lesson_id in ("dense-mnist", "cnn-mnist")}
TRAINED = dict(weights_found=True, fits_lesson=True, accuracy=0.98, test_images=10_000, meets_threshold=True)
UNTRAINED = dict(weights_found=True, fits_lesson=True, accuracy=0.10, test_images=10_000, meets_threshold=False)
MODEL_CELL = "model = nn.Sequential(\n    ...\n)"
CELL_ERROR = 'cell "model = nn.Sequential(" raised TypeError: ellipsis is not a Module subclass'


def points(lesson) -> dict[str, float]:
    return {lesson.verified_questions["architecture"]: 4.0, lesson.verified_questions["accuracy"]: 4.0,
            "other": 2.0}


def files(lesson) -> dict[str, bytes]:
    return {lesson.notebook: b"{}", lesson.weights: b"weights"}


def asked(lesson, passed: bool, message: str = "") -> dict[str, QuestionResult]:
    """Every question asked, each passing or failing with ``message``."""
    return {name: QuestionResult(name, possible if passed else 0.0, possible,
                                 [CaseResult(f"test_{name}", False, possible, passed, "" if passed else message)])
            for name, possible in points(lesson).items()}


def completed(lesson, verdict: dict, passed: bool = False, missing: bool = True, **fields) -> JudgeReport:
    """A run whose tests all ran; the network's name never defined (``missing``) or defined wrong."""
    architecture, accuracy = (lesson.verified_questions[r] for r in ("architecture", "accuracy"))
    message = "`model` should be a torch.nn.Module, not NoneType" if missing else "leave the softmax out"
    return JudgeReport(questions=asked(lesson, passed, message), ready=True, verdict=asdict(Verdict(**verdict)),
                       outcome=Outcome(returncode=0, seconds=5.0),
                       missing={architecture: ["model"], accuracy: ["model"]} if missing and not passed else {},
                       **fields)


def stopped(verdict: dict, **outcome) -> JudgeReport:
    """A run that never got to its tests: timed out, out of memory, or its kernel/runner gone."""
    return JudgeReport(ready=False, running_cell="import os; os._exit(0)", verdict=asdict(Verdict(**verdict)),
                       outcome=Outcome(**{"returncode": 0, "seconds": 5.0, **outcome}))


def grade(lesson, report: JudgeReport, written_with: str | None = None):
    return combine(Path("s.zip"), lesson, points(lesson), files(lesson), report, [], written_with=written_with)


@pytest.mark.parametrize("lesson_id", LESSONS)
def test_a_network_never_defined_is_earned_from_trained_weights_naming_the_failing_cell(lesson_id):
    lesson = LESSONS[lesson_id]
    result = grade(lesson, completed(lesson, TRAINED, cell_errors=[CELL_ERROR]))
    architecture = result.questions[lesson.verified_questions["architecture"]]
    accuracy = result.questions[lesson.verified_questions["accuracy"]]
    assert architecture.score == accuracy.score == 4 and result.questions["other"].score == 0
    assert "never defined `model`" in architecture.verification and "model = nn.Sequential(" in architecture.verification
    assert all(t.passed for t in architecture.tests + accuracy.tests)
    assert result.status == "error" and "TypeError" in result.reason


@pytest.mark.parametrize("lesson_id", LESSONS)
def test_ending_the_run_never_scores_more_than_completing_it(lesson_id):
    """The stub plus weights, run to the end, and the same ended by os._exit, a timeout, the
    memory limit or a kernel lost before or during the tests: the same score on every path."""
    lesson = LESSONS[lesson_id]
    for verdict in (TRAINED, UNTRAINED):
        complete = grade(lesson, completed(lesson, verdict, cell_errors=[CELL_ERROR])).score
        lost = completed(lesson, verdict, lost_during_tests=True)
        lost.unasked = list(points(lesson))
        paths = {"os._exit": stopped(verdict), "runner killed": stopped(verdict, returncode=-9),
                 "timeout": stopped(verdict, returncode=None, timed_out=True),
                 "memory": stopped(verdict, returncode=None, out_of_memory=True), "lost during the tests": lost}
        for path, report in paths.items():
            assert grade(lesson, report).score <= complete, (path, verdict["accuracy"])
        assert complete == (8 if verdict is TRAINED else 0)


@pytest.mark.parametrize("lesson_id", LESSONS)
def test_a_network_the_run_showed_wrong_keeps_its_zero_beside_weights_of_the_right_shapes(lesson_id):
    """A softmax after the last layer: the weights have the lesson's shapes and reach the
    target, but the notebook's network failed its tests; the shapes cannot show it right."""
    lesson = LESSONS[lesson_id]
    result = grade(lesson, completed(lesson, TRAINED, passed=False, missing=False))
    architecture = result.questions[lesson.verified_questions["architecture"]]
    assert architecture.score == 0 and architecture.measured_ok is not True
    assert "leave the softmax out" in architecture.tests[0].message
    assert result.questions[lesson.verified_questions["accuracy"]].score == 4  # the measurement decides
    assert result.status == "ok"


@pytest.mark.parametrize("lesson_id", LESSONS)
def test_untrained_weights_of_the_right_shapes_never_earn_the_architecture(lesson_id):
    lesson = LESSONS[lesson_id]
    for report in (completed(lesson, UNTRAINED), stopped(UNTRAINED)):
        result = grade(lesson, report)
        assert result.score == 0, {q.name: q.score for q in result.questions.values()}
        assert "do not reach the target" in result.questions[lesson.verified_questions["architecture"]].verification


@pytest.mark.parametrize("outcome", [{"returncode": 0}, {"returncode": -9}, {"returncode": 1}])
def test_a_run_that_loses_its_kernel_or_runner_is_an_error_row_in_the_graders_words(outcome):
    lesson = LESSONS["dense-mnist"]
    report = stopped(TRAINED, **outcome)
    report.kernel_error = "kernel died, regrade with more memory"  # what a forged runner event could say
    result = grade(lesson, report)
    assert result.status == "error"
    assert "ended before its tests ran" in result.reason and "regrade with more memory" not in result.reason
    assert any("regrade with more memory" in note for note in result.notes)  # kept, as the runner's words
    lost = completed(lesson, TRAINED, passed=True, lost_during_tests=True, kernel_error="all is well")
    result = grade(lesson, lost)
    assert result.status == "error" and "all is well" not in result.reason


def test_syntax_of_a_newer_python_is_explained_in_one_line():
    lesson = LESSONS["dense-mnist"]
    error = 'cell "def linear_params(n_in, n_out):" raised SyntaxError: f-string: unmatched \'[\' (1.py, line 7)'
    report = completed(lesson, TRAINED, passed=True, cell_errors=[error], python="3.11.7")
    result = grade(lesson, report, written_with="3.12.11")
    assert result.status == "error"
    assert "Python 3.12.11" in result.reason and "Python 3.11.7" in result.reason
    assert 'the cell "def linear_params(n_in, n_out):"' in result.reason and "\n" not in result.reason
    same = grade(lesson, report, written_with="3.11.4")  # not newer: the error as it was
    assert same.reason == error


@pytest.mark.parametrize("error", [
    'cell "def linear_params(n_in, n_out):" raised SyntaxError: f-string: unmatched \'[\' (1.py, line 7)',
    'cell "type Batch = tuple[int, int]" raised SyntaxError: invalid syntax (1.py, line 1)',
    'cell "def first[T](items: list[T]) -> T:" raised SyntaxError: expected \'(\' (1.py, line 1)'])
def test_newer_syntax_in_a_notebook_that_names_no_python_may_be_colabs(error):
    lesson = LESSONS["dense-mnist"]
    report = completed(lesson, TRAINED, passed=True, cell_errors=[error], python="3.11.7")
    result = grade(lesson, report, written_with=None)
    assert result.reason.startswith(error) and "may be syntax of a newer Python than the grader's 3.11.7" in result.reason
    assert "(Colab runs 3.12)" in result.reason and "\n" not in result.reason
    typo = 'cell "x = (" raised SyntaxError: \'(\' was never closed (1.py, line 1)'
    plain = grade(lesson, completed(lesson, TRAINED, passed=True, cell_errors=[typo], python="3.11.7"))
    assert plain.reason == typo, "a plain mistake is not blamed on the Python version"


def test_torchs_advice_to_turn_weights_only_off_never_reaches_the_row():
    lesson = LESSONS["dense-mnist"]
    error = ('cell "model.load_state_dict(torch.load(" raised RuntimeError: Cannot use ``weights_only=True`` with '
             "TorchScript archives passed to ``torch.load``. In PyTorch 2.6, we changed the default value of the "
             "`weights_only` argument in `torch.load` from `False` to `True`. Re-running `torch.load` with "
             "`weights_only` set to `False` will likely succeed")
    result = grade(lesson, completed(lesson, TRAINED, passed=True, cell_errors=[error]))
    assert "TorchScript" in result.reason and "set to `False`" not in result.reason
    assert not any("set to `False`" in note for note in result.notes)


def test_cuda_served_on_the_cpu_leaves_a_note():
    lesson = LESSONS["dense-mnist"]
    result = grade(lesson, completed(lesson, TRAINED, passed=True, cuda_on_cpu=True))
    assert result.status == "ok" and result.score == result.possible
    assert any('GPU ("cuda")' in note for note in result.notes)


def inverted_weights(lesson) -> dict:
    """The reference network rewritten for inputs 1 - x: the same answers through a `prepare`
    that inverts the pixels, nonsense through the lesson's pipeline."""
    import torch

    state = dict(torch.load(COURSE.reference_weights(lesson), weights_only=True))
    first_weight, first_bias = list(state)[:2]
    weight = state[first_weight]
    state[first_bias] = state[first_bias] + weight.sum(dim=1)
    state[first_weight] = -weight
    return state


def test_a_prepare_that_differs_from_the_lessons_pipeline_is_explained_as_the_students_check_does(tmp_path):
    import torch

    from dlcourse.grading.pipeline_probe import your_pipeline_accuracy
    from dlcourse.data import SAMPLE_DIR

    lesson = LESSONS["dense-mnist"]
    weights = tmp_path / lesson.weights
    torch.save(inverted_weights(lesson), weights)
    inverted = {"prepare": lambda images: 1 - images.float() / 255}
    yours = your_pipeline_accuracy(inverted, lesson, weights, SAMPLE_DIR)
    assert yours is not None and yours > 0.9
    same = {"prepare": lambda images: images.float() / 255}
    assert your_pipeline_accuracy(same, lesson, weights, SAMPLE_DIR) is None  # the same pipeline: nothing to say
    assert your_pipeline_accuracy({}, lesson, weights, SAMPLE_DIR) is None

    report = completed(lesson, dict(TRAINED, accuracy=0.11, meets_threshold=False), passed=True, your_pipeline=yours)
    accuracy = grade(lesson, report).questions[lesson.verified_questions["accuracy"]]
    assert accuracy.score == 0
    message = accuracy.tests[0].message
    assert "target is 95%" in message and f"reach {yours:.2%}" in message and "your `prepare` differs" in message


def test_an_answer_cell_left_as_released_is_one_the_run_could_not_show():
    """A stub whose network cell defines `model` as an empty class (`...` in its methods):
    trained weights earn the architecture as they do after os._exit, so ending never pays."""
    lesson = LESSONS["cnn-mnist"]
    architecture = lesson.verified_questions["architecture"]
    report = completed(lesson, TRAINED, passed=False, missing=False)
    result = combine(Path("s.zip"), lesson, points(lesson), files(lesson), report, [], unfinished=[architecture])
    assert result.questions[architecture].score == 4
    assert "still holds the release's `...`" in result.questions[architecture].verification
    assert result.score == grade(lesson, stopped(TRAINED)).score


def test_unfinished_questions_are_read_from_the_answer_cells():
    from dlcourse.unfinished import unfinished_questions

    def cell(source: str, answer: bool = False) -> dict:
        return {"cell_type": "code", "source": source, "metadata": {"tags": ["otter_answer_cell"] if answer else []}}

    cells = [cell("class Net(nn.Module):\n    def forward(self, x):\n        ...\n\nmodel = Net()", answer=True),
             cell('grader.check("model")'), cell("total = 4 * 5", answer=True), cell('grader.check("count")'),
             cell("steps = ...", answer=True), cell('grader.check("steps")')]
    assert unfinished_questions(cells) == ["model", "steps"]
