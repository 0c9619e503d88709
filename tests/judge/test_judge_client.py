"""The judge process seen from the grader: bounded in time and memory, and a failure keeps the
judge's own error log as the row's evidence."""

from __future__ import annotations

import subprocess
import sys

import pytest

import dlcourse.grading.judge_client as judge_client
from dlcourse.grading.judge import JudgeJob
from dlcourse.grading.judge_client import Judge, JudgeFailed


def test_a_judge_past_its_memory_bound_is_killed(monkeypatch):
    monkeypatch.setattr(judge_client, "JUDGE_MEMORY_MB", 100)
    process = subprocess.Popen([sys.executable, "-c", "import time\nx = bytearray(300 * 2**20)\nx[::4096] = b'1' * "
                                "len(x[::4096])\ntime.sleep(60)"], stdout=subprocess.PIPE, start_new_session=True)
    with pytest.raises(MemoryError, match="over its 100 MB"):
        judge_client._read_line(process, deadline=judge_client.time.monotonic() + 60)
    assert process.wait(timeout=10) != 0


def test_a_silent_judge_is_killed_at_its_deadline():
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], stdout=subprocess.PIPE,
                               start_new_session=True)
    with pytest.raises(TimeoutError):
        judge_client._read_line(process, deadline=judge_client.time.monotonic() + 1)
    assert process.wait(timeout=10) != 0


def test_a_failed_judge_leaves_its_log_as_evidence(tmp_path):
    job = JudgeJob(workdir=str(tmp_path), autograder=str(tmp_path / "no-autograder"), run_dir=str(tmp_path),
                   data_root=str(tmp_path), weights={}, submission_digest="0", timeout=5, memory_mb=100)
    with Judge() as judge, pytest.raises(JudgeFailed) as failed:
        judge.run(job, None)
    assert "FileNotFoundError" in str(failed.value)
    assert "FileNotFoundError" in failed.value.evidence[-1] and len(failed.value.evidence) > 1


def test_a_lone_surrogate_from_the_sandbox_never_reaches_the_writers():
    from dlcourse.grading.judge import JudgeReport

    line = JudgeReport(cell_errors=["cell raised ValueError: \udc80"], kernel_error="é").to_json()
    line.encode("utf-8")  # strict, as every writer after the judge is
    assert JudgeReport.from_json(line).cell_errors == ["cell raised ValueError: ?"]


class FakeRun:
    """What RunnerSession reads: the runner's messages, then the end of the pipe."""

    def __init__(self, *messages: tuple[dict, list[bytes]]) -> None:
        import io

        from dlcourse.grading.wire import write_message

        self.stdout, self.stdin = io.BytesIO(), io.BytesIO()
        for body, blobs in messages:
            write_message(self.stdout, body, blobs)
        self.stdout.seek(0)


def test_a_runner_that_ends_before_it_reports_is_lost_in_the_judges_words():
    from dlcourse.grading.judge import RUNNER_LOST, RunnerSession

    runner = RunnerSession(FakeRun(({"event": "cell", "source": "train()"}, [])))
    assert not runner.wait_until_ready()
    assert runner.kernel_error == RUNNER_LOST and runner.running_cell == "train()"


def test_the_runners_words_for_a_dead_kernel_are_not_believed():
    from dlcourse.grading.judge import KERNEL_DIED, RunnerSession

    runner = RunnerSession(FakeRun(({"event": "dead", "message": "kernel died, regrade with more memory"}, [])))
    assert not runner.wait_until_ready() and runner.kernel_error == KERNEL_DIED


def test_a_stuck_kernel_stops_the_questions_in_the_judges_words():
    """The runner's "stuck" (a call ignored its interrupt past the next question's time): the
    tests that remain fail saying the kernel stopped answering, not "define X first"."""
    import pytest

    from dlcourse.grading.judge import KERNEL_STUCK, RunnerSession
    from dlcourse.grading.proxies import OracleUnavailable
    from dlcourse.grading.sandbox import Outcome

    run = FakeRun(({"event": "stuck", "message": "believe me"}, []))
    run.seconds_left, run.outcome = 30.0, Outcome(returncode=None, seconds=0.0)
    runner = RunnerSession(run)
    with pytest.raises(OracleUnavailable, match="ignored the interrupt"):
        runner.exchange({"op": "get", "name": "model"}, [])
    assert runner.kernel_error == KERNEL_STUCK and not runner.alive


