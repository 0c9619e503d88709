"""The runner's side of the judge's questions (notebook_run._serve and oracle.serve) with a real
kernel: one cell answers every request, and whatever the student's code does during a call (loop,
exit, ignore the interrupt, end the serving cell, kill the kernel), each request still gets an
answer, or the runner says the kernel died."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from dlcourse.execute import kernel_manager
from dlcourse.grading import kernel_oracle, notebook_run
from dlcourse.grading.wire import read_message, write_message

NOTEBOOK = """\
import sys, time
answer = 42
def loops():
    while True:
        pass
def leaves():
    sys.exit(3)
def ignores_interrupts():
    while True:
        try:
            time.sleep(0.05)
        except KeyboardInterrupt:
            pass
def prints():
    print("x" * 100_000)
    return 7
def recovers():   # one long C-level operation stands in: the interrupt waits for it
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    time.sleep(8)   # past its time and the interrupt's grace
    signal.signal(signal.SIGINT, signal.default_int_handler)
    return 5
def too_big():   # an honest bug's answer: a broadcast gone wrong (here 4 MB, over a limit the test lowers)
    import torch
    return torch.zeros(1024, 1024)
def garbles(folder):   # half a message in the answers pipe: the runner must not wait for the rest
    import glob, struct
    with open(glob.glob(folder + "/answers-*")[0], "wb") as pipe:
        pipe.write(struct.pack(">I", 10**6) + b'{"body"')
    return 1
def floods(folder):   # answers to other requests, all the time, while this one never ends
    import glob, json, struct, threading
    def write():
        with open(glob.glob(folder + "/answers-*")[0], "wb") as pipe:
            header = json.dumps({"body": {"seq": -1, "answer": {"value": 0}}, "blobs": []}).encode()
            while True:
                pipe.write(struct.pack(">I", len(header)) + header)
                pipe.flush()
                time.sleep(0.05)
    threading.Thread(target=write, daemon=True).start()
    while True:
        time.sleep(0.05)
