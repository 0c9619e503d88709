"""A batch's output folder: the per-submission results every run writes, and the collect step
that turns them into what an instructor reads.

Grading (threads, Dask workers or one shard of a job array; batch.py) writes only files of
its own submissions::

    OUT/results/<key>.json       one GradeResult (plus the content and autograder hashes it graded)
    OUT/notebooks/<stem>.ipynb   the executed notebook, named by the submission (inputs.notebook_names:
                                 alice.zip -> alice.ipynb; alice.zip beside alice.ipynb -> alice (zip).ipynb)
                                 or absent; a rerun moves a reused one to its new name (kept_notebooks.py)
    OUT/batch.json               what the batch grades: the input folder, its layout (--layout) and
                                 the autograder's hash (every run writes the same bytes, so shards
                                 may race on it)
    OUT/grading.json             the roster, late policy... the run was given (recorded_settings.py)

Collecting (:func:`collect`; ``dlcourse gradebook OUT``) reads them back and writes the files
that cover the whole batch: gradebook.csv, submissions.csv, report.md, scores.png. Only the
collect step writes those, so shards never overwrite each other's rows.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..atomic import write_atomically
from .gradebook import write_gradebook
from .inputs import Discovery, Entry, content_hash, discover
from .trust import results_key, seal, unseal
from .outputs import write_outputs
from .result import GRADER_SIDE, GradeResult
from .rows import OutputSettings

RESULTS = "results"
BATCH_FILE = "batch.json"


class NotABatch(Exception):
    """The folder holds no batch record (``batch.json``): nothing was graded into it."""


@dataclass(frozen=True)
class CollectOptions:
    """How the collect step writes the batch's files. ``final``: false while a batch still
    runs (its gradebook is rewritten as rows arrive); the report and its figure are then left
    for the last call."""

    final: bool = True
    settings: OutputSettings | None = None   # roster, late rule, exports, feedback (rows.OutputSettings)


@dataclass(frozen=True)
class BatchRecord:
    """What OUT grades: the input the entries are discovered in, read with ``layout`` (the
    ``--layout`` chosen; ``auto``: detected), and the autograder (by hash) whose results count."""

    input: Path
    autograder_hash: str
    layout: str = "auto"
    lesson_files: tuple[str, ...] = ()   # the lesson's notebook and weights names the entries were read by

    def write(self, out: Path) -> None:
        record = {"input": str(self.input.resolve()), "autograder_hash": self.autograder_hash,
                  "layout": self.layout, "lesson_files": list(self.lesson_files)}
        write_atomically(out / BATCH_FILE, json.dumps(record, indent=1) + "\n")

    @classmethod
    def read(cls, out: Path) -> BatchRecord:
        """Raises NotABatch when ``out`` was never graded into (or its record is damaged)."""
        try:
            record = json.loads((out / BATCH_FILE).read_text())
            # a record from before layouts were kept: the layout detected, as it was then
            return cls(Path(record["input"]), str(record["autograder_hash"]), str(record.get("layout") or "auto"),
                       tuple(str(name) for name in record.get("lesson_files") or ()))
        except (OSError, ValueError, KeyError, TypeError):
            raise NotABatch(f"{out} holds no graded batch ({BATCH_FILE} is missing or unreadable): "
                            "grade into it first with `dlcourse grade ... --out {out}`") from None


def prepare(out: Path, *, sandbox_reaches_grader: bool) -> bytes | None:
    """The output folders, the results' closed to every other user (a sandbox's user included);
    returns the key that signs the results (trust.py), ``None`` where student code could read it."""
    (out / RESULTS).mkdir(parents=True, exist_ok=True)
    os.chmod(out / RESULTS, 0o700)
    return results_key(out / RESULTS, sandbox_reaches_grader=sandbox_reaches_grader)


def save_result(out: Path, entry: Entry, result: GradeResult, grader_hash: str, key: bytes | None) -> None:
    record = {"content_hash": content_hash(entry), "autograder_hash": grader_hash, "result": result.to_dict()}
    write_atomically(out / RESULTS / f"{entry.key}.json", seal(record, key))


def saved_result(out: Path, entry: Entry, grader_hash: str, key: bytes | None, *,
                 grader_side: bool = True) -> GradeResult | None:
    """The saved result for ``entry``, if ``key`` signed it and it graded exactly this content with
    this autograder. ``grader_side=False`` leaves out the grader's own failures (a resumed run
    regrades them)."""
    try:
        record = unseal((out / RESULTS / f"{entry.key}.json").read_text(), key)
        if record is not None and record["content_hash"] == content_hash(entry) \
                and record["autograder_hash"] == grader_hash \
                and (grader_side or record["result"]["status"] not in GRADER_SIDE):
            return GradeResult.from_dict(record["result"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def gather(out: Path) -> tuple[Discovery, dict[str, GradeResult]]:
    """The batch graded into ``out`` (rediscovered in its input, with the layout it was graded
    with) and every saved result of it, by entry key: what the shards of a job array wrote.
    Raises NotABatch."""
    record = BatchRecord.read(out)
    found = discover(record.input, record.layout, record.lesson_files)
    key = results_key(out / RESULTS, sandbox_reaches_grader=False)  # the shards' key (none: nothing is believed)
    results = {}
    for entry in found.entries:
        result = saved_result(out, entry, record.autograder_hash, key)
        if result is not None:
            results[entry.key] = result
    return found, results


def collect(out: Path, found: Discovery, results: dict[str, GradeResult],
            options: CollectOptions = CollectOptions()) -> list[str]:
    """Write the batch's own files from its results (by entry key; an entry without one is a
    pending row): gradebook.csv and submissions.csv, then, if ``options.final``, everything else
    (:func:`.outputs.write_outputs`: exports, sheets, feedback pages, copies, reports); returns its
    warnings. The same results give the same files whatever order they finished in."""
    results = {entry.key: results[entry.key] for entry in found.entries if entry.key in results}
    if not options.final:
        write_gradebook(out, found, results, options.settings)
        return []
    return write_outputs(out, found, results, options.settings)   # gradebook, exports, pages, reports
