"""The export (``grader.export()``, dlcourse/export.py) and the notebook's first cell
(dlcourse/session.py), in this process: each way a zip could hold the wrong thing is refused,
with a message that says what to do. Real kernels, Colab and grading: test_notebook_alone.py."""

from __future__ import annotations

import re
import zipfile

import nbformat
import pytest

from dlcourse import export, lesson as lesson_module
from dlcourse.export import ExportRefused
from dlcourse.running import cell_source
from dlcourse.session import CELL_RUNS, METADATA_KEY, start
from helpers.paths import ROOT
from helpers.notebooks import LESSON, STUB, worked_notebook
from dlcourse.course import Course

COURSE = Course(ROOT)


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A student's folder as the kernel's working directory, nothing set up yet."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.setattr(lesson_module, "_notebook_lesson", None)
    monkeypatch.setattr(CELL_RUNS, "runs", [])
    return tmp_path



def set_up(folder, notebook=None, name=LESSON.notebook, weights=True):
    nbformat.write(notebook if notebook is not None else worked_notebook(), folder / name)
    if weights:
        (folder / LESSON.weights).write_bytes(COURSE.reference_weights(LESSON).read_bytes())
    return start(LESSON.id)


def test_the_release_carries_its_tests_and_settings():
    nb = nbformat.read(STUB, as_version=4)
    released_tests = {p.stem: p.read_text() for p in (STUB.parent / "tests").glob("*.py")}
    assert nb.metadata.otter.tests == released_tests and nb.metadata.otter.OK_FORMAT is False
    assert nb.metadata[METADATA_KEY]["files"]["lesson.yaml"] == (STUB.parent / "lesson.yaml").read_text()
    assert cell_source(nb.cells[0]).endswith(f'grader = start("{LESSON.id}")')


def test_checks_work_with_the_notebook_alone_from_another_directory(folder, tmp_path_factory, monkeypatch):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    grader = set_up(folder)
    monkeypatch.chdir(elsewhere)  # no tests/, no lesson.yaml here
    import torch

    answers = {"flat_features": lambda shape: shape[0] * shape[1] * shape[2]}
    result = grader.check("flatten", answers)
    assert result.grade == 1, result
    wrong = grader.check("flatten", {"flat_features": lambda shape: shape[1] * shape[2] * 3})
    assert wrong.grade < 1
    assert lesson_module.current_lesson().id == LESSON.id and torch  # the settings came from the notebook


def test_export_packs_the_notebook_and_the_weights_and_says_so(folder, capsys):
    grader = set_up(folder)
    zip_path = grader.export()
    line = capsys.readouterr().out.strip()
    assert re.fullmatch(rf"Wrote {LESSON.id}-submission\.zip: {LESSON.notebook} \(saved \d\d:\d\d:\d\d\) "
                        rf"\+ {LESSON.weights} \(\d+\.\d MB\)\. Submit this zip\.", line), line
    with zipfile.ZipFile(zip_path) as archive:
        assert sorted(archive.namelist()) == sorted([LESSON.notebook, LESSON.weights])
        assert archive.read(LESSON.notebook) == (folder / LESSON.notebook).read_bytes()
    assert not list(folder.glob("*.part"))


def test_a_renamed_download_beside_the_original_is_the_one_exported(folder, monkeypatch):
    nbformat.write(nbformat.read(STUB, as_version=4), folder / LESSON.notebook)   # the untouched first download
    renamed = f"{LESSON.id} (1).ipynb"
    monkeypatch.setenv("JPY_SESSION_NAME", str(folder / renamed))             # what Jupyter starts the kernel with
    grader = set_up(folder, name=renamed)
    with zipfile.ZipFile(grader.export()) as archive:
        assert archive.read(LESSON.notebook) == (folder / renamed).read_bytes()


def test_two_copies_and_no_word_from_jupyter_is_refused(folder):
    nbformat.write(nbformat.read(STUB, as_version=4), folder / LESSON.notebook)
    grader = set_up(folder, name=f"{LESSON.id} (1).ipynb")
    with pytest.raises(ExportRefused, match=r"2 notebooks of 'dense-mnist' are in .* name yours: "
                                            r'grader.export\(notebook="'):
        grader.export()
    assert grader.export(notebook=folder / f"{LESSON.id} (1).ipynb").is_file()


def test_the_untouched_stub_is_refused(folder):
    grader = set_up(folder, nbformat.read(STUB, as_version=4))
    with pytest.raises(ExportRefused, match="is the notebook as released, without any of your answers"):
        grader.export()
    assert not (folder / f"{LESSON.id}-submission.zip").exists()


def test_answers_still_holding_dots_are_refused_unless_unfinished(folder):
    notebook = worked_notebook()
    released = next(c.source for c in nbformat.read(STUB, as_version=4).cells if c.source.startswith("def linear_params"))
    answer = next(c for c in notebook.cells if c.source.startswith("def linear_params"))
    answer.source = released   # question 'parameters' left as released
    grader = set_up(folder, notebook)
    with pytest.raises(ExportRefused, match=r"still holds `\.\.\.` where an answer goes \(questions 'parameters'\)\. "
                                            r"Finish them, or submit what you have with grader.export\(unfinished=True\)"):
        grader.export()
    assert grader.export(unfinished=True).is_file()


def test_a_missing_or_damaged_weights_file_is_refused(folder):
    grader = set_up(folder, weights=False)
    with pytest.raises(ExportRefused, match=rf"{LESSON.weights} is not in .*: run the training cell"):
        grader.export()
    (folder / LESSON.weights).write_bytes(b"not a torch file")
    with pytest.raises(ExportRefused, match=rf"{LESSON.weights} cannot be read as weights"):
        grader.export()


def test_work_run_after_the_last_save_is_refused(folder):
    grader = set_up(folder)
    saved_at = (folder / LESSON.notebook).stat().st_mtime
    CELL_RUNS.runs += [(saved_at + 1, "x = 1  # an edit run, never saved")]
    with pytest.raises(ExportRefused, match=r'older than your work: the cell starting "x = 1  # an edit run, never '
                                            r'saved" ran after the last save .* Save the notebook'):
        grader.export()
    first_cell = cell_source(nbformat.read(folder / LESSON.notebook, as_version=4).cells[0])
    CELL_RUNS.runs[:] = [(saved_at + 1, first_cell)]   # re-running a saved cell is no unsaved work
    assert grader.export().is_file()


def test_a_failed_write_leaves_the_previous_zip_whole(folder, monkeypatch):
    grader = set_up(folder)
    before = grader.export().read_bytes()

    def broken(self, name, data, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(zipfile.ZipFile, "writestr", broken)
    with pytest.raises(OSError):
        grader.export()
    assert (folder / f"{LESSON.id}-submission.zip").read_bytes() == before
    assert not list(folder.glob(".*.part"))


def test_a_zip_that_reads_back_differently_is_refused(folder):
    set_up(folder)
    target = folder / "x.zip"
    export.write_zip(target, {LESSON.notebook: b"{}", LESSON.weights: b"1"})
    with pytest.raises(ExportRefused, match="does not hold what was written"):
        export.read_back(target, {LESSON.notebook: b"{}", LESSON.weights: b"2"}, LESSON.id)
