"""Run a submitted notebook through Otter's grading and report what its tests claim.

This module is the *untrusted* half of grading: it executes student code (in a Jupyter
kernel) and is therefore started inside the sandbox by :func:`run_notebook`. Its report is
a claim, checked later by the clean room and the tamper scan, never taken on trust.

It differs from ``otter run`` in three ways that matter for trust and robustness:

- the notebook always runs on the ``python3`` kernel, whatever kernelspec it was saved with;
- the tests reach the disk only after the student's last cell has run, so no student code
  can read the hidden tests while it executes;
- Otter's own ``grader.check`` and ``grader.export`` cells are dropped (every test runs once,
  at the end, on the notebook's final state).

Layout it works in (the Gradescope one)::

    AG_DIR/source/       the unpacked autograder zip (tests/, files/, otter_config.json)
    AG_DIR/submission/   the notebook and its files
    AG_DIR/results/      notebook_run.json and executed.ipynb are written here
"""

from __future__ import annotations

import json
import os
import shutil
import socketserver
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..settings import GRADING_ENV
from .grading_cells import add_grading_cells
from .sandbox import Limits, Outcome, run_limited

REPORT = "notebook_run.json"
EXECUTED = "executed.ipynb"
PROGRESS = "running_cell.txt"  # the cell being executed, for saying where a timeout struck
OUTPUT_LIMIT = 100_000  # characters of printed output kept per cell in the executed notebook


@dataclass
class TestOutcome:
    name: str
    hidden: bool
    points: float
    passed: bool
    message: str


@dataclass
class QuestionOutcome:
    score: float
    possible: float
    tests: list[TestOutcome] = field(default_factory=list)


@dataclass
class NotebookRun:
    """What the sandboxed run reported, plus how the sandbox saw it end."""

    questions: dict[str, QuestionOutcome]
    cell_errors: list[str]
    kernel_error: str | None
    sandbox: Outcome
    executed_notebook: Path | None
    running_cell: str | None = None  # source of the cell last started (where a timeout struck)
    limits: Limits | None = None

    @property
    def completed(self) -> bool:
        return self.kernel_error is None and not self.sandbox.timed_out and not self.sandbox.out_of_memory