"""


class Runner:
    """A kernel that ran NOTEBOOK, served by notebook_run._serve in a thread, and the judge's
    ends of its two pipes."""

    def __init__(self, client: NotebookClient, folder) -> None:
        requests_read, self.requests = os.pipe()
        self.answers, channel_write = os.pipe()
        self.to_runner = os.fdopen(self.requests, "wb")
        self.from_runner = os.fdopen(self.answers, "rb")
        self.ended: BaseException | None = None

        def serve() -> None:
            try:
                notebook_run._serve(client, os.fdopen(requests_read, "rb"), os.fdopen(channel_write, "wb"), folder)
            except BaseException as error:   # what the test asserts on (DeadKernelError)
                self.ended = error

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()

    def event(self, request: dict) -> dict:
        write_message(self.to_runner, request)
        return read_message(self.from_runner)[0]

    def ask(self, request: dict) -> dict:
        event = self.event(request)
        assert event["event"] == "answer", event
        return event["answer"]

    def ref(self, name: str) -> int:
        return self.ask({"op": "get", "name": name})["value"]["ref"]


@contextlib.contextmanager
def runner_of(source: str, folder) -> Iterator[Runner]:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    client = NotebookClient(nb, km=kernel_manager(), allow_errors=True, timeout=None, shutdown_kernel="immediate")
    with client.setup_kernel(cleanup_kc=True):
        client.execute_cell(nb.cells[0], 0)
        yield Runner(client, folder / "oracle")


@pytest.fixture
def runner(tmp_path):
    with runner_of(NOTEBOOK, tmp_path) as made:
        yield made


def test_a_call_that_runs_past_its_time_is_interrupted_and_the_next_request_is_answered(runner):
    loops = runner.ref("loops")
    started = time.monotonic()
    answer = runner.ask({"op": "call", "ref": loops, "args": [], "kwargs": {}, "timeout": 2})
    assert answer == {"error": "TimeoutError", "message": "did not finish within 2 s", "builtin": True}
    assert time.monotonic() - started < 2 + kernel_oracle.INTERRUPT_GRACE
    assert runner.ask({"op": "get", "name": "answer"}) == {"value": 42}


def test_exit_in_a_call_is_that_calls_error_and_serving_goes_on(runner):
    answer = runner.ask({"op": "call", "ref": runner.ref("leaves"), "args": [], "kwargs": {}})
    assert answer["error"] == "SystemExit"
    assert runner.ask({"op": "call", "ref": runner.ref("prints"), "args": [], "kwargs": {}}) == {"value": 7}


def test_a_kernel_that_ignores_the_interrupt_is_stuck_once_the_next_request_runs_out_of_time_too(runner):
    stubborn = runner.ref("ignores_interrupts")
    answer = runner.ask({"op": "call", "ref": stubborn, "args": [], "kwargs": {}, "timeout": 1})
    assert answer["error"] == "TimeoutError"
    started = time.monotonic()
    assert runner.event({"op": "get", "name": "answer", "timeout": 2}) == {"event": "stuck"}
    assert time.monotonic() - started < 4


def test_a_call_that_finishes_late_costs_only_its_own_answer(runner):
    """A long operation the interrupt cannot break (a big forward pass in C) ends after its
    time: that question is timed out, the next one is answered once the kernel is free."""
    answer = runner.ask({"op": "call", "ref": runner.ref("recovers"), "args": [], "kwargs": {}, "timeout": 1})
    assert answer["error"] == "TimeoutError"
    assert runner.ask({"op": "get", "name": "answer", "timeout": 30}) == {"value": 42}


@pytest.mark.parametrize("attack", ["garbles", "floods"])
def test_what_the_kernel_writes_into_its_pipe_never_holds_the_runner_past_the_request_time(runner, tmp_path, attack):
    started = time.monotonic()
    answer = runner.ask({"op": "call", "ref": runner.ref(attack), "args": [str(tmp_path / "oracle")], "kwargs": {},
                         "timeout": 2})
    assert answer["error"] in {"TimeoutError", "RuntimeError"}
    assert time.monotonic() - started < 2 + kernel_oracle.INTERRUPT_GRACE + 2


def test_an_answer_too_large_for_the_judge_fails_that_request_only(runner, monkeypatch):
    """Relayed, the judge would refuse it and stop asking (every later question lost), and the
    runner would first hold it three times over (the run's memory limit). Refused from its
    header instead, it costs its own question, and the next is answered."""
    monkeypatch.setattr(kernel_oracle, "ANSWER_LIMIT", 2**20)
    answer = runner.ask({"op": "call", "ref": runner.ref("too_big"), "args": [], "kwargs": {}, "timeout": 30})
    assert answer["error"] == "ValueError" and "over the 1 MB allowed" in answer["message"], answer
    assert runner.ask({"op": "get", "name": "answer", "timeout": 30}) == {"value": 42}


def test_a_notebook_that_ends_the_serving_cell_gets_errors_not_a_hang(tmp_path):
    with runner_of(NOTEBOOK + "import dlcourse.grading.oracle as oracle\noracle.serve = lambda *args: None\n",
                   tmp_path) as patched:
        started = time.monotonic()
        for _ in range(2):   # each request starts a cell again, which ends again
            assert patched.ask({"op": "get", "name": "answer", "timeout": 30})["message"] == \
                "the notebook stopped answering the grader's questions"
        assert time.monotonic() - started < 5


def test_a_kernel_that_dies_between_calls_is_reported_dead(runner):
    runner.ask({"op": "get", "name": "answer"})
    write_message(runner.to_runner, {"op": "get", "name": "answer"})   # answered; then the kernel dies
    read_message(runner.from_runner)
    os.kill(_kernel_pid(runner), 9)
    write_message(runner.to_runner, {"op": "get", "name": "answer", "timeout": 30})
    runner.thread.join(timeout=20)
    assert isinstance(runner.ended, DeadKernelError)


def _kernel_pid(runner: Runner) -> int:
    import psutil

    children = psutil.Process().children(recursive=True)
    kernels = [c for c in children if "ipykernel" in " ".join(c.cmdline())]
    assert len(kernels) == 1
    return kernels[0].pid
