"""Otter's grading cells: added to a notebook by a process of their own, and read back as JSON.

The student's own ``grader.check``/``grader.export`` cells are dropped first: every test
runs once, at the end, on the notebook's final state.

Importing Otter costs ~70 MB (it loads pandas and nbconvert) and ~1 s. The notebook runner
would hold that memory for as long as the student's kernel runs, inside the same limit, so
a short-lived process adds the cells instead. And the kernel, which has Otter loaded
anyway, turns Otter's results into plain JSON itself: the runner never imports Otter, and
never unpickles anything.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

# Exceptions whose text is written for the student; others keep their type name in the message.
STUDENT_FACING = {"AssertionError", "ArchitectureMismatch", "WeightsProblem", "UnsafeWeights"}
RESULTS_PICKLE = "otter_results.pkl"
OTTER_CALL = re.compile(r"grader\.(check|check_all|export)\(.*\)")
REPORT_SOURCE = """
from dlcourse.grading.grading_cells import write_questions
write_questions({pickle!r}, {out!r})
"""


def add_grading_cells(notebook: Path, out: Path, *, cwd: Path, tests: list[str], results_dir: Path,
                      questions_path: Path, log_port: int) -> None:
    """Write ``notebook`` to ``out`` without the student's grader calls and with Otter's
    grading cells; its last cell will run the tests and write every question's result to
    ``questions_path`` (see :func:`write_questions`)."""
    settings = {"notebook": str(notebook), "out": str(out), "cwd": str(cwd), "tests": tests,
                "pickle": str(results_dir / RESULTS_PICKLE), "questions": str(questions_path), "log_port": log_port}
    done = subprocess.run([sys.executable, "-m", __name__, json.dumps(settings)], capture_output=True, text=True)
    if done.returncode:
        lines = done.stderr.strip().splitlines()
        raise RuntimeError(f"Otter could not prepare the notebook: {lines[-1] if lines else done.returncode}")


def main(settings: dict) -> None:
    import nbformat
    from otter.execute.preprocessor import GradingPreprocessor
    from traitlets.config import Config

    config = Config()
    config.GradingPreprocessor.update(
        cwd=settings["cwd"], test_dir="./tests", tests_glob=settings["tests"], results_path=settings["pickle"],
        logging_server_host="127.0.0.1", logging_server_port=settings["log_port"], force_python3_kernel=True,
        seed=None, seed_variable=None)  # traitlets would default these to 0 and "", which seeds every cell
    nb = nbformat.read(settings["notebook"], as_version=4)
    nb.cells = [c for c in nb.cells if not _is_otter_cell(c)]
    nb, _ = GradingPreprocessor(config=config).preprocess(nb)
    nb.cells[-1].source += REPORT_SOURCE.format(pickle=settings["pickle"], out=settings["questions"])
    nbformat.write(nb, settings["out"])


def _is_otter_cell(cell) -> bool:
    """A cell of nothing but ``grader.check(...)``/``grader.export(...)`` calls (and comments)."""
    lines = [line.strip() for line in cell.source.splitlines()
             if line.strip() and not line.strip().startswith("#")]
    return cell.cell_type == "code" and bool(lines) and all(OTTER_CALL.fullmatch(line) for line in lines)


def write_questions(results_pickle: str, out: str) -> None:
    """Run in the kernel, after Otter's last cell: each question's score and tests, as JSON."""
    import pickle

    with open(results_pickle, "rb") as f:
        results = pickle.load(f)
    questions = {
        name: {"score": float(tf.score), "possible": float(tf.possible), "tests": [
            {"name": r.test_case.name, "hidden": bool(r.test_case.hidden), "points": float(r.test_case.points),
             "passed": bool(r.passed), "message": _failure(r)} for r in tf.test_case_results]}
        for name, tf in results.results.items()
    }
    Path(out).write_text(json.dumps(questions))


def _failure(result) -> str:
    """The assertion text of a failed test, without Otter's framing."""
    if result.passed:
        return ""
    lines = (result.message or "").strip().splitlines()
    last = lines[-1] if lines else "failed"
    kind, _, text = last.partition(": ")
    message = text if kind in STUDENT_FACING and text else last
    extra = result.test_case.failure_message
    return f"{message} ({extra})" if extra else message


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
