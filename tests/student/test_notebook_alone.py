"""A released notebook on its own, in real kernels: on Colab (a stand-in ``google.colab``,
tests/colab_standin) and in Jupyter beside a second copy; its checks run, its export refuses
unsaved work, and the zip it makes grades full marks through ``dlcourse grade``."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest

from dlcourse.course import Course
from dlcourse.data import SAMPLE_DIR
from dlcourse.execute import kernel_manager
from helpers.paths import ROOT, TESTS
from helpers.notebooks import FULL_MARKS, LESSON, STUB, graded, worked_notebook

pytestmark = pytest.mark.slow
COURSE = Course(ROOT)
STANDIN = TESTS / "colab_standin"
# every question the released notebook checks, and the autograder's full marks
QUESTIONS = tuple(cell.source.split('"')[1] for cell in nbformat.read(STUB, as_version=4).cells
                  if cell.cell_type == "code" and cell.source.startswith("grader.check("))
# questions whose public tests check only the answer's form: their check says so, never "passed"
FORMAT_ONLY = {name for name, source in nbformat.read(STUB, as_version=4).metadata.otter.tests.items()
               if re.findall(r"@test_case\(points=", source)
               and set(re.findall(r"@test_case\(points=([\d.]+)", source)) == {"0"}}


@contextlib.contextmanager
def kernel(cwd: Path, env: dict[str, str]):
    """A real python3 kernel started in ``cwd`` with ``env`` added; yields run(source) -> outputs."""
    from nbclient import NotebookClient

    saved = dict(os.environ)
    os.environ.update({"DLCOURSE_DATA": str(SAMPLE_DIR), **env})  # the kernel inherits this environment
    nb = nbformat.v4.new_notebook()
    client = NotebookClient(nb, km=kernel_manager(), timeout=300, allow_errors=True,
                            resources={"metadata": {"path": str(cwd)}})
    try:
        with client.setup_kernel():
            def run(source: str) -> list[dict]:
                cell = nbformat.v4.new_code_cell(source)
                nb.cells.append(cell)
                client.execute_cell(cell, len(nb.cells) - 1)
                return cell.outputs
            yield run
    finally:
        os.environ.clear()
        os.environ.update(saved)


def text_of(outputs: list[dict]) -> str:
    parts = []
    for output in outputs:
        parts.append(output.get("text", ""))
        parts.append(output.get("data", {}).get("text/plain", ""))
        parts += [output.get("ename", ""), output.get("evalue", "")]
    return "\n".join(parts)


def run_like_a_student(run, notebook: nbformat.NotebookNode) -> dict[str, str]:
    """Run every cell but training (the weights are already there) and the export; return each
    check's output by question."""
    checks = {}
    for cell in notebook.cells:
        if cell.cell_type != "code" or "otter_ignore" in cell.metadata.get("tags", []) or "grader.export(" in cell.source:
            continue
        outputs = run(cell.source)
        assert not [o for o in outputs if o.get("output_type") == "error"], text_of(outputs)
        if cell.source.startswith("grader.check("):
            checks[cell.source.split('"')[1]] = text_of(outputs)
    return checks


def assert_checks_pass(checks: dict[str, str]) -> None:
    """Every check passed; a format-only one says "format OK", never Otter's "All test cases passed"."""
    from dlcourse.check_report import FORMAT_OK

    assert FORMAT_ONLY and FORMAT_ONLY < set(checks), (FORMAT_ONLY, checks)
    for question, output in checks.items():
        if question in FORMAT_ONLY:
            assert FORMAT_OK in output and "passed" not in output, (question, output)
        else:
            assert "All test cases passed" in output, (question, output)



def test_on_colab_the_notebook_alone_checks_exports_and_grades_full_marks(tmp_path):
    drive, content = tmp_path / "drive", tmp_path / "content"   # the notebook is not on the kernel's disk
    drive.mkdir(), content.mkdir()
    notebook = worked_notebook()
    nbformat.write(notebook, drive / "Copy of dense-mnist.ipynb")
    shutil.copy(COURSE.reference_weights(LESSON), content / LESSON.weights)  # as the training cell saves it
    downloads = tmp_path / "downloads.txt"
    env = {"PYTHONPATH": str(STANDIN), "COLAB_STANDIN_NOTEBOOK": str(drive / "Copy of dense-mnist.ipynb"),
           "COLAB_STANDIN_DOWNLOADS": str(downloads)}
    with kernel(content, env) as run:
        checks = run_like_a_student(run, notebook)
        exported = text_of(run("grader.export()"))
    assert sorted(checks) == sorted(QUESTIONS)
    assert_checks_pass(checks)
    zip_path = content / f"{LESSON.id}-submission.zip"
    assert f"Wrote {zip_path.name}: the notebook open in Colab + {LESSON.weights}" in exported, exported
    assert downloads.read_text().split() == [str(zip_path)]
    assert sorted(os.listdir(content)) == sorted([LESSON.weights, zip_path.name, ".OTTER_LOG"])
    submissions = tmp_path / "submissions"   # with an old-style zip: Otter's own first cell, no embedded tests
    submissions.mkdir()
    shutil.copy(zip_path, submissions / "new.zip")
    old_style(submissions / "old.zip")
    assert graded(submissions, tmp_path / "grades") == {"new.zip": ("ok", FULL_MARKS, ""), "old.zip": ("ok", FULL_MARKS, "")}


def old_style(target: Path) -> None:
    """A submission as releases before the embedded tests made it: Otter's init and export cells."""
    notebook = nbformat.read(COURSE.solution_notebook(LESSON.id), as_version=4)
    notebook.cells[0].source = f'# Initialize Otter\nimport otter\ngrader = otter.Notebook("{LESSON.notebook}")'
    export_cell = next(c for c in notebook.cells if "grader.export(" in c.source)
    export_cell.source = f"grader.export(pdf=False, files=['{LESSON.weights}'])"
    del notebook.metadata["dlcourse"], notebook.metadata.otter["tests"], notebook.metadata.otter["OK_FORMAT"]
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr(LESSON.notebook, nbformat.writes(notebook))
        archive.write(COURSE.reference_weights(LESSON), LESSON.weights)


def test_in_jupyter_a_renamed_copy_is_exported_only_once_saved(tmp_path):
    folder = tmp_path / "Downloads"
    folder.mkdir()
    shutil.copy(COURSE.student_dir(LESSON.id) / LESSON.notebook, folder / LESSON.notebook)  # the first download
    renamed = folder / f"{LESSON.id} (1).ipynb"
    notebook = worked_notebook()
    nbformat.write(notebook, renamed)
    shutil.copy(COURSE.reference_weights(LESSON), folder / LESSON.weights)
    with kernel(folder, {"JPY_SESSION_NAME": str(renamed)}) as run:   # as jupyter_server starts kernels
        checks = run_like_a_student(run, notebook)
        edit = 'total_params = 1  # changed, run, not saved'
        run(edit)
        refused = text_of(run("grader.export()"))
        notebook.cells.append(nbformat.v4.new_code_cell(edit))
        nbformat.write(notebook, renamed)                                 # the student saves
        exported = text_of(run("grader.export()"))
    assert_checks_pass(checks)
    assert "ExportRefused" in refused and "ran after the last save" in refused, refused
    assert f"Wrote {LESSON.id}-submission.zip: {renamed.name} (saved" in exported, exported
    with zipfile.ZipFile(folder / f"{LESSON.id}-submission.zip") as archive:
        assert "".join(json.loads(archive.read(LESSON.notebook))["cells"][-1]["source"]) == edit
