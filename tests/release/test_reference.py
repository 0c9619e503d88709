"""`dlcourse train`'s run of a solution notebook, with the kernel replaced by a stand-in that
plays back outputs (a real run is 20 minutes): what counts as a failure, what is kept of it,
and where the training is recorded."""

import json

import nbformat
import pytest

from dlcourse import reference
from dlcourse.execute import NotebookFailed
from dlcourse.reference import RECORD_HISTORY, train_reference

LESSON = "regularization"  # has optional cells (ablations, a challenge)


def play_back(lesson, *, check_passes: bool, extra_error: bool, seen: dict):
    """An execute_notebook that writes what a training run leaves and gives each cell an output."""

    def execute(nb, folder, **options):
        seen["cells"], seen["options"] = nb.cells, options
        (folder / lesson.weights).write_bytes(b"weights")
        (folder / "history.json").write_text(json.dumps({"test_accuracy": 0.741, "seconds": [1.0]}))
        nb = nbformat.from_dict(nb)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            if cell.source.startswith("grader.check("):
                text = "All test cases passed!" if check_passes else "results: ❌ Test case failed"
                cell.outputs = [nbformat.v4.new_output("stream", text=text)]
            elif extra_error and "challenge" in cell.metadata.get("tags", []):
                cell.outputs = [nbformat.v4.new_output("error", ename="ValueError", evalue="boom", traceback=[])]
        return nb

    return execute


def test_a_failing_check_keeps_the_run_to_read_and_says_the_accuracy(course, monkeypatch, tmp_path):
    lesson, seen = course.lesson(LESSON), {}
    monkeypatch.setattr(reference, "execute_notebook", play_back(lesson, check_passes=False, extra_error=False,
                                                                 seen=seen))
    monkeypatch.setattr(reference.tempfile, "gettempdir", lambda: str(tmp_path))
    with pytest.raises(NotebookFailed) as failure:
        train_reference(course, lesson, extras=True)
    assert "test accuracy 74.10%" in str(failure.value) and "Test case failed" in str(failure.value)
    assert (tmp_path / f"{LESSON}-solution-failed.ipynb").is_file()


def test_an_optional_cell_that_fails_is_reported_and_the_training_is_recorded_before_it(course, monkeypatch):
    lesson, seen = course.lesson(LESSON), {}
    monkeypatch.setattr(reference, "execute_notebook", play_back(lesson, check_passes=True, extra_error=True,
                                                                 seen=seen))
    run = train_reference(course, lesson, extras=True)
    assert run.weights == b"weights" and run.history["test_accuracy"] == 0.741
    assert run.extra_errors and all("ValueError: boom" in error for error in run.extra_errors)
    assert seen["options"] == {"allow_errors": True}  # so an optional cell's error is reported, not fatal
    sources = [c.source for c in seen["cells"]]
    first_extra = next(i for i, c in enumerate(seen["cells"]) if reference._is_extra(c))
    assert sources.index(RECORD_HISTORY) == first_extra - 1, "the training must be recorded before the optional cells"
    assert RECORD_HISTORY not in [c.source for c in run.notebook.cells]


def test_calibration_runs_leave_the_optional_cells_out(course, monkeypatch):
    lesson, seen = course.lesson(LESSON), {}
    monkeypatch.setattr(reference, "execute_notebook", play_back(lesson, check_passes=True, extra_error=False,
                                                                 seen=seen))
    run = train_reference(course, lesson, seed=1)
    assert not any(reference._is_extra(c) for c in seen["cells"])
    assert seen["cells"][-1].source == RECORD_HISTORY and "SEED = 1" in "".join(c.source for c in run.notebook.cells)
