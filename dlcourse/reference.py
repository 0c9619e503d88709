"""Train a lesson's reference solution by running its solution notebook, training cell included.

The solution notebook is executed in a fresh folder with the lesson's files and *all* its
tests (hidden ones too); a ``grader.check`` cell that reports a failure stops the run, so no
reference is ever saved that fails its own lesson. The seed can be changed (``SEED = 0`` in
the setup cell) for calibration runs. Cells tagged ``challenge`` or ``ablation`` (optional
extras for students, minutes each) run after the reference's training is recorded, and an
error in one is reported, not fatal: ``dlcourse train`` runs them, so the executed solution
shows their results and the time the whole lesson takes; calibration runs leave them out.
nbclient records each cell's start and end in its ``metadata.execution``, so the executed
notebook also says where the time went.
"""

from __future__ import annotations

import json
import tempfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import nbformat

from .check_report import check_passed
from .course import Course
from .execute import IGNORE_TAG, NotebookFailed, execute_notebook
from .lesson import Lesson
from .sample_submissions import apply_edits

SEED_LINE = "SEED = 0"
EXTRA_TAGS = ("challenge", "ablation")
# Run before the first optional cell (which may reuse names like ``history``): what the
# training did, for the caller; not kept in the saved notebook.
RECORD_HISTORY = """\
import json as _json
_json.dump({"seconds": history.seconds, "accuracy": history.accuracy, "val_accuracy": history.val_accuracy,
            "test_accuracy": evaluate(model, test_set, prepare=prepare).accuracy}, open("history.json", "w"))
"""


@dataclass
class TrainingRun:
    notebook: nbformat.NotebookNode   # executed, with its outputs
    weights: bytes
    seconds: float
    history: dict                     # per-epoch seconds and accuracies, and the test accuracy
    extra_errors: list[str]           # optional cells that raised, each as "cell N: error"
    design: dict[str, bytes] = field(default_factory=dict)  # the design task's files, if its cell ran


def train_reference(course: Course, lesson: Lesson, seed: int | None = None,
                    edits: Sequence[tuple[str, str]] = (), require_passing: bool = True,
                    extras: bool = False) -> TrainingRun:
    """Run the solution notebook (with ``edits``; the seed is one) and collect what it trained.

    ``require_passing=False`` keeps going when a check fails: for deliberately wrong runs.
    ``extras`` also runs the optional cells (tagged ``challenge`` or ``ablation``).
    """
    notebook = nbformat.read(course.solution_notebook(lesson.id), as_version=4)
    if seed is not None:
        edits = [(SEED_LINE, f"SEED = {seed}"), *edits]
    notebook = apply_edits(notebook, list(edits))
    if not extras:
        notebook.cells = [c for c in notebook.cells if not _is_extra(c)]
    record_at = next((i for i, c in enumerate(notebook.cells) if _is_extra(c)), len(notebook.cells))
    notebook.cells.insert(record_at, nbformat.v4.new_code_cell(RECORD_HISTORY))
    with tempfile.TemporaryDirectory(prefix=f"dlcourse-train-{lesson.id}-") as scratch:
        folder = course.student_workspace(lesson, Path(scratch))
        nbformat.write(notebook, folder / lesson.notebook)
        with zipfile.ZipFile(course.autograder_zip(lesson.id)) as archive:
            archive.extractall(folder, [n for n in archive.namelist() if n.startswith("tests/")])
        start = time.perf_counter()
        executed = execute_notebook(notebook, folder, allow_errors=True)
        seconds = time.perf_counter() - start
        del executed.cells[record_at]  # the history cell was ours, not the lesson's
        errors = _cell_errors(executed)
        failure = next((error for index, error in errors if not _is_extra(executed.cells[index])), None)
        if failure is None and require_passing:
            failure = _failing_check(executed)
        if failure is not None:
            # Half an hour of training should not vanish with the error: keep it to read.
            kept = Path(tempfile.gettempdir()) / f"{lesson.id}-solution-failed.ipynb"
            nbformat.write(executed, kept)
            accuracy = _test_accuracy(folder / "history.json")
            raise NotebookFailed(f"the reference fails {failure}{accuracy}; the executed notebook is in {kept}")
        weights = (folder / course.reference_weights(lesson).name).read_bytes()
        history = json.loads((folder / "history.json").read_text())
        design = {name: (folder / name).read_bytes() for name in lesson.design_files if (folder / name).is_file()}
    return TrainingRun(executed, weights, seconds, history, [error for _, error in errors], design)


def _is_extra(cell: nbformat.NotebookNode) -> bool:
    return bool(set(EXTRA_TAGS) & set(cell.metadata.get("tags", [])))


def _cell_errors(notebook: nbformat.NotebookNode) -> list[tuple[int, str]]:
    """(index, "cell N: ErrorName: message") of every cell that raised, in order."""
    return [(index, f"cell {index}: {output.ename}: {output.evalue}")
            for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"
            for output in cell.get("outputs", []) if output.output_type == "error"]


def _test_accuracy(history: Path) -> str:
    return f" (test accuracy {json.loads(history.read_text())['test_accuracy']:.2%})" if history.is_file() else ""


def _failing_check(notebook: nbformat.NotebookNode) -> str | None:
    """The first ``grader.check`` cell that did not pass, with what it printed; None if all passed."""
    for cell in notebook.cells:
        if cell.cell_type == "code" and cell.source.startswith("grader.check("):
            shown = "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in cell.outputs)
            if not check_passed(shown):
                return f"{cell.source}: {' '.join(shown.split())[:600]}"
    return None


def notebook_times(executed: nbformat.NotebookNode) -> dict[str, float]:
    """Seconds an executed notebook spent, from nbclient's stamps on each code cell.

    ``notebook``: every cell but the optional challenges (what "Run All" costs a student who
    skips them; ablations count, a lesson asks for them); ``training``: the training cell(s)
    (tagged ``otter_ignore``, calling ``fit``, not optional); ``challenge``: the cells tagged
    ``challenge``. Raises KeyError when a code cell never ran (nbclient skips blank cells).
    """
    times = {"notebook": 0.0, "training": 0.0, "challenge": 0.0}
    for cell in executed.cells:
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        stamps = cell.metadata["execution"]
        start, end = (datetime.fromisoformat(stamps[k].replace("Z", "+00:00"))
                      for k in ("iopub.execute_input", "shell.execute_reply"))
        seconds = (end - start).total_seconds()
        tags = set(cell.metadata.get("tags", []))
        if "challenge" in tags:
            times["challenge"] += seconds
            continue
        times["notebook"] += seconds
        if is_training_cell(cell):
            times["training"] += seconds
    return times


def is_training_cell(cell: nbformat.NotebookNode) -> bool:
    """A lesson's own training cell: tagged ``otter_ignore`` (grading skips it), calling ``fit``."""
    return (cell.cell_type == "code" and IGNORE_TAG in cell.metadata.get("tags", []) and "fit(" in cell.source
            and not _is_extra(cell))


def save_reference(course: Course, lesson: Lesson, run: TrainingRun) -> list[Path]:
    """Store the weights, the design task's files (if its cell ran) and the executed notebook
    in ``solutions/<id>/``."""
    weights = course.reference_weights(lesson)
    weights.write_bytes(run.weights)
    design = [course.solution_dir(lesson.id) / name for name in run.design]
    for path in design:
        path.write_bytes(run.design[path.name])
    executed = course.executed_solution(lesson.id)
    nbformat.write(run.notebook, executed)
    return [weights, *design, executed]
