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


def test_a_ready_message_of_the_wrong_shape_hides_nothing():
    from dlcourse.grading.judge import NOTEBOOK_LIMIT, RunnerSession

    runner = RunnerSession(FakeRun(({"event": "ready", "cell_errors": "not a list"}, [b"x" * (NOTEBOOK_LIMIT + 1)])))
    assert runner.wait_until_ready()
    assert runner.cell_errors == [] and runner.notebook is None
