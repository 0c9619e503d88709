"""The notebook's first cell: ``grader = start("<lesson>")``.

A released notebook carries everything its checks need (the build puts it there,
:mod:`dlcourse.release.embed`): the public tests in Otter's own metadata format
(``metadata.otter.tests``) and the lesson's settings (``metadata.dlcourse.files``:
``lesson.yaml``, and ``baseline.yaml`` for a lesson with a baseline). So a notebook opened
alone (on Colab, in JupyterLab, from any working directory) works: :func:`start` finds the
running notebook, unpacks that material into a folder of its own, makes it the current
lesson and hands back a grader whose ``check`` runs Otter's checker on those tests and whose
``export`` is :func:`dlcourse.export.export_submission`. A notebook without the material
(an older release) reads ``tests/`` and ``lesson.yaml`` from the working directory, as Otter does.

The grader (``dlcourse grade``, Gradescope) runs the first cell too, but never the checks or
the export: there ``start`` only returns.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from .lesson import use_lesson_folder
from .running import (CELL_RUNS, NotebookNotFound, find_running_notebook, ipython_shell,  # noqa: F401
                      lesson_notebooks_here, read_json)  # CELL_RUNS, ipython_shell: their old import path
from .settings import GRADING_ENV

METADATA_KEY = "dlcourse"  # notebook metadata: {"files": {name: text}, "stub": sha256 of the stub's code}


class LessonGrader:
    """What ``grader`` is in a lesson notebook: ``check(question)`` and ``export()``."""

    def __init__(self, lesson_id: str, tests_dir: Path | None) -> None:
        self.lesson_id = lesson_id
        self._otter = _otter_notebook(tests_dir) if tests_dir is not None else None

    def check(self, question: str, global_env: dict[str, Any] | None = None) -> Any:
        """Run the public tests of ``question`` against the notebook's variables; a question whose
        public tests check only the answer's form says so when it passes (:mod:`.check_report`)."""
        if self._otter is None:
            raise RuntimeError("checks do not run while grading")
        from .check_report import report

        return report(self._otter.check(question, global_env if global_env is not None else sys._getframe(1).f_globals))

    def export(self, notebook: str | os.PathLike | None = None, *, unfinished: bool = False) -> Path:
        """Zip the running notebook and the lesson's files for submission (see :mod:`dlcourse.export`)."""
        from .export import export_submission

        return export_submission(self.lesson_id, notebook=notebook, unfinished=unfinished)


def start(lesson_id: str) -> LessonGrader:
    """Set up the notebook of ``lesson_id``: its tests and settings, wherever it runs."""
    if os.environ.get(GRADING_ENV) == "1":
        return LessonGrader(lesson_id, None)
    shell = ipython_shell()
    CELL_RUNS.watch(shell)
    try:
        material = _material(find_running_notebook(lesson_id, user_ns=shell.user_ns if shell else None).content)
    except NotebookNotFound:  # several copies here: each carries the same material (the export will ask which)
        material = next(filter(None, (_material(read_json(p)) for p in lesson_notebooks_here(lesson_id))), None)
    if material is None:  # an older release: tests/ and lesson.yaml beside the notebook
        use_lesson_folder(Path.cwd())
        return LessonGrader(lesson_id, Path("tests").resolve())
    folder = Path(tempfile.mkdtemp(prefix=f"dlcourse-{lesson_id}-"))
    tests_dir = folder / "tests"
    tests_dir.mkdir()
    for name, text in material["tests"].items():
        (tests_dir / f"{Path(name).name}.py").write_text(text)
    for name, text in material["files"].items():
        (folder / Path(name).name).write_text(text)
    use_lesson_folder(folder)
    return LessonGrader(lesson_id, tests_dir)


def _material(content: dict | None) -> dict | None:
    """The tests and settings a notebook carries, or None for a notebook without them."""
    metadata = (content or {}).get("metadata") or {}
    tests = (metadata.get("otter") or {}).get("tests")
    files = (metadata.get(METADATA_KEY) or {}).get("files")
    if not isinstance(tests, dict) or not isinstance(files, dict):
        return None
    return {"tests": tests, "files": files}


def _otter_notebook(tests_dir: Path):
    """Otter's checker on ``tests_dir``. Made from inside that folder: Otter reads any notebook
    and ``.otter`` file in its working directory, and the student's may hold several."""
    import otter

    here = os.getcwd()
    os.chdir(tests_dir.parent)
    try:
        return otter.Notebook(tests_dir=str(tests_dir))
    finally:
        os.chdir(here)
