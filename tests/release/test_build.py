"""The build: generated material is reproducible, and committed copies equal a fresh build."""

import zipfile

import nbformat

from dlcourse.release import build, check


def test_committed_generated_files_equal_a_fresh_build(course):
    drifted = check(course)
    assert drifted == [], f"regenerate with `dlcourse build`: {drifted}"


def test_two_builds_give_identical_bytes(course, tmp_path):
    first, second = tmp_path / "one", tmp_path / "two"
    build(course, ["dense-mnist"], first)
    build(course, ["dense-mnist"], second)
    for path in sorted(p for p in first.rglob("*") if p.is_file()):
        assert path.read_bytes() == (second / path.relative_to(first)).read_bytes(), path


def test_autograder_zip_has_gradescope_layout(course):
    for lesson_id in course.lesson_ids():
        with zipfile.ZipFile(course.autograder_zip(lesson_id)) as archive:
            names = set(archive.namelist())
            assert {"setup.sh", "run_autograder", "requirements.txt", "manifest.json",
                    "files/lesson.yaml", "dlcourse-src/pyproject.toml", "dlcourse-src/dlcourse/__init__.py"} <= names
            assert any(n.startswith("tests/") for n in names)
            mode = archive.getinfo("run_autograder").external_attr >> 16
            assert mode & 0o111, "run_autograder must be executable"
            assert not any("sample_data" in n for n in names)
            assert "otter_config.json" not in names, "nothing in the zip reads Otter's config"


def test_the_autograder_carries_only_what_grading_needs(course, tmp_path):
    """Build and calibration code stays out of the zip (editing it changes no zip), and the
    grading entry points and the students' helpers import from what the zip carries."""
    import subprocess
    import sys

    from dlcourse.release.autograder import NOT_FOR_GRADING

    with zipfile.ZipFile(course.autograder_zip("dense-mnist")) as archive:
        names = [n.removeprefix("dlcourse-src/") for n in archive.namelist() if n.startswith("dlcourse-src/")]
        archive.extractall(tmp_path, [f"dlcourse-src/{n}" for n in names])
    assert not [n for n in names if n.startswith(NOT_FOR_GRADING)]
    modules = ["dlcourse.cli", "dlcourse.grading.gradescope", "dlcourse.grading.judge", "dlcourse.grading.notebook_run",
               "dlcourse.grading.oracle", "dlcourse.grading.proxies", "dlcourse.grading.cleanroom",
               "dlcourse.checks.accuracy", "dlcourse.checks.architecture", "dlcourse.data", "dlcourse.training",
               "dlcourse.plots", "dlcourse.model_summary", "dlcourse.seeding"]
    # The venv's editable install would supply any module the zip lacks: leave it out.
    script = ("import importlib, sys\nsys.meta_path = [f for f in sys.meta_path if 'editable' not in repr(f)]\n"
              f"import dlcourse\nassert dlcourse.__file__.startswith({str(tmp_path)!r}), dlcourse.__file__\n"
              f"for name in {modules!r}: importlib.import_module(name)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path / "dlcourse-src")})
    assert done.returncode == 0, done.stderr[-2000:]


def test_executed_solutions_ran_the_solutions_code(course):
    """solutions/<id>/<id>-solution-executed.ipynb is what `dlcourse train` ran: the reference
    weights and the figures the lessons quote (times, ablations) come from it. Once the
    solution's code changes, they no longer describe it; retrain."""

    from dlcourse.reference import EXTRA_TAGS

    for lesson_id in course.lesson_ids():
        solution = nbformat.read(course.solution_notebook(lesson_id), as_version=4)
        executed = nbformat.read(course.executed_solution(lesson_id), as_version=4)
        code = [[c.source for c in nb.cells if c.cell_type == "code"] for nb in (solution, executed)]
        assert code[0] == code[1], f"run `dlcourse train {lesson_id}`: its executed solution predates its code"
        to_run = [c for c in executed.cells if c.cell_type == "code" and c.source.strip()]  # nbclient skips blanks
        ran = [c for c in to_run if "execution" in c.metadata]
        assert len(ran) == len(to_run), f"run `dlcourse train {lesson_id}`: not every cell ran ({EXTRA_TAGS} too)"


def test_a_text_edit_reaches_the_executed_solution_without_retraining(tmp_path):
    """The build copies the solution's text into the executed solution while its code is the
    code that ran (outputs kept); once the code changed, it leaves the notebook for `train`."""
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    from dlcourse.release import _executed_solution

    def notebooks(text, code, output=None, note=None):
        cell = new_code_cell(code, outputs=[new_output("stream", text=output)] if output else [])
        return new_notebook(cells=[new_markdown_cell(text), cell, *([new_markdown_cell(note)] if note else [])])

    (tmp_path / "ran").mkdir()
    executed, solution = tmp_path / "ran" / "executed.ipynb", tmp_path / "solution.ipynb"
    nbformat.write(notebooks("An epoch takes 2 minutes.", "fit()", "epoch 1/1"), executed)
    for code, texts in (("fit()", ["An epoch takes 3 minutes.", "A new note."]),
                        ("fit(epochs=2)", ["An epoch takes 2 minutes."])):
        nbformat.write(notebooks("An epoch takes 3 minutes.", code, note="A new note."), solution)
        _executed_solution(executed, solution)
        written = nbformat.read(tmp_path / "executed.ipynb", as_version=4)
        assert [c.source for c in written.cells if c.cell_type == "markdown"] == texts
        assert written.cells[1].source == "fit()" and written.cells[1].outputs[0].text == "epoch 1/1"
