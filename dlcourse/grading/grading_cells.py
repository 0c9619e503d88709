"""Otter's grading cells, added to a notebook by a process of their own.

Importing Otter costs ~70 MB (it loads pandas and nbconvert). The notebook runner would
hold that for as long as the student's kernel runs, inside the same memory limit, so it
asks this short-lived process for the transformed notebook instead.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def add_grading_cells(notebook: Path, out: Path, *, cwd: Path, tests: list[str], results_path: Path,
                      log_port: int) -> None:
    """Write ``notebook`` with Otter's grading cells to ``out`` (see :func:`main`)."""
    settings = {"notebook": str(notebook), "out": str(out), "cwd": str(cwd), "tests": tests,
                "results_path": str(results_path), "log_port": log_port}
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
        cwd=settings["cwd"], test_dir="./tests", tests_glob=settings["tests"], results_path=settings["results_path"],
        logging_server_host="127.0.0.1", logging_server_port=settings["log_port"], force_python3_kernel=True,
        seed=None, seed_variable=None)  # traitlets would default these to 0 and "", which seeds every cell
    nb = nbformat.read(settings["notebook"], as_version=4)
    nb, _ = GradingPreprocessor(config=config).preprocess(nb)
    nbformat.write(nb, settings["out"])


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
