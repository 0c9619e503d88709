"""A question the kernel did not answer (the run's time ran out during a call, the kernel died
or was stuck, a call ran past its own time) says so, whatever the check made of the error: a
check that reads any failure of the network as "computes something else", or a value that did
not arrive as "define it first", must not blame the student's code for it (attack 26)."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import pytest

import dlcourse.grading.judge as judge_module
from dlcourse.grading.judge import CALL_TIMEOUT, NotebookValues, RunnerSession, run_tests
from dlcourse.grading.manifest import Manifest, QuestionSpec, TestSpec
from dlcourse.grading.proxies import CallPastTime, OracleUnavailable
from dlcourse.grading.randomness import KEY_FILE
from dlcourse.grading.sandbox import Limits, Outcome
from dlcourse.grading.wire import write_message

# Two questions whose checks turn any error into the student's fault, as real checks may
# (checks.architecture: an error in the network's forward pass reads "computes something else")
TESTS = {
    "model": '''
        from otter.test_files import test_case
        OK_FORMAT = False
        name = "model"
        points = 2

        @test_case(points=1, hidden=False)
        def test_model_computes(model):
            try:
                model(1)
            except Exception:
                raise AssertionError("your network computes something else")

        @test_case(points=1, hidden=False)
        def test_model_is_callable(model):   # on the value fetched already: no question to the kernel
            assert callable(model), "make `model` a network"
        ''',
    "steps": '''
        from otter.test_files import test_case
        OK_FORMAT = False
        name = "steps"
        points = 1

        @test_case(points=1, hidden=False)
        def test_steps(steps):
            assert steps is not None, "define `steps` first"
        ''',
}


@pytest.fixture
def autograder(tmp_path: Path) -> Path:
    (tmp_path / "tests").mkdir()
    questions = []
    for name, source in TESTS.items():
        (tmp_path / "tests" / f"{name}.py").write_text(textwrap.dedent(source))
        questions.append(QuestionSpec(name, f"tests/{name}.py", 2.0 if name == "model" else 1.0, (TestSpec("t", 1.0, False),)))
    (tmp_path / "manifest.json").write_text(Manifest("fake", tuple(questions)).to_json())
    (tmp_path / KEY_FILE).write_text("key\n")
    return tmp_path


class FakeOracle:
    """The notebook's values; the call to ``model`` and every ask after it fail with ``lapse``."""

    def __init__(self, lapse: Exception) -> None:
        self.lapse, self.lost = lapse, False

    def exchange(self, request: dict, blobs: list[bytes]):
        if self.lost or request.get("op") == "call":
            self.lost = isinstance(self.lapse, OracleUnavailable)
            raise self.lapse
        return {"value": 0}, []

    def get(self, name: str):
        self.exchange({"op": "get", "name": name}, [])
        return True, (lambda x: self.exchange({"op": "call"}, [])) if name == "model" else 705


def graded(autograder: Path, lapse: Exception):
    oracle = FakeOracle(lapse)
    questions, unasked, _ = run_tests(Manifest.load(autograder), autograder, NotebookValues(oracle), "digest",
                                      answering=lambda: not oracle.lost)
    return {name: [t.message for t in q.tests] for name, q in questions.items()}, unasked, questions


def test_a_question_cut_at_the_runs_time_limit_says_so_and_the_ones_after_it_too(autograder):
    spent = OracleUnavailable(judge_module.TIME_SPENT.format(limit=40))
    messages, unasked, questions = graded(autograder, spent)
    assert messages["model"][0] == str(spent)   # not "computes something else"
    assert messages["model"][1] == ""           # answered before: its verdict stands
    assert messages["steps"] == [str(spent)]    # not "define `steps` first"
    assert not any("computes something else" in m or "first" in m for ms in messages.values() for m in ms)
    # no answer in either: the weights may show them (scoring.py); points only move where they verify
    assert unasked == ["model", "steps"] and questions["model"].score == 1


def test_a_test_that_failed_for_its_own_reason_keeps_its_message_and_its_question_stays_answered(autograder):
    spent = OracleUnavailable(judge_module.TIME_SPENT.format(limit=40))
    wrong = (autograder / "tests" / "model.py").read_text().replace("assert callable", "assert not callable")
    (autograder / "tests" / "model.py").write_text(wrong)
    messages, unasked, _ = graded(autograder, spent)
    assert messages["model"] == [str(spent), "make `model` a network"]
    assert "model" not in unasked   # a failure of its own: no weights may earn it


def test_a_call_past_its_own_time_says_so_and_the_question_keeps_its_verdict(autograder):
    slow = CallPastTime(judge_module.CALL_PAST_TIME.format(seconds=CALL_TIMEOUT))
    messages, unasked, _ = graded(autograder, slow)
    assert messages["model"] == [str(slow), ""] and messages["steps"] == [""]
    assert unasked == []   # the kernel answered on: the slowness is the notebook's


class TimedRun:
    """A runner that answers one request after ``seconds`` (the clock is the judge's)."""

    def __init__(self, answer: dict, seconds_left: float) -> None:
        self.stdout, self.stdin = io.BytesIO(), io.BytesIO()
        write_message(self.stdout, {"event": "answer", "answer": answer})
        self.stdout.seek(0)
        self.seconds_left, self.limits = seconds_left, Limits(timeout=40)
        self.outcome = Outcome(returncode=None, seconds=0.0)


