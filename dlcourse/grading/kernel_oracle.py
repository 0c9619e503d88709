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
from typing import Any

from jupyter_core.utils import run_sync

from .wire import ANSWER_LIMIT, WireError, message_size, read_message, write_message

SERVE_CELL = ("__import__('dlcourse.grading.oracle', fromlist=['serve']).serve("
              "get_ipython().user_ns, {requests!r}, {answers!r})")
INTERRUPT_GRACE = 5   # seconds an interrupted request has to say so before the kernel counts as stuck
POLL_SECONDS = 0.25   # how often a wait for the kernel looks at whether it still serves
PIPE_CHUNK = 65536    # bytes per write into the kernel's pipe
READ_CHUNK = 2**20    # bytes per read from it


class KernelStuck(Exception):
    """A request ran past its time, ignored the interrupt, and was still running when the
    next request's time ran out too: the kernel answers no more."""


class KernelOracle:
    """One :func:`.oracle.serve` cell running in the kernel, and the runner's ends of its pipes."""

    def __init__(self, client, folder: Path) -> None:
        self.client, self.seq = client, 0
        name = secrets.token_hex(4)   # fresh pipes: nothing an ended cell left unread is read again
        requests_path, answers_path = folder / f"requests-{name}", folder / f"answers-{name}"
        os.mkfifo(requests_path, 0o600)
        os.mkfifo(answers_path, 0o600)
        # Opened read-write and non-blocking: opening never waits for the kernel's end, and no
        # read or write waits on what the kernel does (or does not) do with its own.
        self.to_kernel = os.open(requests_path, os.O_RDWR | os.O_NONBLOCK)
        self.from_kernel = os.open(answers_path, os.O_RDWR | os.O_NONBLOCK)
        self.received = bytearray()   # what the kernel wrote that is not yet a whole answer
        self.cell = client.kc.execute(SERVE_CELL.format(requests=str(requests_path), answers=str(answers_path)),
                                      silent=True, store_history=False, allow_stdin=False)
        self.serving = True
        self.reply: dict = {}         # the serving cell's execute_reply, once it ended
        self.unfinished: int | None = None   # a request past its time that ignored the interrupt
        self.refused: str | None = None      # why the kernel's last message was not read (too large, garbled)

    def ask(self, request: dict, blobs: list[bytes], timeout: int) -> tuple[dict, list[bytes]]:
        """The kernel's answer to ``request`` within ``timeout`` seconds (after which it is
        interrupted), and its blobs. A request still running past its time first gets this
        request's time to finish (:class:`KernelStuck` if it does not). DeadKernelError if
        the kernel died."""
        deadline = time.monotonic() + timeout
        if self.unfinished is not None:
            if self._answer_to(self.unfinished, deadline) is None and self.serving:
                raise KernelStuck
            self.unfinished = None
        if not self.serving:
            return self._ended(), []
        self.seq += 1
        message = io.BytesIO()
        write_message(message, {"seq": self.seq, "request": request}, blobs)
        if not self._send(message.getvalue(), deadline):
            return (self._ended() if not self.serving else timed_out(timeout)), []
        answer = self._answer_to(self.seq, deadline)
        if answer is None and self.serving:   # past its time: interrupted, it may still say so
            run_sync(self.client.km.interrupt_kernel)()
            if self._answer_to(self.seq, time.monotonic() + INTERRUPT_GRACE) is None and self.serving:
                self.unfinished = self.seq
            return timed_out(timeout), []
        if answer is None:
            return self._ended(), []
        body, answer_blobs = answer
        if not isinstance(body, dict) or body.get("interrupted"):
            return timed_out(timeout), []
        return body, answer_blobs

    def _answer_to(self, seq: int, deadline: float) -> tuple[Any, list[bytes]] | None:
        """The kernel's answer to request ``seq`` (answers to earlier ones are dropped); None
        at ``deadline``, or once the serving cell has ended (``serving`` is then False). An
        answer that breaks the framing ends this cell's use: ``serving`` becomes False."""
        while True:
            try:   # a message the judge would refuse is refused from its header, before its blobs are held here
                size = message_size(self.received, ANSWER_LIMIT)
            except WireError as error:
                self.serving, self.refused = False, str(error)
                return None
            if size is not None and len(self.received) >= size:
                whole = bytes(self.received[:size])
                del self.received[:size]
                answer, blobs = read_message(io.BytesIO(whole))
                if isinstance(answer, dict) and answer.get("seq") == seq:
                    return answer.get("answer"), blobs
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.from_kernel], [], [], min(POLL_SECONDS, left))
            if ready:
                self.received += os.read(self.from_kernel, READ_CHUNK)
            elif self._cell_ended():
                return None

    def _send(self, data: bytes, deadline: float) -> bool:
        """Write ``data`` to the kernel's pipe; False if the serving cell ended, or the kernel
        did not read it in time."""
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
        """The answer when the serving cell ended (or garbled its pipe) before answering."""
        if self.refused is not None:
            return {"error": "ValueError", "message": f"the notebook's answer could not be read: {self.refused}",
                    "builtin": True}
        if self.reply.get("status") == "error":
            return {"error": self.reply.get("ename", "Exception"), "message": self.reply.get("evalue", ""), "builtin": False}
        return {"error": "RuntimeError", "message": "the notebook stopped answering the grader's questions",
                "builtin": True}

    def close(self) -> None:
        os.close(self.to_kernel)     # the cell's end of file: serve() returns
        os.close(self.from_kernel)   # and a cell blocked writing its answer gets a broken pipe


def timed_out(timeout: int) -> dict:
    """The answer to a request that ran past its ``timeout`` (seconds)."""
    return {"error": "TimeoutError", "message": f"did not finish within {timeout} s", "builtin": True}
