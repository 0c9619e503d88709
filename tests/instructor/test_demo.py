"""`dlcourse demo`, README's first command: what it grades, and that the rows it prints are
the grades the grader gives."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pytest
import yaml

from dlcourse.cli import main
from dlcourse.course import Course
from dlcourse.demo import plan
from dlcourse.sample_submissions import load_mistakes
from helpers.paths import ROOT, data_dir_set_to

LESSON = "dense-mnist"


def _course_with(root: Path, lessons: dict[str, list[dict]], weights: tuple[str, ...] = ()) -> Course:
    """A course of copies of ``LESSON`` under other ids, each with ``lessons[id]`` as its
    mistakes.yaml; reference weights only for the ids in ``weights``."""
    for lesson_id, mistakes in lessons.items():
        folder = root / "assignments" / lesson_id
        folder.mkdir(parents=True)
        settings = yaml.safe_load((ROOT / "assignments" / LESSON / "lesson.yaml").read_text())
        (folder / "lesson.yaml").write_text(yaml.safe_dump({**settings, "id": lesson_id}))
        (folder / "mistakes.yaml").write_text(yaml.safe_dump(mistakes))
        if lesson_id in weights:
            (root / "solutions" / lesson_id).mkdir(parents=True)
            (root / "solutions" / lesson_id / settings["weights"]).write_bytes(b"weights")
    return Course(root)


def _mistake(name: str, demo: bool = False) -> dict:
    return {"name": name, "description": name, "edits": [], "weights": "reference", "demo": demo}


def _planned(course: Course, lessons: list[str] | None = None, every: bool = False) -> dict[str, list[str]]:
    return {batch.lesson.id: [m.name for m in batch.mistakes] for batch in plan(course, lessons, every)}


def test_by_default_only_the_lessons_with_mistakes_marked_demo_are_graded_with_those_mistakes(tmp_path):
    course = _course_with(tmp_path, {"a": [_mistake("a1"), _mistake("a2")],
                                     "b": [_mistake("b1"), _mistake("b2", demo=True)],
                                     "c": [_mistake("c1", demo=True)]}, weights=("a", "b"))
    assert _planned(course) == {"b": ["b2"]}   # c is left out: no reference weights to submit


def test_naming_lessons_or_all_grades_every_mistake_of_them(tmp_path):
    course = _course_with(tmp_path, {"a": [_mistake("a1"), _mistake("a2")],
                                     "b": [_mistake("b1"), _mistake("b2", demo=True)]}, weights=("a", "b"))
    assert _planned(course, ["a"]) == {"a": ["a1", "a2"]}
    assert _planned(course, every=True) == {"a": ["a1", "a2"], "b": ["b1", "b2"]}


def test_without_marked_mistakes_the_first_lesson_is_shown_with_its_reference_and_stub(tmp_path):
    course = _course_with(tmp_path, {"a": [_mistake("a1")], "b": [_mistake("b1")]}, weights=("a", "b"))
    assert _planned(course) == {"a": []}


def test_the_default_demo_trains_nothing(course):
    """README's first command fits its time (benchmarks/README.md) because its mistakes submit
    the reference weights or none: a mistake with untrained weights runs its notebook first."""
    batches = plan(course)
    assert batches and all(batch.mistakes for batch in batches)
    for batch in batches:
        for mistake in batch.mistakes:
            assert mistake.weights in ("reference", "none"), mistake.name
            assert "untrained" not in mistake.design.values(), mistake.name
    shown = [m for batch in batches for m in batch.mistakes]
    assert sum(1 for m in shown if m.expect.get("status") == "error") >= 1, "the demo shows a crash"
    assert len(shown) <= 3, "each submission costs seconds of README's first command"


def _printed_rows(stdout: str) -> dict[str, tuple[str, float, float, str]]:
    """The demo's table: submission -> (status, score, possible, the rest of the line)."""
    rows = {}
    for line in stdout.splitlines():
        match = re.match(r"\s+(\S+\.(?:zip|ipynb))\s+(\S+)\s+([\d.]+)/([\d.]+)\s*(.*)$", line)
        if match:
            rows[match[1]] = (match[2], float(match[3]), float(match[4]), match[5])
    return rows


@pytest.mark.slow
def test_the_demo_on_a_fresh_clone_prints_the_grades_of_its_batch(tmp_path, capsys):
    """As README's first command runs it: the bundled sample (an empty data folder), the
    lesson's reference weights, and every file it grades made by the demo itself."""
    root = tmp_path / "course"
    shutil.copytree(ROOT / "assignments" / LESSON, root / "assignments" / LESSON)
    lesson = Course(ROOT).lesson(LESSON)
    (root / "solutions" / LESSON).mkdir(parents=True)
    shutil.copy(ROOT / "solutions" / LESSON / lesson.weights, root / "solutions" / LESSON)
    shutil.copy(ROOT / "course.yaml", root)
    empty = tmp_path / "no-data"
    empty.mkdir()
    out = tmp_path / "demo-output"
    earlier = out / LESSON / "submissions" / "wrong-width.zip"   # left by an earlier `dlcourse demo --all`
    earlier.parent.mkdir(parents=True)
    shutil.copy(ROOT / "solutions" / LESSON / lesson.weights, earlier)
    with data_dir_set_to(empty):
        assert main(["--course", str(root), "demo", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "so the bundled sample is used" in printed
    rows = _printed_rows(printed)
    shown = [m for m in load_mistakes(lesson) if m.demo]
    assert sorted(rows) == sorted(["reference.zip", "untouched-stub.ipynb", *(f"{m.name}.zip" for m in shown)])
    status, score, possible, _ = rows["reference.zip"]
    assert status == "ok" and score == possible > 0
    assert rows["untouched-stub.ipynb"][:2] == ("missing-weights", 0)
    for mistake in shown:
        status, score, possible, rest = rows[f"{mistake.name}.zip"]
        assert status == mistake.expect["status"], rest
        assert 0 < score < possible, mistake.name
        if "reason" in mistake.expect:
            assert mistake.expect["reason"] in rest
        else:
            assert all(f"{question} " in rest for question in mistake.expect["lose"]), rest
    grades = out / LESSON / "grades"
    assert f"report:    {grades / 'report.html'}" in printed and (grades / "report.html").is_file()
    with open(grades / "gradebook.csv", newline="") as file:
        gradebook = {row["submission"]: (row["status"], float(row["score"]), float(row["possible"]))
                     for row in csv.DictReader(file)}
    assert gradebook == {name: row[:3] for name, row in rows.items()}   # the printed rows are the gradebook's