def run_notebook(ag_dir: Path, limits: Limits, env: dict[str, str],
                 stop: threading.Event | None = None) -> NotebookRun:
    """Run the worker below in the sandbox and read back its report."""
    results = ag_dir / "results"
    results.mkdir(exist_ok=True)
    home = ag_dir / "home"  # kernel connection files, IPython's profile, caches: all in here
    home.mkdir(exist_ok=True)
    env = {**env, GRADING_ENV: "1", "HOME": str(home), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "IPYTHONDIR": str(home / "ipython"), "MPLCONFIGDIR": str(home / "matplotlib"),
           "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}
    outcome = run_limited([sys.executable, "-m", __name__, str(ag_dir)], cwd=ag_dir, env=env,
                          limits=limits, writable=(home, ag_dir / "submission", results), stop=stop)
    report = _read_report(results / REPORT)
    executed = results / EXECUTED
    progress = results / PROGRESS
    try:
        questions = {name: QuestionOutcome(float(q["score"]), float(q["possible"]),
                                           [TestOutcome(**t) for t in q["tests"]])
                     for name, q in report.get("questions", {}).items()}
        cell_errors = [str(e) for e in report.get("cell_errors", [])]
    except (TypeError, ValueError, KeyError, AttributeError):  # the sandbox wrote something else
        report, questions, cell_errors = {}, {}, []
    return NotebookRun(
        questions=questions, cell_errors=cell_errors,
        kernel_error=report.get("kernel_error") if report else _no_report(outcome),
        sandbox=outcome, executed_notebook=executed if executed.is_file() else None,
        running_cell=progress.read_text(errors="replace") if progress.is_file() else None, limits=limits,
    )


def _read_report(path: Path) -> dict:
    try:
        report = json.loads(path.read_text())
        return report if isinstance(report, dict) else {}
    except (OSError, ValueError):
        return {}


def _no_report(outcome: Outcome) -> str:
    tail = outcome.output.strip().splitlines()[-1:] if outcome.output.strip() else []
    return "the grading run ended without a report" + (f": {tail[0]}" if tail else "")


# ---------------------------------------------------------------- inside the sandbox


def main(ag_dir: Path) -> None:
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    source, submission, results = ag_dir / "source", ag_dir / "submission", ag_dir / "results"
    for support in (source / "files").glob("*"):  # the autograder's copies win over the student's
        shutil.copy(support, submission / support.name)
    shutil.rmtree(submission / "tests", ignore_errors=True)
    tests = sorted(f"tests/{t.name}" for t in (source / "tests").glob("*.py"))
    questions_path = results / "otter_results.json"

    prepared = results / "grading.ipynb"
    log_sink = _LogSink()
    add_grading_cells(next(submission.glob("*.ipynb")), prepared, cwd=submission, tests=tests, results_dir=results,
                      questions_path=questions_path, log_port=log_sink.port)
    nb = nbformat.read(prepared, as_version=4)
    prepared.unlink()

    report: dict = {}
    client = NotebookClient(nb, kernel_name="python3", allow_errors=True, timeout=None,
                            resources={"metadata": {"path": str(submission)}})
    try:
        with client.setup_kernel():
            for index, cell in enumerate(nb.cells[:-1]):
                (results / PROGRESS).write_text(cell.source)
                client.execute_cell(cell, index)
            shutil.copytree(source / "tests", submission / "tests")  # only now: see docstring
            (results / PROGRESS).write_text("# the lesson's tests, run on your notebook's final state")
            client.execute_cell(nb.cells[-1], len(nb.cells) - 1)
    except DeadKernelError as error:
        report["kernel_error"] = f"the notebook's kernel died ({error})"
    finally:
        log_sink.close()
        shutil.rmtree(submission / "tests", ignore_errors=True)
    (results / PROGRESS).unlink(missing_ok=True)
    _cap_outputs(nb)
    nbformat.write(nb, results / EXECUTED)
    report["cell_errors"] = _cell_errors(nb)
    if "kernel_error" not in report:
        report["questions"] = json.loads(questions_path.read_text())  # a claim, like the rest of this run
    (results / REPORT).write_text(json.dumps(report, indent=1))


class _LogSink(socketserver.ThreadingTCPServer):
    """Where Otter's grading cells send the kernel's log records: they are read and dropped.
    (Otter's own receiver would unpickle them, which nothing here needs.)"""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Drain)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _Drain(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        while self.rfile.read1(65536):
            pass


def _cap_outputs(nb: nbformat.NotebookNode, limit: int = OUTPUT_LIMIT) -> None:
    """Keep each cell's printed output to ``limit`` characters: a flood of output must not
    make the executed notebook that instructors open megabytes long. A flood arrives as many
    stream outputs, so the budget is the cell's, not each output's."""
    for cell in nb.cells:
        room, kept, cut = limit, [], 0
        for output in cell.get("outputs", []):
            text = output.get("text")
            if not isinstance(text, str):
                kept.append(output)
            else:
                if room > 0:
                    output["text"] = text[:room]
                    kept.append(output)
                cut += max(0, len(text) - room)
                room = max(0, room - len(text))
        if cut:
            kept.append(nbformat.v4.new_output("stream", name="stdout",
                                               text=f"\n[... {cut:,} more characters cut by the grader]\n"))
            cell["outputs"] = kept


def _cell_errors(nb: nbformat.NotebookNode) -> list[str]:
    errors = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                first_line = cell.source.strip().splitlines()[0][:60] if cell.source.strip() else ""
                errors.append(f'cell "{first_line}" raised {output.ename}: {output.evalue.splitlines()[0] if output.evalue else ""}'.rstrip(": "))
    return errors


if __name__ == "__main__":
    os.umask(0o077)
    main(Path(sys.argv[1]))
