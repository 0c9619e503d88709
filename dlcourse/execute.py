"""Execute the course's own notebooks (solutions, prepared submissions) in a real kernel.

These notebooks are trusted: they come from the repository, not from students, so they
run directly, without the grading sandbox.
"""

from __future__ import annotations

import os
import secrets
import tempfile
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
        # nbclient shuts down only kernels whose manager it made itself: ours must be asked to
        # (cleanup_kc), or each run's kernel, holding its data, lives until this process exits.
        NotebookClient(nb, km=kernel_manager(), timeout=None, allow_errors=allow_errors,
                       resources={"metadata": {"path": str(folder)}}).execute(cleanup_kc=True, **kernel)
    except CellExecutionError as error:
        raise NotebookFailed(str(error).strip().splitlines()[-1]) from None
    return nb


def kernel_manager():
    """A ``python3`` kernel that talks over Unix sockets in the user's private runtime folder.

    Over TCP (jupyter_client's default) ipykernel 7 logs "Kernel is running over TCP without
    encryption" at every start, into the output of ``dlcourse grade`` and ``dlcourse demo``;
    the warning is right: any local user could connect to those ports. Sockets in a 0700
    folder are reachable by their owner only. Windows has no Unix sockets here: TCP stays.
    """
    # nbclient's own manager class: with the synchronous KernelManager, nbclient never notices
    # a kernel killed mid-cell (SIGKILL, an OOM kill) and waits for its reply forever.
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.paths import jupyter_runtime_dir

    if os.name == "nt":
        return AsyncKernelManager(kernel_name="python3")
    folder = Path(jupyter_runtime_dir())
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if len(str(folder)) > 80:  # a socket path may not exceed ~104 bytes (macOS), 108 (Linux)
        folder = Path(tempfile.mkdtemp(prefix="dlcourse-kernel-"))
    return AsyncKernelManager(kernel_name="python3", transport="ipc", ip=str(folder / f"kernel-{secrets.token_hex(6)}"))
