"""OUT/notebooks across reruns into the same OUT: a reused result keeps its executed notebook
when its name changes, and no earlier run's notebook stays under a name that is now another
entry's. No kernel runs: a stand-in execution saves notebooks as the pipeline does."""

from __future__ import annotations

import hashlib
import os
import zipfile

import nbformat

from dlcourse.grading.batch import grade_batch
from dlcourse.grading.kept_notebooks import prepare_notebooks
from helpers.gradebooks import result


class Executed:
    """Grades nothing: each entry gets full marks and its executed notebook saved where the
    batch says, with its SHA-256 in the result, as the pipeline saves it; an entry whose label is
    in ``refused`` is refused (invalid-notebook) and saves none."""

    def __init__(self, refused: tuple[str, ...] = ()) -> None:
        self.refused = refused

    def run(self, autograder, jobs):
        for entry, options in jobs:
            graded = result(entry.label, 4, 4)
            if entry.label in self.refused:
                graded.status = "invalid-notebook"
            else:
                executed = f'{{"executed": "{entry.label}"}}'.encode()
                options.keep_notebook.parent.mkdir(parents=True, exist_ok=True)
                options.keep_notebook.write_bytes(executed)
                graded.notebook_sha256 = hashlib.sha256(executed).hexdigest()
            yield entry, graded


def test_a_reused_result_keeps_its_notebook_when_its_name_changes(tmp_path):
    """A reviewer's F4: run 1 grades dave.zip (notebooks/dave.ipynb); run 2 adds dave.ipynb, so
    dave.zip's notebook is now named dave (zip).ipynb, and dave.zip is reused, not rerun."""
    inbox, out = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    for name in ("dave.zip", "carol.zip"):
        with zipfile.ZipFile(inbox / name, "w") as archive:
            archive.writestr("dense-mnist.ipynb", nbformat.writes(nbformat.v4.new_notebook()))
    autograder = tmp_path / "dense-mnist-autograder.zip"
    autograder.write_bytes(b"stand-in")
    grade_batch(autograder, inbox, out, execution=Executed(), layout="plain", progress=False)
    assert sorted(p.name for p in (out / "notebooks").iterdir()) == ["carol.ipynb", "dave.ipynb"]

    nbformat.write(nbformat.v4.new_notebook(), inbox / "dave.ipynb")
    os.utime(inbox / "dave.ipynb", (1, 1))   # older than dave.zip: dave's row stays dave.zip's
    summary = grade_batch(autograder, inbox, out, execution=Executed(refused=("dave.ipynb",)), layout="plain",
                          progress=False)
    assert (summary.reused, summary.graded) == (2, 1)
    notebooks = out / "notebooks"
    assert sorted(p.name for p in notebooks.iterdir()) == ["carol.ipynb", "dave (zip).ipynb"], \
        "dave.zip's notebook under its new name, and none under dave.ipynb's, which was refused"
    assert (notebooks / "dave (zip).ipynb").read_text() == '{"executed": "dave.zip"}'
    page = out / "feedback" / "dave"
    assert "submission <code>dave.zip</code>" in (page / "feedback.html").read_text()
    assert (page / "graded-notebook.ipynb").read_text() == '{"executed": "dave.zip"}'


def test_notebooks_are_moved_by_their_digest_and_other_entries_names_are_cleared(tmp_path):
    """Names that swapped between runs each get their own notebook back; a file under a reused
    entry's name that is not its result's, and one under an entry about to be graded, go."""
    folder = tmp_path / "notebooks"
    folder.mkdir()

    def saved(name: str, text: str) -> str:
        (folder / name).write_text(text)
        return hashlib.sha256(text.encode()).hexdigest()

    a, b, c = result("a", 4, 4), result("b", 4, 4), result("c", 4, 4)
    a.notebook_sha256, b.notebook_sha256 = saved("y.ipynb", "a's"), saved("x.ipynb", "b's")   # swapped
    c.notebook_sha256 = hashlib.sha256(b"c's, lost").hexdigest()
    saved("z.ipynb", "someone else's")
    saved("old.ipynb", "d's, an earlier run")
    prepare_notebooks(folder, {"a": "x.ipynb", "b": "y.ipynb", "c": "z.ipynb", "d": "d.ipynb", "e": "old.ipynb"},
                      {"a": a, "b": b, "c": c}, ["e"])
    assert {p.name: p.read_text() for p in folder.iterdir()} == {"x.ipynb": "a's", "y.ipynb": "b's"}
