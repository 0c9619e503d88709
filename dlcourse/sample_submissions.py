"""Submissions made from a lesson's own material, for ``dlcourse demo`` and the test suite.

- the reference: the solution notebook with the reference weights;
- the untouched stub: the student notebook exactly as released, without weights;
- typical mistakes: ``assignments/<id>/mistakes.yaml`` lists them, each a few text edits of
  the solution notebook plus what grading must make of it::

      - name: wrong-width
        description: the second hidden layer has 128 neurons instead of 256
        edits:
          - {find: "nn.Linear(512, 256),", replace: "nn.Linear(512, 128),"}
        weights: untrained        # reference | untrained (run the edited notebook, save) | none
        demo: false               # true: in `dlcourse demo`'s default batch (weights reference or none there)
        expect:
          status: ok
          lose: {model: "should map 512 features to 256"}   # question -> phrase in its message

  A lesson with a design task submits its two design files too: the reference's, unless
  ``design: {description: untrained, weights: untrained}`` (each reference | untrained | none)
  says to take that file from the edited notebook's network as built, untrained
  (``save_design(own_model)``).
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml

from .course import Course
from .execute import execute_notebook
from .lesson import Lesson

MISTAKES_FILE = "mistakes.yaml"


@dataclass(frozen=True)
class Mistake:
    name: str
    description: str
    edits: list[tuple[str, str]]
    weights: str = "untrained"
    demo: bool = False
    expect: dict = field(default_factory=dict)
    design: dict = field(default_factory=dict)   # design file kind -> reference | untrained | none


def load_mistakes(lesson: Lesson) -> list[Mistake]:
    path = lesson.directory / MISTAKES_FILE
    if not path.is_file():
        return []
    entries = yaml.safe_load(path.read_text()) or []
    return [Mistake(name=e["name"], description=e["description"],
                    edits=[(edit["find"], edit["replace"]) for edit in e.get("edits", [])],
                    weights=e.get("weights", "untrained"), demo=bool(e.get("demo", False)),
                    expect=e.get("expect", {}), design=e.get("design", {})) for e in entries]


def reference_submission(course: Course, lesson: Lesson, folder: Path) -> Path:
    notebook = nbformat.read(course.solution_notebook(lesson.id), as_version=4)
    weights = course.reference_weights(lesson)
    return _zip(folder / "reference.zip", lesson, notebook, {weights.name: weights.read_bytes(),
                                                             **baseline_files(course, lesson),
                                                             **reference_design(course, lesson)})


def reference_design(course: Course, lesson: Lesson) -> dict[str, bytes]:
    """The design task's reference files (saved by ``dlcourse train``), if the lesson has one."""
    folder = course.solution_dir(lesson.id)
    return {name: (folder / name).read_bytes() for name in lesson.design_files if (folder / name).is_file()}


def baseline_files(course: Course, lesson: Lesson) -> dict[str, bytes]:
    """The baseline lesson's reference weights, which a lesson with a baseline submits too."""
    if not lesson.baseline:
        return {}
    weights = course.reference_weights(course.lesson(lesson.baseline))
    return {weights.name: weights.read_bytes()}


def stub_submission(course: Course, lesson: Lesson, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "untouched-stub.ipynb"
    shutil.copyfile(course.student_dir(lesson.id) / lesson.notebook, target)
    return target


def mistake_submission(course: Course, lesson: Lesson, mistake: Mistake, folder: Path,
                       data: Path | None = None) -> Path:
    """``mistake`` made of the solution; untrained weights come from running it on ``data``
    (default: the data directory the environment names)."""
    notebook = apply_edits(nbformat.read(course.solution_notebook(lesson.id), as_version=4), mistake.edits)
    if mistake.weights == "none":
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{mistake.name}.ipynb"
        nbformat.write(notebook, target)
        return target
    assert lesson.weights, f"lesson {lesson.id} submits no weights"
    untrained: dict[str, bytes] = {}
    if mistake.weights == "untrained" or "untrained" in mistake.design.values():
        untrained = untrained_files(course, lesson, notebook, data)
    weights = untrained if mistake.weights == "untrained" else {lesson.weights: course.reference_weights(lesson).read_bytes()}
    design = reference_design(course, lesson)
    for kind, source in mistake.design.items():
        name = getattr(lesson.design, kind)
        design.pop(name, None)
        if source == "untrained" and name in untrained:
            design[name] = untrained[name]
    files = {lesson.weights: weights[lesson.weights], **baseline_files(course, lesson), **design}
    return _zip(folder / f"{mistake.name}.zip", lesson, notebook, files)


def apply_edits(notebook: nbformat.NotebookNode, edits: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """Replace each ``find`` text, which must occur exactly once among the code cells."""
    notebook = nbformat.from_dict(notebook)
    for find, replace in edits:
        cells = [c for c in notebook.cells if c.cell_type == "code" and find in c.source]
        count = sum(c.source.count(find) for c in cells)
        if count != 1:
            raise ValueError(f"the edit {find!r} matches {count} places in the solution, not 1")
        cells[0].source = cells[0].source.replace(find, replace)
    return notebook


def untrained_files(course: Course, lesson: Lesson, notebook: nbformat.NotebookNode,
                    data: Path | None = None) -> dict[str, bytes]:
    """What a student who never ran the training cells would save: their networks, initialised
    (the lesson's weights, and the design task's files where it has one)."""
    notebook = nbformat.from_dict(notebook)
    notebook.cells.append(nbformat.v4.new_code_cell(f'torch.save(model.state_dict(), "{lesson.weights}")'))
    if lesson.design:
        notebook.cells.append(nbformat.v4.new_code_cell("from dlcourse import save_design\nsave_design(own_model)"))
    with tempfile.TemporaryDirectory(prefix="dlcourse-untrained-") as scratch:
        folder = course.student_workspace(lesson, Path(scratch))
        nbformat.write(notebook, folder / lesson.notebook)
        execute_notebook(notebook, folder, skip_ignored=True, allow_errors=True, data=data)
        return {name: (folder / name).read_bytes() for name in [lesson.weights, *lesson.design_files]
                if name and (folder / name).is_file()}


def untrained_weights(course: Course, lesson: Lesson, notebook: nbformat.NotebookNode,
                      data: Path | None = None) -> bytes:
    """What a student who never ran the training cell would save: their network, initialised."""
    return untrained_files(course, lesson, notebook, data)[lesson.weights or ""]


def _zip(target: Path, lesson: Lesson, notebook: nbformat.NotebookNode, files: dict[str, bytes]) -> Path:
    """A submission shaped like ``grader.export()``'s zip: the notebook and the weights."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(lesson.notebook, nbformat.writes(notebook))
        for name, data in files.items():
            archive.writestr(name, data)
    return target
