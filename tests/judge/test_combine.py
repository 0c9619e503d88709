"""How the judge's scores meet the clean room's measurement, and what each reader then sees:
no "passed" line next to a 0, a question the weights earned after a timeout shown as earned,
report.md listing every 0 next to a measurement that meets the target, and saying how many
failure groups it leaves out."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from dlcourse.course import Course
from dlcourse.grading.cleanroom import Verdict
from dlcourse.grading.gradebook import MARKDOWN_FAILURE_GROUPS, write_report
from dlcourse.grading.inputs import Discovery, Entry
from dlcourse.grading.judge import JudgeReport
from dlcourse.grading.scoring import combine
from dlcourse.grading.result import GradeResult, QuestionResult
from dlcourse.grading.result import TestResult as CaseResult  # not a pytest class
from dlcourse.grading.sandbox import Outcome
from helpers.paths import ROOT

LESSON = Course(ROOT).lesson("dense-mnist")
POINTS = {"model": 4.0, "accuracy": 4.0}
FILES = {LESSON.notebook: b"{}", LESSON.weights: b"weights"}


def judged(model_passed: bool, accuracy_passed: bool, **verdict) -> JudgeReport:
    def question(name: str, passed: bool) -> QuestionResult:
        message = "" if passed else "define `prepare` first (run the cell that defines it)."
        return QuestionResult(name, POINTS[name] if passed else 0.0, POINTS[name],
                              [CaseResult(f"test_{name}", False, POINTS[name], passed, message)])

    return JudgeReport(questions={"model": question("model", model_passed),
                                  "accuracy": question("accuracy", accuracy_passed)},
                       ready=True, verdict=asdict(Verdict(weights_found=True, **verdict)),
                       outcome=Outcome(returncode=0, seconds=1.0))


def gradescope_lines(result, question: str) -> list[str]:
    return [line for test in result.to_gradescope()["tests"] if test["name"].startswith(question)
            for line in test["output"].splitlines()]


def test_weights_that_refute_the_network_leave_no_passed_line_next_to_the_zero():
    report = judged(True, True, weights_problem="layer 1 has shape (10, 784), the lesson's (512, 784)",
                    accuracy=0.2, test_images=10_000)
    result = combine(Path("s.zip"), LESSON, POINTS, FILES, report, [])
    model = result.questions["model"]
    assert model.score == 0 and model.measured_ok is False and result.status == "flagged"
    lines = gradescope_lines(result, "model")
    assert lines and not any(line.startswith("passed") for line in lines), lines
    assert any("(512, 784)" in line for line in lines)


def test_no_zero_stands_next_to_a_measurement_that_meets_the_target(tmp_path):
    """The notebook's accuracy test failed (it could not load the weights into `model`), but
    the grader's own measurement meets the target: the measurement decides, the row says why,
    and report.md lists no zero next to a met measurement."""
    report = judged(True, False, fits_lesson=True, accuracy=0.981, test_images=10_000, meets_threshold=True)
    result = combine(Path("honest.zip"), LESSON, POINTS, FILES, report, [])
    accuracy = result.questions["accuracy"]
    assert accuracy.score == 4 and accuracy.measured_ok is True
    assert "98.10%" in accuracy.verification and "define `prepare` first" in accuracy.verification
    missed = combine(Path("short.zip"), LESSON, POINTS, FILES,
                     judged(True, True, fits_lesson=True, accuracy=0.90, test_images=10_000), [])
    assert missed.questions["accuracy"].score == 0
    found = Discovery([Entry(tmp_path / "honest.zip", "honest.zip"), Entry(tmp_path / "short.zip", "short.zip")], [])
    write_report(tmp_path, found, {found.entries[0].key: result, found.entries[1].key: missed})
    section = (tmp_path / "report.md").read_text().split("## Zeros next to a measurement")[1]
    assert "honest.zip" not in section and "short.zip" not in section


def test_a_question_the_weights_earned_after_a_timeout_shows_as_earned():
    report = JudgeReport(ready=False, running_cell="for epoch in range(1000):",
                         verdict=asdict(Verdict(weights_found=True, fits_lesson=True, accuracy=0.98,
                                                test_images=10_000, meets_threshold=True)),
                         outcome=Outcome(returncode=None, seconds=600.0, timed_out=True))
    result = combine(Path("s.zip"), LESSON, POINTS, FILES, report, [])
    assert result.status == "timeout"
    shown = {test["name"]: test for test in result.to_gradescope()["tests"]}
    assert shown["accuracy"]["score"] == 4 and shown["accuracy"]["status"] == "passed"
    assert "verified from the weights alone" in shown["accuracy"]["output"]
    assert shown["model"]["status"] == "passed"


def test_a_kernel_lost_during_the_tests_keeps_the_verdicts_it_gave_and_earns_only_unasked_questions():
    """An attack: fail the architecture question, then kill the kernel in the last question
    asked; the weights alone must not turn the failure into full marks."""
    verdict = dict(fits_lesson=True, accuracy=0.98, test_images=10_000, meets_threshold=True)
    answered = judged(False, True, **verdict)
    answered.lost_during_tests, answered.unasked = True, []
    result = combine(Path("kill.zip"), LESSON, POINTS, FILES, answered, [])
    assert result.questions["model"].score == 0 and result.status == "error"
    never_asked = judged(False, True, **verdict)
    never_asked.lost_during_tests, never_asked.unasked = True, ["model"]
    result = combine(Path("oom.zip"), LESSON, POINTS, FILES, never_asked, [])
    assert result.questions["model"].score == 4
    assert "kernel stopped answering while the tests ran" in result.questions["model"].verification


def _failing(submission: str, tests: int) -> GradeResult:
    """A graded submission whose ``tests`` tests each fail with a cause of their own."""
    cases = [CaseResult(f"test_{i}", False, 1.0, False, f"cause number {'i' * (i + 1)}") for i in range(tests)]
    return GradeResult(submission, LESSON.id, "ok", "", {"model": QuestionResult("model", 0.0, tests, cases)})


def test_report_md_says_how_many_failure_groups_it_leaves_out_and_where_they_all_are(tmp_path):
    found = Discovery([Entry(tmp_path / "a.zip", "a.zip"), Entry(tmp_path / "b.zip", "b.zip")], [])
    groups = MARKDOWN_FAILURE_GROUPS + 3
    write_report(tmp_path, found, {found.entries[0].key: _failing("a.zip", groups),
                                   found.entries[1].key: _failing("b.zip", 1)})
    section = (tmp_path / "report.md").read_text().split("## Most common failure messages")[1].split("\n## ")[0]
    assert sum(line.startswith("- ") and "submission(s)" in line for line in section.splitlines()) == MARKDOWN_FAILURE_GROUPS
    assert "- ... and 3 more; report.html lists them all" in section

    write_report(tmp_path, found, {found.entries[0].key: _failing("a.zip", 2), found.entries[1].key: _failing("b.zip", 1)})
    assert "more; report.html" not in (tmp_path / "report.md").read_text()


def test_a_kernel_stuck_in_a_call_says_so_not_that_it_died():
    from dlcourse.grading.judge import KERNEL_STUCK

    stuck = judged(False, True, fits_lesson=True, accuracy=0.98, test_images=10_000, meets_threshold=True)
    stuck.lost_during_tests, stuck.unasked, stuck.kernel_error = True, ["model"], KERNEL_STUCK
    result = combine(Path("stuck.zip"), LESSON, POINTS, FILES, stuck, [])
    assert result.status == "error" and result.reason.startswith(KERNEL_STUCK)
    assert "memory" not in result.reason


def test_a_run_stopped_at_its_disk_limit_says_so_not_that_its_runner_stopped():
    """The row said "its kernel or the grader's runner stopped (exit status -9)", and the cause
    stood only in a note."""
    full = judged(False, True, fits_lesson=True, accuracy=0.98, test_images=10_000, meets_threshold=True)
    full.ready, full.running_cell = False, "open('big', 'wb')"
    full.outcome = Outcome(returncode=-9, seconds=3.0, out_of_disk=True)
    full.kernel_error = "the notebook wrote more than its disk limit (1,024 MB, 20,000 files) and was stopped"
    result = combine(Path("full.zip"), LESSON, POINTS, FILES, full, [])
    assert result.status == "error" and result.reason.startswith(full.kernel_error), result.reason
    assert "open('big', 'wb')" in result.reason and "exit status" not in result.reason
