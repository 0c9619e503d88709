"""Wall time and peak memory of a command and everything it starts, sampled every 20 ms.

Peak memory is the largest sum of resident memory over the command's whole process tree,
reported as MB above a bare `import torch` (the floor every grading run shares), so figures
from machines with different torch builds compare.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import psutil


@dataclass
class Measurement:
    seconds: float
    peak_mb: float
    returncode: int
    output: str


def measure(command: list[str], env: dict | None = None, cpus: str | None = None, timeout: float = 1800) -> Measurement:
    """Run ``command`` (pinned to ``cpus``, e.g. "0", with taskset) and measure it."""
    if cpus is not None:
        command = ["taskset", "-c", cpus, *command]
    start = time.perf_counter()
    process = subprocess.Popen(command, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    peak = [0.0]
    done = threading.Event()

    def sample():
        root = psutil.Process(process.pid)
        while not done.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                peak[0] = max(peak[0], sum(_rss(p) for p in tree) / 2**20)
            except psutil.Error:
                pass
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = process.communicate(timeout=timeout)
    done.set()
    sampler.join()
    return Measurement(time.perf_counter() - start, peak[0], process.returncode, output)


def _rss(process: psutil.Process) -> int:
    try:
        return process.memory_info().rss
    except psutil.Error:
        return 0


def bare_torch_mb(repeats: int = 3) -> float:
    """Peak resident memory of `python -c "import torch"` (median of a few runs)."""
    return statistics.median(measure([sys.executable, "-c", "import torch"]).peak_mb for _ in range(repeats))


def median_of(runs: list[Measurement]) -> tuple[float, float]:
    return statistics.median(r.seconds for r in runs), statistics.median(r.peak_mb for r in runs)