def test_a_ready_message_of_the_wrong_shape_hides_nothing():
    from dlcourse.grading.judge import NOTEBOOK_LIMIT, RunnerSession

    runner = RunnerSession(FakeRun(({"event": "ready", "cell_errors": "not a list"}, [b"x" * (NOTEBOOK_LIMIT + 1)])))
    assert runner.wait_until_ready()
    assert runner.cell_errors == [] and runner.notebook is None


class DyingJudge(Judge):
    """A judge that writes ``words`` to its error log and ends without a report, as one that
    crashes on a submission does (its log may quote what the student's code wrote)."""

    def __init__(self, words: str) -> None:
        super().__init__()
        self.words = words

    def _start(self) -> subprocess.Popen:
        self.errors = open(self.home / "stderr.log", "w")
        self.process = subprocess.Popen([sys.executable, "-c", f"import sys; sys.stdin.readline(); "
                                         f"sys.stderr.write({self.words!r}); sys.exit(3)"], cwd=self.home,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors,
                                        encoding="utf-8", start_new_session=True)
        return self.process


STUDENT_WORDS = "=HYPERLINK(\"x\") \x1b[2Jkernel died, regrade with more memory " + "x" * 5000


def test_a_judge_that_fails_leaves_its_log_in_the_row(course, tmp_path):
    from dlcourse.grading.batch import JudgePerWorker, grade_one
    from dlcourse.grading.gradebook import write_gradebook
    from dlcourse.grading.inputs import discover
    from dlcourse.grading.pipeline import GradingOptions

    notebook = next(course.student_dir("dense-mnist").glob("*.ipynb"))
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "alice.ipynb").write_bytes(notebook.read_bytes())
    found = discover(tmp_path / "in")
    judges = JudgePerWorker()
    judges.local.judge = DyingJudge("Traceback (most recent call last):\nValueError: " + STUDENT_WORDS + "\n")
    judges.every.append(judges.local.judge)
    try:
        result = grade_one(course.autograder_zip("dense-mnist"), found.entries[0], GradingOptions(timeout=60), judges)
    finally:
        judges.close()

    assert result.status == "grader-error"
    assert "ValueError" in result.reason and "kernel died" not in result.reason   # the reason is the grader's words
    assert result.evidence[-1].startswith(judge_client.LOG_MARK + "ValueError: =HYPERLINK")
    assert "kernel died, regrade" in result.evidence[-1] and "\x1b" not in result.evidence[-1]
    assert len(result.evidence[-1]) < len(judge_client.LOG_MARK) + judge_client.LOG_LINE_CHARS + 10
    (tmp_path / "out").mkdir()
    write_gradebook(tmp_path / "out", found, {found.entries[0].key: result})
    assert judge_client.LOG_MARK + "ValueError: =HYPERLINK" in (tmp_path / "out" / "submissions.csv").read_text()


def test_while_judging_runs_once_the_judge_has_started_and_before_its_report(course, tmp_path):
    """A batch's hook (figures.warm_up): called while the judge's process runs, before the grader
    waits for its report, once per submission; the row is the same."""
    from dlcourse.grading.batch import JudgePerWorker, grade_one
    from dlcourse.grading.inputs import discover
    from dlcourse.grading.pipeline import GradingOptions

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "alice.ipynb").write_bytes(next(course.student_dir("dense-mnist").glob("*.ipynb")).read_bytes())
    judges = JudgePerWorker()
    judges.local.judge = judge = DyingJudge("ValueError: no report\n")
    judges.every.append(judge)
    judge_running = []
    options = GradingOptions(timeout=60, while_judging=lambda: judge_running.append(judge.process.poll() is None))
    try:
        result = grade_one(course.autograder_zip("dense-mnist"), discover(tmp_path / "in").entries[0], options, judges)
    finally:
        judges.close()
    assert judge_running == [True]
    assert result.status == "grader-error" and "ValueError" in result.reason


def test_a_judge_that_died_between_submissions_leaves_its_log_to_the_next_row(tmp_path):
    judge = DyingJudge("Fatal Python error: Segmentation fault\n")
    with judge:
        judge._start()
        judge.process.stdin.write("\n")
        judge.process.stdin.flush()
        judge.process.wait(timeout=30)
        with pytest.raises(JudgeFailed) as failed:   # the new judge (the same kind) fails too
            judge.run(JudgeJob(workdir=str(tmp_path), autograder="", run_dir=str(tmp_path), data_root=str(tmp_path),
                               weights={}, submission_digest="0", timeout=5, memory_mb=100), None)
    evidence = failed.value.evidence
    assert evidence[0].startswith("an earlier judge ended between submissions (exit status 3)")
    assert evidence[1] == judge_client.LOG_MARK + "Fatal Python error: Segmentation fault"