TIMED_OUT = {"error": "TimeoutError", "message": "did not finish within 3 s", "builtin": True}


@pytest.fixture
def clock(monkeypatch):
    """The judge's clock: each reading 100 s after the last (past any call's time)."""
    now = iter(range(0, 10**6, 100))
    monkeypatch.setattr(judge_module.time, "monotonic", lambda: float(next(now)))


def test_a_call_cut_at_the_runs_time_limit_ends_the_questions_in_the_judges_words(clock):
    runner = RunnerSession(TimedRun(TIMED_OUT, seconds_left=3.5))
    with pytest.raises(OracleUnavailable, match=r"time limit \(40 s\) ran out"):
        runner.exchange({"op": "call"}, [])
    assert runner.time_spent and not runner.alive
    with pytest.raises(OracleUnavailable, match=r"time limit \(40 s\) ran out"):
        runner.exchange({"op": "get", "name": "steps"}, [])


def test_a_call_past_its_own_time_is_told_apart_from_the_runs_time(clock):
    runner = RunnerSession(TimedRun(TIMED_OUT, seconds_left=500))
    with pytest.raises(CallPastTime, match=f"within {CALL_TIMEOUT} s"):
        runner.exchange({"op": "call"}, [])
    assert runner.alive and not runner.time_spent


def test_a_timeout_error_the_students_code_raised_in_time_is_its_own_answer():
    runner = RunnerSession(TimedRun(TIMED_OUT, seconds_left=3.5))
    assert runner.exchange({"op": "call"}, [])[0] == TIMED_OUT
    assert runner.alive and not runner.time_spent


def test_the_weights_earn_a_verified_question_the_run_could_not_answer_and_its_note_says_why():
    from dlcourse.course import Course
    from dlcourse.grading.cleanroom import Verdict
    from dlcourse.grading.judge import JudgeReport
    from dlcourse.grading.result import QuestionResult, TestResult
    from dlcourse.grading.scoring import combine
    from helpers.paths import ROOT

    lesson = Course(ROOT).lesson("dense-mnist")
    spent = judge_module.TIME_SPENT.format(limit=40)
    report = JudgeReport(questions={"model": QuestionResult("model", 0.0, 4.0, [TestResult("t", False, 4.0, False, spent)])},
                         ready=True, unasked=["model"], outcome=Outcome(returncode=None, seconds=40.0, timed_out=True),
                         verdict={**Verdict(weights_found=True, fits_lesson=True, accuracy=0.98, test_images=10_000,
                                            meets_threshold=True).__dict__})
    result = combine(Path("slow.zip"), lesson, {"model": 4.0}, {lesson.notebook: b"{}", lesson.weights: b"w"}, report, [])
    assert result.questions["model"].score == 4
    assert "the run's time ran out while the tests asked the notebook questions" in result.questions["model"].verification
    assert "ran out of time while the tests asked it questions" in result.reason


# The network's forward pass sleeps on the 4 images the architecture check runs it on, until the
# run's time is spent: the check reads any error of the network as "computes something else".
SLEEPS_ON_FOUR = ("import time\nmodel.register_forward_pre_hook(lambda module, inputs: time.sleep(1000) "
                  "if inputs[0].shape[0] == 4 else None)")


@pytest.mark.slow
def test_a_run_whose_time_runs_out_during_a_question_says_so_in_that_question_and_those_after(tmp_path):
    """A real grade: the architecture test's call uses the rest of the run's time."""
    import zipfile

    import nbformat

    from dlcourse.course import Course
    from dlcourse.grading.batch import grade_batch
    from helpers.paths import ROOT, on_sample_data

    course = Course(ROOT)
    lesson = course.lesson("dense-mnist")
    notebook = nbformat.read(course.solution_notebook(lesson.id), as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(SLEEPS_ON_FOUR))
    (tmp_path / "in").mkdir()
    with zipfile.ZipFile(tmp_path / "in" / "slow.zip", "w") as archive:
        archive.writestr(lesson.notebook, nbformat.writes(notebook))
        archive.writestr(lesson.weights, course.reference_weights(lesson).read_bytes())
    with on_sample_data():
        summary = grade_batch(course.autograder_zip(lesson.id), tmp_path / "in", tmp_path / "out", workers=1,
                              timeout=30, progress=False)
    result = next(iter(summary.results.values()))
    messages = [t.message for q in result.questions.values() for t in q.tests if not t.passed]
    assert result.status == "error" and "ran out of time" in result.reason
    assert messages and all("time limit (30 s) ran out" in m for m in messages), messages
    model = result.questions[lesson.verified_questions["architecture"]]
    assert model.score == model.possible and "time ran out" in model.verification, model


def test_a_call_past_its_time_in_a_check_that_names_its_input_keeps_the_input_without_our_class_name():
    from types import SimpleNamespace

    slow = CallPastTime(judge_module.CALL_PAST_TIME.format(seconds=CALL_TIMEOUT))
    said = f"AssertionError: for flat_features((3, 35, 12)): CallPastTime: {slow}"
    result = SimpleNamespace(passed=False, message=said, test_case=SimpleNamespace(failure_message=""))
    assert judge_module._failure(result, slow) == f"for flat_features((3, 35, 12)): {slow}"
