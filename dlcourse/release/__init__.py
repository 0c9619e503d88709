"""``dlcourse build``: a lesson's master notebook becomes its student release, solution and autograder.

The steps, in order, for each lesson:

0. ``validate``    lesson.yaml, the master's config, text and tests agree (validate.py);
1. ``assign``      run Otter Assign on a copy of ``assignments/<id>/``, without running
                   the tests (the master's training cells must not run at build time);
2. ``normalize``   make Otter's notebooks byte-for-byte reproducible; ``embed``: the toolkit's
                   first and export cells, and the public tests and settings in the metadata;
3. ``release``     ``student_template/<id>/``: stub notebook, public tests, support files;
4. ``solution``    ``solutions/<id>/<id>-solution.ipynb``, and the text of the executed
                   solution next to it (its code and outputs come from ``dlcourse train``);
5. ``autograder``  ``autograder/<id>/<id>-autograder.zip``, laid out as Gradescope expects.

Everything written is a pure function of the repository, so ``check`` can rebuild into a
scratch folder and report any committed file that drifted from its source.
"""

from __future__ import annotations

import filecmp
import shutil
import tempfile
from pathlib import Path

import nbformat

from ..course import Course
from ..grading.manifest import read_tests
from ..lesson import Lesson
from .assign import manual_questions, run_otter_assign
from .autograder import write_autograder_zip
from .embed import embed, listed
from .notebooks import normalize_notebook
from .validate import check_sources, check_tests

STUDENT_README = """\
# {title}

`{notebook}` is all you need: it carries its checks and settings, so it works on its own in
JupyterLab, Jupyter, a JupyterHub or Google Colab, from any folder.

**On Colab:** upload the notebook (File > Upload notebook) and run its cells from the top: the
first one installs the course toolkit. For a GPU: Runtime > Change runtime type > GPU.

**On your own computer,** once, in a terminal (on Windows, `dl-env\\Scripts\\activate`
instead of `. dl-env/bin/activate`):

<!-- student install -->
```sh
python3 -m venv dl-env
. dl-env/bin/activate
pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu
pip install "dlcourse[student] @ {toolkit_url}"
```

The third line installs PyTorch's CPU build, which every laptop runs: the environment then
takes about 1.6 GB. With an NVIDIA GPU, leave it out: the fourth line then installs PyTorch's
GPU build (about 6 GB in all). The
fourth installs the course toolkit from your course's own address, with JupyterLab; never
`pip install dlcourse` by name, which could fetch somebody else's package. Then, each time:
`. dl-env/bin/activate` and `jupyter lab {notebook}`.

1. Work through the notebook. After each question, its `grader.check(...)` cell tests your
   answer; more tests run when your submission is graded.
2. Run the training cell: it saves `{weights}`, the weights your network learned.{baseline}
3. Save the notebook (Ctrl+S), then run the last cell. It writes `{lesson_id}-submission.zip`
   with the notebook and {submitted} (on Colab, it downloads itself): submit that zip.
"""
BASELINE_NOTE = """
   Copy `{weights}`, the weights you trained in lesson {lesson}, into this folder too."""


def build(course: Course, lesson_ids: list[str] | None = None, out: Path | None = None) -> list[Path]:
    """Build the given lessons (default: all) into ``out`` (default: the course itself)."""
    out = out or course.root
    written: list[Path] = []
    for lesson in course.lessons(lesson_ids):
        written += build_lesson(course, lesson, out)
    return written


def build_lesson(course: Course, lesson: Lesson, out: Path) -> list[Path]:
    check_sources(lesson)
    with tempfile.TemporaryDirectory(prefix=f"dlcourse-build-{lesson.id}-") as scratch:
        dist = run_otter_assign(lesson, Path(scratch))
        manifest = read_tests(lesson.id, dist / "autograder" / "tests", lesson.verified_questions,
                              manual_questions(lesson.directory / lesson.notebook))
        check_tests(lesson, manifest, dist / "autograder")
        for notebook in dist.glob("*/*.ipynb"):
            normalize_notebook(notebook)
        embed(lesson, dist / "student", [dist / "student" / lesson.notebook, dist / "autograder" / lesson.notebook],
              course.toolkit_url)
        student = _release(lesson, dist / "student", out / "student_template" / lesson.id, course.toolkit_url)
        solution = _solution(lesson, dist / "autograder", out / "solutions" / lesson.id)
        _executed_solution(course.executed_solution(lesson.id), solution)
        autograder = out / "autograder" / lesson.id
        _replace_dir(autograder)
        zip_path = write_autograder_zip(lesson, dist, manifest, autograder / f"{lesson.id}-autograder.zip")
    return [student, solution, zip_path]


