"""Grade a folder of submissions into a gradebook: in parallel, resumable, never losing a row.

For OUT the layout is::

    OUT/results/<key>.json       one GradeResult per submission (plus the content hash it graded)
    OUT/notebooks/<key>.ipynb    the executed notebook, for looking into a score
    OUT/gradebook.csv            one row per student
    OUT/submissions.csv          one row per submission, skipped files included
    OUT/report.md, OUT/scores.png

A rerun reuses every result whose submission and autograder are unchanged (``force``
regrades). Results are written atomically as each submission finishes, and the gradebook
after each one, so an interrupted run leaves a consistent gradebook and a resumed run ends
exactly where an uninterrupted one would have.
"""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import write_atomically
from .gradebook import write_gradebook
from .inputs import Discovery, Entry, content_hash, discover
from .judge_client import Judge
from .outputs import write_outputs
from .pipeline import GradingInterrupted, GradingOptions, grade_submission
from .result import GRADER_SIDE, GradeResult
from .rows import OutputSettings


@dataclass
class BatchSummary:
    graded: int = 0
    reused: int = 0
    results: dict[str, GradeResult] = field(default_factory=dict)   # by entry key
    discovery: Discovery | None = None
    warnings: list[str] = field(default_factory=list)               # from writing the outputs


def grade_batch(autograder: Path, target: Path, out: Path, *, workers: int | None = None,
                timeout: float | None = None, memory_mb: int = 2048, force: bool = False,
                progress: bool = True, allow_root: bool = False, data: Path | None = None,
                settings: OutputSettings | None = None) -> BatchSummary:
    """Grade every submission found in ``target`` into ``out`` (see the module docstring),
    with the datasets in ``data`` (default: the data directory the environment names);
    ``settings``: roster, late policy, exports... for the outputs (:func:`.outputs.write_outputs`)."""
    from tqdm.auto import tqdm

    found = discover(target)
    (out / "results").mkdir(parents=True, exist_ok=True)
    os.chmod(out / "results", 0o700)  # other students' results: never for a sandbox's user
    grader_hash = content_hash(autograder)
    summary = BatchSummary(discovery=found)
    pending: list[Entry] = []
    for entry in found.entries:
        previous = _previous(out, entry, grader_hash) if not force else None
        if previous:
            summary.results[entry.key] = previous
            summary.reused += 1
        else:
            pending.append(entry)

    cores = os.cpu_count() or 1
    workers = max(1, min(workers or cores, len(pending) or 1))
    threads = max(1, cores // workers)  # workers x threads <= cores: no oversubscription
    stop = threading.Event()
    judges = _JudgePerWorker()
    bar = tqdm(total=len(found.entries), initial=summary.reused, unit="submission",
               desc="grading", disable=not progress)
    pool = ThreadPoolExecutor(max_workers=workers)
    futures: dict[Future, Entry] = {}
    try:
        for entry in pending:
            options = GradingOptions(timeout=timeout, memory_mb=memory_mb, threads=threads,
                                     keep_notebook=out / "notebooks" / f"{entry.key}.ipynb", stop=stop,
                                     allow_root=allow_root, data=data)
            futures[pool.submit(_grade_one, autograder, entry, options, judges)] = entry
        remaining = set(futures)
        while remaining:
            done, remaining = wait(remaining, return_when=FIRST_COMPLETED)
            for future in done:
                entry = futures[future]
                result = future.result()
                _save(out, entry, result, grader_hash)
                summary.results[entry.key] = result
                summary.graded += 1
                bar.update()
                bar.set_postfix_str(f"{entry.label}: {result.status}", refresh=False)
                write_gradebook(out, found, summary.results, settings)
    except KeyboardInterrupt:
        stop.set()  # running sandboxes kill their processes and remove their scratch folders
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        judges.close()
        bar.close()
        summary.warnings = write_outputs(out, found, summary.results, settings)
    return summary


class _JudgePerWorker(threading.local):
    """One judge process per worker thread, reused for every submission that worker grades."""

    every: list[Judge] = []

    def get(self) -> Judge:
        if not hasattr(self, "judge"):
            self.judge = Judge()
            self.every.append(self.judge)
        return self.judge

    def close(self) -> None:
        for judge in self.every:
            judge.__exit__(None, None, None)


def _grade_one(autograder: Path, entry: Entry, options: GradingOptions, judges: _JudgePerWorker) -> GradeResult:
    try:
        result = grade_submission(autograder, entry.path, options, judges.get())
    except GradingInterrupted:
        raise
    except Exception as error:  # a grader bug must cost one row its score, never the batch
        result = GradeResult(submission=entry.path.name, lesson="", status="grader-error",
                        reason=f"the grader failed on this submission: {type(error).__name__}: {error}",
                        questions={})
    result.submission = entry.label
    return result


def _save(out: Path, entry: Entry, result: GradeResult, grader_hash: str) -> None:
    record = {"content_hash": content_hash(entry.path), "autograder_hash": grader_hash, "result": result.to_dict()}
    path = out / "results" / f"{entry.key}.json"
    write_atomically(path, json.dumps(record, indent=1))


def _previous(out: Path, entry: Entry, grader_hash: str) -> GradeResult | None:
    """The saved result for ``entry``, if it graded exactly this content with this autograder
    and the grader did not fail on it (its own failures are regraded, never kept)."""
    path = out / "results" / f"{entry.key}.json"
    try:
        record = json.loads(path.read_text())
        if record["content_hash"] == content_hash(entry.path) and record["autograder_hash"] == grader_hash \
                and record["result"]["status"] not in GRADER_SIDE:
            return GradeResult.from_dict(record["result"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None

