"""The runner's end of the kernel's serving cell (:func:`.oracle.serve`): the judge's requests
go to the kernel, and its answers come back, through a pair of named pipes in the run's
``oracle/`` folder, each request within its time.

The kernel is the student's: whatever it writes is only ever the student's answer, and what it
does to its own pipes (garbles them, never reads, ends the cell, ignores the interrupt, dies)
costs it that answer, the next ones at most, or the run its time limit; never the runner.
"""

from __future__ import annotations

import io
import os
import queue
import secrets
import select
import time
from pathlib import Path

from jupyter_core.utils import run_sync

from .wire import read_message, write_message

SERVE_CELL = ("__import__('dlcourse.grading.oracle', fromlist=['serve']).serve("
              "get_ipython().user_ns, {requests!r}, {answers!r})")
INTERRUPT_GRACE = 5   # seconds an interrupted request has to say so before the kernel counts as stuck
POLL_SECONDS = 0.25   # how often a wait for the kernel looks at whether it still serves
PIPE_CHUNK = 65536    # bytes per write into the kernel's pipe


class KernelOracle:
    """One :func:`.oracle.serve` cell running in the kernel, and the runner's ends of its pipes."""

    def __init__(self, client, folder: Path) -> None:
        self.client, self.seq = client, 0
        name = secrets.token_hex(4)   # fresh pipes: nothing an ended cell left unread is read again
        requests_path, answers_path = folder / f"requests-{name}", folder / f"answers-{name}"
        os.mkfifo(requests_path, 0o600)
        os.mkfifo(answers_path, 0o600)
        # Opened read-write: opening never waits for the kernel's end, nor fails if it never comes.
        self.to_kernel = os.open(requests_path, os.O_RDWR | os.O_NONBLOCK)
        self.from_kernel = os.fdopen(os.open(answers_path, os.O_RDWR), "rb", buffering=0)
        self.cell = client.kc.execute(SERVE_CELL.format(requests=str(requests_path), answers=str(answers_path)),
                                      silent=True, store_history=False, allow_stdin=False)
        self.serving = True
        self.reply: dict = {}   # the serving cell's execute_reply, once it ended

    def ask(self, request: dict, blobs: list[bytes], timeout: int) -> tuple[dict, list[bytes], bool]:
        """The kernel's answer to ``request``, its blobs, and whether the kernel is now stuck.
        DeadKernelError if the kernel died."""
        self.seq += 1
        message = io.BytesIO()
        write_message(message, {"seq": self.seq, "request": request}, blobs)
        deadline = time.monotonic() + timeout
        if not self._send(message.getvalue(), deadline):
            return (self._ended(), [], False) if not self.serving else (timed_out(timeout), [], True)
        interrupted = False
        while True:
            ready, _, _ = select.select([self.from_kernel], [], [], POLL_SECONDS)
            if ready:
                try:
                    answer, answer_blobs = read_message(self.from_kernel)
                except (EOFError, ValueError):   # a garbled answer: the next request gets a new cell
                    self.serving = False
                    return timed_out(timeout), [], False
                if isinstance(answer, dict) and answer.get("seq") == self.seq:
                    body = answer.get("answer")
                    if interrupted or not isinstance(body, dict) or body.get("interrupted"):
                        return timed_out(timeout), [], False
                    return body, answer_blobs, False
                continue   # the answer to a request given up on earlier
            if self._cell_ended():
                return (timed_out(timeout) if interrupted else self._ended()), [], False
            if time.monotonic() >= deadline:
                if interrupted:
                    return timed_out(timeout), [], True
                run_sync(self.client.km.interrupt_kernel)()
                interrupted, deadline = True, time.monotonic() + INTERRUPT_GRACE

    def _send(self, data: bytes, deadline: float) -> bool:
        """Write ``data`` to the kernel's pipe; False if the serving cell ended, or the kernel
        did not read it in time (it is stuck: ``serving`` stays True)."""
        view = memoryview(data)
        while view:
            _, ready, _ = select.select([], [self.to_kernel], [], POLL_SECONDS)
            if ready:
                view = view[os.write(self.to_kernel, view[:PIPE_CHUNK]):]
            elif self._cell_ended() or time.monotonic() >= deadline:
                return False
        return True

    def _cell_ended(self) -> bool:
        """Whether the serving cell has ended (student code ended it: exit(), a patched serve);
        DeadKernelError if the kernel died."""
        from nbclient.exceptions import DeadKernelError

        while True:
            try:
                reply = run_sync(self.client.kc.get_shell_msg)(timeout=0)
            except queue.Empty:
                break
            if reply.get("parent_header", {}).get("msg_id") == self.cell:
                self.serving = False
                self.reply = reply.get("content", {})
                return True
        if not run_sync(self.client.km.is_alive)():
            raise DeadKernelError("the kernel died while answering the judge")
        return False

    def _ended(self) -> dict:
        """The answer when the serving cell ended before answering: the error it ended with."""
        if self.reply.get("status") == "error":
            return {"error": self.reply.get("ename", "Exception"), "message": self.reply.get("evalue", ""), "builtin": False}
        return {"error": "RuntimeError", "message": "the notebook stopped answering the grader's questions",
                "builtin": True}

    def close(self) -> None:
        os.close(self.to_kernel)   # the cell's end of file: serve() returns
        self.from_kernel.close()


def timed_out(timeout: int) -> dict:
    """The answer to a request that ran past its ``timeout`` (seconds)."""
    return {"error": "TimeoutError", "message": f"did not finish within {timeout} s", "builtin": True}
