"""Execute the course's own notebooks (solutions, prepared submissions) in a real kernel.

These notebooks are trusted: they come from the repository, not from students, so they
run directly, without the grading sandbox.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat

from .settings import DATA_ENV

IGNORE_TAG = "otter_ignore"


class NotebookFailed(RuntimeError):
    pass


def execute_notebook(nb: nbformat.NotebookNode, folder: Path, *, skip_ignored: bool = False,
                     allow_errors: bool = False, data: Path | None = None) -> nbformat.NotebookNode:
    """Run every cell of ``nb`` with ``folder`` as the working directory.

    ``skip_ignored`` drops the cells tagged ``otter_ignore`` first (training, plots), as
    grading does. Unless ``allow_errors``, the first cell error raises NotebookFailed.
    ``data``: the datasets the notebook reads (default: where the environment says); the
    kernel is told through its own environment, never through this process's.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.from_dict(nb)  # a copy: the caller's notebook stays as it was
    if skip_ignored:
        nb.cells = [c for c in nb.cells if IGNORE_TAG not in c.metadata.get("tags", [])]
    kernel = {"env": {**os.environ, DATA_ENV: str(data)}} if data is not None else {}
    try:
        NotebookClient(nb, kernel_name="python3", timeout=None, allow_errors=allow_errors,
                       resources={"metadata": {"path": str(folder)}}).execute(**kernel)
    except CellExecutionError as error:
        raise NotebookFailed(str(error).strip().splitlines()[-1]) from None
    return nb
