"""On Gradescope, the student's kernel cannot read the hidden tests or the autograder: with
bubblewrap (where the container allows it) they are not in its view, and by permissions
(where it does not) their folders are closed to the unprivileged user the kernel runs as."""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile

import nbformat
import pytest

from dlcourse.grading.gradescope import close_grader_folders
from helpers.gradescope import COURSE, run_autograder, total, unpack

PROBE = """\
import glob
found = []
for pattern in ({source!r} + "/tests/*.py", {source!r} + "/dlcourse-src/**/*.py", {source!r} + "/*",
                "/autograder/source/tests/*.py", {results!r} + "/*"):
    for path in glob.glob(pattern, recursive=True):
        try:
            open(path, "rb").read(1)
            found.append(path)
        except OSError:
            pass
assert not found, f"LEAKED {{found[:3]}}"
print("nothing of the autograder is readable")
"""


@pytest.mark.slow
def test_the_kernel_cannot_read_the_hidden_tests_or_the_autograder(tmp_path):
    lesson = COURSE.lesson("dense-mnist")
    tree = tmp_path / "autograder"
    notebook = nbformat.read(COURSE.solution_notebook(lesson.id), as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(PROBE.format(source=str(tree / "source"),
                                                                 results=str(tree / "results"))))
    submission = tmp_path / "in" / "submission.zip"
    submission.parent.mkdir()
    with zipfile.ZipFile(submission, "w") as archive:
        archive.writestr(lesson.notebook, nbformat.writes(notebook))
        archive.write(COURSE.reference_weights(lesson), lesson.weights)
    results = run_autograder(unpack(lesson.id, tmp_path, submission))
    assert "LEAKED" not in results["output"], results["output"]
    score, possible = total(results)
    assert score == possible > 0, results["output"]


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to switch users")
def test_without_namespaces_the_autograder_folders_are_closed_to_the_kernels_user(tmp_path):
    """What guards the hidden tests inside Gradescope's container: permissions, checked here
    with a real unprivileged user reading through a system program."""
    root = tmp_path / "autograder"
    with zipfile.ZipFile(COURSE.autograder_zip("dense-mnist")) as archive:
        archive.extractall(root / "source")
    (root / "results").mkdir()
    (root / "results" / "results.json").write_text("{}")
    for folder in (tmp_path, root):
        os.chmod(folder, 0o755)  # everything above is open, as /autograder is on Gradescope
    close_grader_folders(root)
    for path in (root / "source" / "tests" / "model.py", root / "source" / "manifest.json",
                 root / "results" / "results.json"):
        done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", "cat", str(path)],
                              capture_output=True, text=True)
        assert done.returncode != 0 and "Permission denied" in done.stderr, path