def check(course: Course, lesson_ids: list[str] | None = None) -> list[str]:
    """Committed generated files that differ from a fresh build, as repository-relative paths."""
    ids = lesson_ids or course.lesson_ids()
    with tempfile.TemporaryDirectory(prefix="dlcourse-build-check-") as scratch:
        fresh = Path(scratch)
        build(course, ids, fresh)
        drifted = []
        for lesson_id in ids:
            for rel in (f"student_template/{lesson_id}", f"autograder/{lesson_id}",
                        f"solutions/{lesson_id}/{lesson_id}-solution.ipynb",
                        course.executed_solution(lesson_id).relative_to(course.root).as_posix()):
                drifted += _differences(course.root / rel, fresh / rel, rel)
    return drifted


def _release(lesson: Lesson, student_dist: Path, target: Path, toolkit_url: str) -> Path:
    _replace_dir(target)
    shutil.copytree(student_dist, target, dirs_exist_ok=True)
    baseline = lesson.baseline_lesson()
    (target / "README.md").write_text(STUDENT_README.format(
        title=lesson.title, notebook=lesson.notebook, weights=lesson.weights, lesson_id=lesson.id,
        toolkit_url=toolkit_url,
        baseline=BASELINE_NOTE.format(weights=baseline.weights, lesson=baseline.id) if baseline else "",
        submitted=listed([f"`{name}`" for name in lesson.submitted_files + lesson.design_files])))
    return target


def _solution(lesson: Lesson, autograder_dist: Path, target_dir: Path) -> Path:
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"{lesson.id}-solution.ipynb"
    shutil.copyfile(autograder_dist / lesson.notebook, target)
    return target


def _executed_solution(executed_path: Path, solution: Path) -> None:
    """Write the executed solution beside ``solution``: the fresh solution with the run's outputs.

    Retraining takes up to half an hour, a text edit should not need it: while the code cells
    are still the ones that ran (same sources, same order), the fresh solution's cells (text,
    tags) get each code cell's outputs and timing from the run. Once the code differs, the
    executed notebook is copied as it is, and ``test_executed_solutions_ran_the_solutions_code``
    asks for ``dlcourse train``.
    """
    if not executed_path.is_file():
        return
    executed = nbformat.read(executed_path, as_version=4)
    fresh = nbformat.read(solution, as_version=4)
    ran = [c for c in executed.cells if c.cell_type == "code"]
    current = [c for c in fresh.cells if c.cell_type == "code"]
    if [c.source for c in ran] == [c.source for c in current]:
        for before, cell in zip(ran, current):
            cell.outputs, cell.execution_count = before.outputs, before.execution_count
            if "execution" in before.metadata:
                cell.metadata["execution"] = before.metadata["execution"]
        fresh.metadata.update({k: executed.metadata[k] for k in ("language_info", "widgets") if k in executed.metadata})
        executed = fresh
    nbformat.write(executed, solution.parent / executed_path.name)


def _replace_dir(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)


def _differences(committed: Path, fresh: Path, rel: str) -> list[str]:
    if fresh.is_file() or committed.is_file():
        same = committed.is_file() and fresh.is_file() and filecmp.cmp(committed, fresh, shallow=False)
        return [] if same else [rel]
    if not committed.is_dir():
        return [rel]
    names = {p.relative_to(committed) for p in committed.rglob("*") if p.is_file()}
    names |= {p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file()}
    return [f"{rel}/{n}" for n in sorted(names)
            if not ((committed / n).is_file() and (fresh / n).is_file()
                    and filecmp.cmp(committed / n, fresh / n, shallow=False))]
