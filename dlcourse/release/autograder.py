"""Step 5 of the build: the autograder zip an instructor uploads to Gradescope as it is.

Layout (Gradescope unpacks it into ``/autograder/source``)::

    setup.sh             builds the image once: Python, CPU-only torch, pinned packages, dataset
    run_autograder       grades one submission: ``python -m dlcourse.grading.gradescope``
    requirements.txt     the pinned grading environment
    tests/               every test, hidden ones included
    manifest.json        questions, tests and points as Otter resolves them, and the questions
                         graded by hand (grading/manifest.py)
    grading.key          the key hidden tests' randomness derives from (grading/randomness.py)
    files/               support files copied next to the submission (lesson.yaml)
    dlcourse-src/        the toolkit's modules that grading and the students' notebooks use,
                         installed with --no-deps (not the build, calibration or demo: editing
                         those does not change the zips)

Otter Assign's ``otter_config.json`` is left out: nothing in this zip reads it (the grader is
``dlcourse.grading.gradescope``, not Otter's ``run_autograder``; points come from manifest.json).
Entries are sorted and carry a fixed timestamp, so the same sources give the same bytes.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import dlcourse

from ..grading.gradescope import limits
from ..grading.manifest import MANIFEST, Manifest
from ..grading.randomness import KEY_FILE, make_key
from ..lesson import Lesson
from .assign import assignment_config

TEMPLATES = Path(__file__).parent / "templates"
PACKAGE_DIR = Path(dlcourse.__file__).parent
GRADESCOPE_DATA_DIR = "/opt/dlcourse-data"
TORCH_REQUIREMENTS = "torch==2.14.1 torchvision==0.29.1"
# The oldest Python the grader runs: Colab's (notebooks written there may use its syntax, such
# as PEP 701's f-strings). A master's python_version may ask for a newer one, never an older.
GRADER_PYTHON = "3.12"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
# Modules of the toolkit that only an instructor's machine runs (tests/release/test_build.py checks that
# the grading entry points import without them).
NOT_FOR_GRADING = ("dlcourse/release/", "dlcourse/calibration.py", "dlcourse/course.py", "dlcourse/demo.py",
                   "dlcourse/reference.py", "dlcourse/sample_submissions.py")


def write_autograder_zip(lesson: Lesson, dist: Path, manifest: Manifest, zip_path: Path) -> Path:
    limits(lesson, environ={})  # a lesson whose Gradescope limits leave no time to grade fails the build
    ag = dist / "autograder"
    student = dist / "student"
    values = {
        "lesson_id": lesson.id,
        "python_version": grader_python(str(assignment_config(lesson.directory / lesson.notebook)
                                            .get("python_version", GRADER_PYTHON))),
        "torch_requirements": TORCH_REQUIREMENTS,
        "data_dir": GRADESCOPE_DATA_DIR,
        "dataset": lesson.dataset,
        "version": dlcourse.__version__,
    }
    entries: dict[str, tuple[bytes, int]] = {
        "setup.sh": (_template("setup.sh", values), 0o755),
        "run_autograder": (_template("run_autograder", values), 0o755),
        "requirements.txt": ((TEMPLATES / "requirements.txt").read_bytes(), 0o644),
        "dlcourse-src/pyproject.toml": (_template("pyproject.toml", values), 0o644),
    }
    entries[MANIFEST] = (manifest.to_json().encode(), 0o644)
    entries[KEY_FILE] = (make_key(lesson.directory).read_bytes(), 0o600)
    for test in sorted((ag / "tests").glob("*.py")):
        entries[f"tests/{test.name}"] = (test.read_bytes(), 0o644)
    for support in sorted(student.iterdir()):
        if support.is_file() and support.suffix != ".ipynb":
            entries[f"files/{support.name}"] = (support.read_bytes(), 0o644)
    for source in sorted(PACKAGE_DIR.rglob("*.py")):
        rel = source.relative_to(PACKAGE_DIR.parent).as_posix()
        if not rel.startswith(NOT_FOR_GRADING):
            entries[f"dlcourse-src/{rel}"] = (source.read_bytes(), 0o644)

    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name in sorted(entries):
            data, mode = entries[name]
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.external_attr = (0o100000 | mode) << 16  # a regular file with these permissions
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return zip_path


def grader_python(asked: str) -> str:
    """The Python version setup.sh installs: the master's ``python_version``, at least
    :data:`GRADER_PYTHON`."""
    def key(version: str) -> tuple[int, ...]:
        return tuple(int(part) for part in version.split(".")[:2] if part.isdigit())

    return max(asked, GRADER_PYTHON, key=key)


def _template(name: str, values: dict[str, str]) -> bytes:
    return (TEMPLATES / name).read_text().format(**values).encode()
