"""Grade a folder of submissions: in parallel, resumable, never losing a row.

Two steps, kept apart so that they can run on different machines:

- execution grades the submissions still to grade, each into its own result file
  (collect.py's layout): on this machine's threads (:class:`Threads`), on Dask workers
  (cluster.py), or only one shard of the batch (``shard=(i, n)``), for a job array;
- collection (collect.py) writes the files covering the whole batch from the saved results.
  A run without a shard collects at the end (and its gradebook as rows arrive); a shard
  never does: ``dlcourse gradebook OUT`` collects once every shard has run.

A rerun reuses every result whose submission and autograder are unchanged (``force``
regrades). Results are written atomically as each submission finishes, so an interrupted run
leaves a consistent gradebook and a resumed run ends exactly where an uninterrupted one would.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Generator, Protocol

from .collect import BatchRecord, CollectOptions, collect, prepare, save_result, saved_result
from .figures import warm_up
from .inputs import NOTEBOOKS, Discovery, Entry, content_hash, discover, notebook_names
from .judge_client import Judge, JudgeFailed
from .kept_notebooks import prepare_notebooks
from .pipeline import GradingInterrupted, GradingOptions, grade_submission
from .preflight import lesson_files
from .recorded_settings import save_settings
from .result import GradeResult


@dataclass
class BatchSummary:
    graded: int = 0
    reused: int = 0
    results: dict[str, GradeResult] = field(default_factory=dict)   # by entry key
    discovery: Discovery | None = None
    shard: tuple[int, int] | None = None                             # (i, n): this run graded shard i of n
    warnings: list[str] = field(default_factory=list)               # from writing the outputs (collect)


class Execution(Protocol):
    """Where submissions are graded. ``run`` yields each (entry, result) as it finishes, in
    any order, one per entry; a grader failure is a ``grader-error`` result, never an
    exception (KeyboardInterrupt aside)."""

    def run(self, autograder: Path, jobs: list[tuple[Entry, GradingOptions]]) -> Generator[tuple[Entry, GradeResult], None, None]:
        ...


def grade_batch(autograder: Path, target: Path, out: Path, *, workers: int | None = None,
                timeout: float | None = None, memory_mb: int = 2048, force: bool = False,
                progress: bool = True, allow_root: bool = False, data: Path | None = None,
                shard: tuple[int, int] | None = None, execution: Execution | None = None,
                collect_options: CollectOptions = CollectOptions(), layout: str | None = None,
                sandbox: str = "auto", prestart: bool = True) -> BatchSummary:
    """Grade every submission found in ``target`` (or, with ``shard=(i, n)``, the i-th of n
    deterministic slices of them) into ``out``, with the datasets in ``data`` (default: the
    data directory the environment names), on ``execution`` (default: ``workers`` threads
    here; see cluster.py for Dask). Without a shard, also collect the gradebook and report.
    ``prestart``: each worker starts its next sandboxed kernel while it grades, and its first
    while it reads its first submission (False: each kernel starts with its submission; the
    grades are the same).

    Raises ValueError for a shard outside 1 <= i <= n.
    """
    from tqdm.auto import tqdm

    names = lesson_files(autograder)   # a loose upload's name says its student by them
    found = discover(target, layout, names)  # the input layout: None detects it (docs/inputs.md)
    key = prepare(out, sandbox_reaches_grader=_sandbox_reaches_grader(sandbox, allow_root))
    grader_hash = content_hash(autograder)
    BatchRecord(target, grader_hash, layout or "auto", names).write(out)
    save_settings(out, collect_options.settings, key)   # for `dlcourse gradebook OUT` (shards)
    summary = BatchSummary(discovery=found, shard=shard)
    mine = [e for e in found.entries if shard is None or in_shard(e, *shard)]
    pending: list[Entry] = []
    for entry in mine:
        previous = saved_result(out, entry, grader_hash, key, grader_side=False) if not force else None
        if previous:
            summary.results[entry.key] = previous
            summary.reused += 1
        else:
            pending.append(entry)

    cores = os.cpu_count() or 1
    workers = max(1, min(workers or cores, len(pending) or 1))
    stop = threading.Event()
    base = GradingOptions(timeout=timeout, memory_mb=memory_mb, threads=max(1, cores // workers), stop=stop,
                          allow_root=allow_root, data=data, sandbox=sandbox,
                          cpus=cores / workers if workers > 1 else None,  # each run its CPU share  # workers x threads <= cores: no oversubscription
                          # here, the outputs' modules (matplotlib, jinja2) load while a judge runs, not after the last
                          while_judging=warm_up if shard is None and execution is None else None)
    notebooks = notebook_names(found.entries)   # of the whole input: a shard names them as the others do
    # a reused result (all summary.results holds yet) keeps its notebook where its name moved; an
    # entry to grade starts with none
    prepare_notebooks(out / NOTEBOOKS, notebooks, summary.results, [entry.key for entry in pending])
    # Each worker's judge pre-starts its next kernel while it grades (kernel_pool.KernelPool), except
    # near the end, where no next submission may come to that worker.
    jobs = [(entry, replace(base, keep_notebook=out / NOTEBOOKS / notebooks[entry.key], early_kernel=prestart,
                            prestart=prestart and index < len(pending) - workers))
            for index, entry in enumerate(pending)]
    execution = execution or Threads(workers)
    bar = tqdm(total=len(mine), initial=summary.reused, unit="submission",
               desc="grading" if shard is None else f"shard {shard[0]}/{shard[1]}", disable=not progress)
    try:
        with contextlib.closing(execution.run(autograder, jobs)) as finished:  # closed: no run outlives the batch
            for entry, result in finished:
                save_result(out, entry, result, grader_hash, key)
                summary.results[entry.key] = result
                summary.graded += 1
                bar.update()
                bar.set_postfix_str(f"{entry.label}: {result.status}", refresh=False)
                if shard is None:
                    collect(out, found, summary.results, replace(collect_options, final=False))
    finally:
        bar.close()
        if shard is None:
            summary.warnings = collect(out, found, summary.results, collect_options)
    return summary


def in_shard(entry: Entry, index: int, count: int) -> bool:
    """Whether ``entry`` is in shard ``index`` (1-based) of ``count``: decided by its stable
    key alone, so every shard of a job array agrees without talking to the others, and a
    submission added later moves no other one. Raises ValueError for an index out of range."""
    if not 1 <= index <= count:
        raise ValueError(f"shard {index}/{count}: the index runs from 1 to {count}")
    digest = hashlib.sha256(entry.key.encode()).digest()
    return int.from_bytes(digest[:8], "big") % count == index - 1


class Threads:
    """``workers`` threads on this machine, each with its own judge process."""

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def run(self, autograder: Path, jobs: list[tuple[Entry, GradingOptions]]) -> Generator[tuple[Entry, GradeResult], None, None]:
        judges = JudgePerWorker()
        pool = ThreadPoolExecutor(max_workers=self.workers)
        try:
            futures: dict[Future, Entry] = {pool.submit(grade_one, autograder, entry, options, judges): entry
                                            for entry, options in jobs}
            remaining = set(futures)
            while remaining:
                done, remaining = wait(remaining, return_when=FIRST_COMPLETED)
                for future in done:
                    yield futures[future], future.result()
        except BaseException:  # Ctrl-C, or the caller stopped early: end the running sandboxes first
            stop_all(jobs)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            judges.close()


class JudgePerWorker:
    """One judge process per worker thread, reused for every submission that thread grades."""

    def __init__(self) -> None:
        self.local = threading.local()
        self.every: list[Judge] = []
        self.lock = threading.Lock()

    def get(self) -> Judge:
        if not hasattr(self.local, "judge"):
            self.local.judge = Judge()
            with self.lock:
                self.every.append(self.local.judge)
        return self.local.judge

    def close(self) -> None:
        with self.lock:
            for judge in self.every:
                judge.__exit__(None, None, None)
            self.every.clear()


def grade_one(autograder: Path, entry: Entry, options: GradingOptions, judges: JudgePerWorker) -> GradeResult:
    """One submission's result; a grader bug costs this row its score (``grader-error``), never the batch."""
    try:
        result = grade_submission(autograder, entry, options, judges.get())
    except GradingInterrupted:
        raise
    except JudgeFailed as failed:
        result = grader_error(entry, f"the grader failed on this submission: {failed}", evidence=failed.evidence)
    except Exception as error:
        result = grader_error(entry, f"the grader failed on this submission: {type(error).__name__}: {error}")
    result.submission = entry.label
    return result


def stop_all(jobs: list[tuple[Entry, GradingOptions]]) -> None:
    """Stop every job's run: its sandbox kills its processes and removes its scratch folders."""
    for _, options in jobs:
        if options.stop is not None:
            options.stop.set()


def grader_error(entry: Entry, reason: str, evidence: list[str] | None = None) -> GradeResult:
    return GradeResult(submission=entry.label, lesson="", status="grader-error", reason=reason, questions={},
                       evidence=list(evidence or []))


def _sandbox_reaches_grader(sandbox: str, allow_root: bool) -> bool:
    """Whether student code in this batch could read the grader's files (the signing key
    among them); where no sandbox can be planned at all, assume it could."""
    from .sandbox import Limits, SandboxUnavailable, plan_for

    try:
        return plan_for(Limits(timeout=1, allow_root=allow_root, confinement=sandbox)).reaches_grader
    except SandboxUnavailable:
        return True
