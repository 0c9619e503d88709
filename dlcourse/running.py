"""Which notebook is running: the file (or, on Colab, the browser's copy) behind this kernel.

A kernel does not know its notebook, and the working directory may hold others (a second
download, ``dense-mnist (1).ipynb``), so the notebook is asked for where each front end says:

- Colab: the notebook is not on the kernel's disk; the browser hands over the notebook as it
  holds it (``google.colab._message.blocking_request("get_ipynb")``);
- Jupyter (JupyterLab, Notebook 7, JupyterHub): the server starts the kernel with the
  notebook's path in ``JPY_SESSION_NAME``, which ipykernel also puts in ``__session__``;
- VS Code: ``__vsc_ipynb_file__``;
- otherwise the one notebook of this lesson in the working directory. Several, and nothing
  says which: the student is asked to name it, since guessing wrong zips the wrong work.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

SESSION_ENV = "JPY_SESSION_NAME"
SESSION_NAMES = ("__session__", "__vsc_ipynb_file__")  # set in the kernel's namespace by ipykernel, VS Code


class NotebookNotFound(RuntimeError):
    pass


@dataclass
class RunningNotebook:
    content: dict          # the notebook as JSON
    path: Path | None      # its file; None where it is not on this disk (Colab)
    where: str             # how it was found, for messages

    @property
    def name(self) -> str:
        return self.path.name if self.path else self.where


def on_colab() -> bool:
    """Whether this kernel is Colab's: ``google.colab`` is importable there, and only there."""
    import importlib.util

    try:
        return importlib.util.find_spec("google.colab") is not None
    except (ImportError, ValueError):
        return False


def find_running_notebook(lesson_id: str, explicit: str | os.PathLike | None = None,
                          user_ns: dict | None = None) -> RunningNotebook:
    """The notebook of ``lesson_id`` this kernel runs; ``explicit`` names its file."""
    if explicit is not None:
        return _from_file(Path(explicit), f"the file {explicit}", lesson_id)
    if on_colab():
        from google.colab import _message

        content = _message.blocking_request("get_ipynb", timeout_sec=30)["ipynb"]
        return RunningNotebook(content, None, "the notebook open in Colab")
    for candidate in _session_paths(user_ns or {}):
        if candidate.is_file():
            return _from_file(candidate, f"the notebook this kernel runs ({candidate.name})", lesson_id)
    return _only_one_here(lesson_id)


def _session_paths(user_ns: dict) -> list[Path]:
    """Where the front end says the notebook is. The server's session path may be relative to
    its root folder; the kernel starts in the notebook's folder, so its name is looked up here."""
    names = [user_ns.get(key) for key in SESSION_NAMES] + [os.environ.get(SESSION_ENV)]
    paths = []
    for name in filter(None, names):
        path = Path(str(name)).expanduser()
        paths += [path, Path.cwd() / path.name] if path.is_absolute() else [Path.cwd() / path, Path.cwd() / path.name]
    return paths


def lesson_notebooks_here(lesson_id: str) -> list[Path]:
    """The notebooks of ``lesson_id`` in the working directory, by name."""
    return [path for path in sorted(Path.cwd().glob("*.ipynb")) if assignment_name(read_json(path)) == lesson_id]


def _only_one_here(lesson_id: str) -> RunningNotebook:
    here = Path.cwd()
    mine = lesson_notebooks_here(lesson_id)
    if len(mine) == 1:
        return _from_file(mine[0], f"the only {lesson_id} notebook in {here}", lesson_id)
    if not mine:
        raise NotebookNotFound(f"no notebook of the lesson '{lesson_id}' is in {here}; name yours: "
                               f'grader.export(notebook="...ipynb")')
    names = ", ".join(path.name for path in mine)
    raise NotebookNotFound(f"{len(mine)} notebooks of '{lesson_id}' are in {here} ({names}) and Jupyter does "
                           f'not say which one runs here; name yours: grader.export(notebook="{mine[-1].name}")')


def _from_file(path: Path, where: str, lesson_id: str) -> RunningNotebook:
    content = read_json(path)
    if content is None:
        raise NotebookNotFound(f"{path} is not a readable notebook")
    found = assignment_name(content)
    if found not in (None, lesson_id):
        raise NotebookNotFound(f"{path.name} is the notebook of the lesson '{found}', not of '{lesson_id}'")
    return RunningNotebook(content, path.resolve(), where)


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return None


def assignment_name(content: dict | None) -> str | None:
    """The lesson a notebook belongs to (Otter's ``assignment_name`` in its metadata)."""
    otter = ((content or {}).get("metadata") or {}).get("otter") or {}
    return otter.get("assignment_name") if isinstance(otter, dict) else None


def cell_source(cell: dict) -> str:
    """A cell's code as one string (a notebook file may store it as a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def code_digest(content: dict) -> str:
    """SHA-256 of a notebook's code, cell by cell: equal for two notebooks with the same code,
    whatever their outputs, metadata or text cells."""
    import hashlib

    digest = hashlib.sha256()
    for cell in content.get("cells", []):
        if cell.get("cell_type") == "code":
            digest.update(cell_source(cell).strip().encode() + b"\x00")
    return digest.hexdigest()


def ipython_shell():
    """The IPython shell this code runs in, or None outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


class CellRuns:
    """When each cell of this session finished, and its code: the export compares what ran
    after the notebook file was last saved with what that file holds (unsaved work)."""

    def __init__(self) -> None:
        self.runs: list[tuple[float, str]] = []
        self._shell = None

    def watch(self, shell) -> None:
        if shell is None or shell is self._shell:
            return
        shell.events.register("post_run_cell", self._record)
        self._shell = shell

    def _record(self, result) -> None:
        source = getattr(getattr(result, "info", None), "raw_cell", None)
        if source and source.strip():
            self.runs.append((time.time(), source))

    def since(self, moment: float) -> list[str]:
        return [source for when, source in self.runs if when > moment]


CELL_RUNS = CellRuns()
