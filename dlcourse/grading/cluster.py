"""Grading on Dask distributed workers: a batch beyond one machine, on an existing engine.

``dlcourse grade ... --scheduler ADDRESS`` sends each submission to the workers of a running
Dask scheduler (started by hand, or by dask-jobqueue on Slurm/PBS/HTCondor, or by
dask-kubernetes); ``--cluster local:N`` starts a LocalCluster of N worker processes on
loopback. Each worker keeps one judge process per worker thread, as a batch thread does
here (batch.JudgePerWorker), and grades through the same pipeline, so its sandbox enforces
what this machine's would, and a worker that cannot sandbox returns ``not-graded`` rows.
The results come back to the client, which saves them and writes the gradebook once.

Workers read the submissions and the autograder, and write the executed notebooks, at the
paths the client names: they need the client's file system (an HPC cluster's shared one).

A worker lost mid-submission (killed, out of memory) is retried on another by the
scheduler; a submission that kills every worker it meets (``distributed.scheduler.
allowed-failures``, 3 by default) becomes a ``grader-error`` row with that reason. Its scratch
folders stay until a grader on that machine starts (a restarted worker does at once) and sweeps
them (scratch.py); its judge ends its run and removes its cgroups when it finds itself orphaned.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import replace
from pathlib import Path
from typing import Generator

from distributed import Client, KilledWorker, LocalCluster, WorkerPlugin, as_completed, get_worker

from .batch import JudgePerWorker, grade_one, grader_error, stop_all
from .pipeline import GradingOptions
from .inputs import Entry
from .result import GradeResult
from .scratch import scratch_root

PLUGIN = "dlcourse-judges"


class Dask:
    """Grade on the Dask cluster at ``address``, or, with ``local_workers``, on a LocalCluster
    of that many single-threaded worker processes bound to 127.0.0.1."""

    def __init__(self, address: str | None = None, local_workers: int | None = None) -> None:
        if (address is None) == (local_workers is None):
            raise ValueError("give a scheduler address or a number of local workers, not both")
        self.address = address
        self.local_workers = local_workers

    def run(self, autograder: Path, jobs: list[tuple[Entry, GradingOptions]]) -> Generator[tuple[Entry, GradeResult], None, None]:
        with self._client() as client:
            client.register_plugin(_Judges(), name=PLUGIN)
            # The runs' BLAS threads: this machine's cores shared by the local workers; on a
            # remote cluster each worker decides from its own (None).
            threads = max(1, (os.cpu_count() or 1) // self.local_workers) if self.local_workers else None
            futures = {client.submit(_grade_on_worker, autograder, entry, replace(options, stop=None, threads=threads),
                                     pure=False): (entry, options) for entry, options in jobs}
            try:
                for future in as_completed(futures):
                    entry, _ = futures[future]
                    yield entry, _outcome(future, entry)
            except BaseException:  # Ctrl-C, or the caller stopped early
                client.cancel(list(futures))
                stop_all(jobs)
                raise

    def _client(self):
        if self.address:
            return Client(self.address)
        cluster = local_cluster(self.local_workers)
        stack = contextlib.ExitStack()
        stack.enter_context(cluster)
        client = stack.enter_context(Client(cluster))
        return _Closing(client, stack)


def local_cluster(workers: int) -> LocalCluster:
    """``workers`` single-threaded worker processes on loopback (nothing outside reaches them)."""
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                        dashboard_address=None)


class _Closing:
    """A client whose ``with`` block also closes the LocalCluster it was made for."""

    def __init__(self, client, stack: contextlib.ExitStack) -> None:
        self.client, self.stack = client, stack

    def __enter__(self):
        return self.client

    def __exit__(self, *exc) -> None:
        self.stack.__exit__(*exc)


def _outcome(future, entry: Entry) -> GradeResult:
    """The worker's result, or a row saying why there is none."""
    try:
        return future.result()
    except KilledWorker:
        return grader_error(entry, "this submission's Dask worker died each time it was graded (killed, or out "
                                   "of memory outside the sandbox): regrade it, or grade it alone")
    except Exception as error:  # the task never ran its own error handling (e.g. it could not be sent)
        return grader_error(entry, f"the Dask task failed: {type(error).__name__}: {error}")


class _Judges(WorkerPlugin):
    """A worker plugin holding the worker's judges, closed with the worker."""

    def setup(self, worker) -> None:
        scratch_root()   # now, not at the first submission: a worker restarted after a kill sweeps what it left
        self.judges = JudgePerWorker()

    def teardown(self, worker) -> None:
        self.judges.close()


def _grade_on_worker(autograder: Path, entry: Entry, options: GradingOptions) -> GradeResult:
    """Runs on a worker: one submission, with this worker thread's judge."""
    worker = get_worker()
    if options.threads is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        options = replace(options, threads=max(1, cores // worker.state.nthreads))
    plugin = worker.plugins[PLUGIN]
    assert isinstance(plugin, _Judges)
    return grade_one(autograder, entry, options, plugin.judges)
