"""A Dask worker killed mid-submission (the Dask tests of tests/scale)."""

from __future__ import annotations

import os
import signal
import time


def kill_a_busy_worker(watcher) -> int:
    """SIGKILL a worker a few seconds into its first submission, through ``watcher`` (a
    distributed Client of the cluster); returns the killed worker's pid."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(watcher.processing().values()):
        time.sleep(0.2)
    time.sleep(4)
    busy = next(address for address, keys in watcher.processing().items() if keys)
    pid = watcher.run(os.getpid, workers=[busy])[busy]
    os.kill(pid, signal.SIGKILL)
    return pid
