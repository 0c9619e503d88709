"""Step 2b of the build: the notebook carries what it needs, and the toolkit's first and last cells.

Otter Assign's first cell opens ``tests/`` and the notebook by its released file name, and
its export cell zips whatever file has that name; both fail a notebook opened alone (Colab)
or renamed (``dense-mnist (1).ipynb``). Here they become :func:`dlcourse.session.start` and
``grader.export()`` (:mod:`dlcourse.export`), and the notebook's metadata receives the
public tests, in Otter's own format (``metadata.otter.tests``), the lesson's settings files
and a digest of the released code (the export refuses a notebook identical to it).
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from ..lesson import BASELINE_FILE, LESSON_FILE, Lesson
from ..running import cell_source, code_digest
from ..session import METADATA_KEY

OTTER_INIT = "# Initialize Otter"
INIT_CELL = """\
# Set-up. The first time (on Colab, or in a new environment) this installs the course toolkit,
# keeping the torch already installed. The checks and the lesson's settings travel inside this notebook.
try:
    import dlcourse
except ImportError:
    import subprocess, sys
    try:
        import torch
        keep = [f"torch=={{torch.__version__}}"]
    except ImportError:
        keep = []
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "{toolkit_url}", *keep], check=True)
from dlcourse.session import start
grader = start("{lesson_id}")"""
EXPORT_CELL = """\
# Save the notebook first (Ctrl+S). This zips it with {files} for submission.
grader.export()"""


def listed(names: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``: names as a sentence lists them."""
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def embed(lesson: Lesson, student_dist: Path, notebooks: list[Path], toolkit_url: str) -> None:
    """Give ``notebooks`` (the student's first) the toolkit's cells, installing the toolkit from
    ``toolkit_url`` when it is missing, and the release's material."""
    tests = {path.stem: path.read_text() for path in sorted((student_dist / "tests").glob("*.py"))}
    files = {name: (student_dist / name).read_text() for name in (LESSON_FILE, BASELINE_FILE)
             if (student_dist / name).is_file()}
    stub = None
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        _replace_cells(nb, lesson, toolkit_url)
        stub = stub or code_digest(nb)
        nb.metadata.setdefault("otter", {}).update({"tests": tests, "OK_FORMAT": False})
        nb.metadata[METADATA_KEY] = {"files": files, "stub": stub}
        nbformat.validate(nb)
        nbformat.write(nb, path)


def _replace_cells(nb: nbformat.NotebookNode, lesson: Lesson, toolkit_url: str) -> None:
    init = [c for c in nb.cells if c.cell_type == "code" and cell_source(c).startswith(OTTER_INIT)]
    export = [c for c in nb.cells if c.cell_type == "code" and "grader.export(" in cell_source(c)]
    if len(init) != 1 or len(export) != 1:
        raise ValueError(f"{lesson.notebook}: expected Otter's init cell and export cell once each "
                         f"(init_cell and export_cell in its ASSIGNMENT CONFIG)")
    init[0].source = INIT_CELL.format(lesson_id=lesson.id, toolkit_url=toolkit_url)
    submitted = listed(lesson.submitted_files + lesson.design_files) or "nothing else"
    export[0].source = EXPORT_CELL.format(files=submitted)
