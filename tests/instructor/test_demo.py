"""`dlcourse demo`, README's first command: what it grades, and that the rows it prints are
the grades the grader gives."""

from __future__ import annotations

import csv
import gzip
import pickle
import re
import shlex
import shutil
from pathlib import Path

import pytest
import yaml

from dlcourse.cli import main
from dlcourse.course import Course
from dlcourse.demo import SAMPLE_TEST_IMAGES, DemoBatch, course_copy, plan, shared_weights_note
from dlcourse.sample_submissions import Mistake, load_mistakes
from dlcourse.settings import SAMPLE_DIR
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


def test_the_demo_builds_into_a_copy_of_the_course_and_leaves_the_checkouts_files_as_they_are(tmp_path):
    """An instructor's hand edit to a generated file must not vanish because the demo ran."""
    root = tmp_path / "checkout"
    course = _course_with(root, {"a": [_mistake("a1")]}, weights=("a",))
    shutil.copy(ROOT / "course.yaml", root)
    edited = root / "autograder" / "a" / "a-autograder.zip"
    edited.parent.mkdir(parents=True)
    edited.write_bytes(b"the instructor's own zip")
    out = tmp_path / "demo-output"
    (out / "course" / "autograder").mkdir(parents=True)   # an earlier run's build: replaced
    copy = course_copy(course, out / "course")
    assert copy.root == out / "course" and copy.lesson_ids() == ["a"]
    assert copy.reference_weights(copy.lesson("a")).read_bytes() == b"weights"
    assert not (out / "course" / "autograder").exists()   # what was built there is the copy's own build
    assert edited.read_bytes() == b"the instructor's own zip"


def test_the_demo_says_why_the_report_lists_its_mistakes_as_copies_of_the_reference():
    lesson = Course(ROOT).lesson(LESSON)
    shared = Mistake("same-weights", "", [], weights="reference")
    note = shared_weights_note(DemoBatch(lesson, [shared, Mistake("no-weights", "", [], weights="none")]))
    assert note and "same-weights.zip" in note and "no-weights" not in note and "Possible copies" in note
    assert shared_weights_note(DemoBatch(lesson, [Mistake("own", "", [], weights="untrained")])) is None


def test_the_demo_states_the_bundled_samples_test_set_sizes_as_they_are():
    with gzip.open(SAMPLE_DIR / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz") as labels:
        mnist = int.from_bytes(labels.read(8)[4:], "big")   # the idx header: magic, then the count
    with open(SAMPLE_DIR / "cifar-10-batches-py" / "test_batch", "rb") as batch:
        cifar = len(pickle.load(batch, encoding="bytes")[b"labels"])
    assert SAMPLE_TEST_IMAGES == {"MNIST": mnist, "CIFAR-10": cifar}


def test_the_bundled_sample_passes_the_data_check_and_a_partial_copy_of_it_does_not(tmp_path):
    """The sample holds one CIFAR-10 training batch of five: the demo's batches can be graded
    again on it with `dlcourse grade`, while a course's own folder must still hold all five."""
    from dlcourse.demo import regrade_command
    from dlcourse.grading.preflight import PreflightProblem, check_data

    course = Course(ROOT)
    cifar = course.lesson("cifar-cnn")
    check_data(cifar, SAMPLE_DIR)   # refused before: data_batch_2 not found
    partial = tmp_path / "data"
    shutil.copytree(SAMPLE_DIR, partial)
    with pytest.raises(PreflightProblem, match="data_batch_2 not found"):
        check_data(cifar, partial)
    on_sample = regrade_command(course, cifar, tmp_path / "subs", SAMPLE_DIR, tmp_path / "out")
    assert f"grade {tmp_path / 'subs'} --lesson cifar-cnn --data {SAMPLE_DIR} --out" in on_sample
    assert "--data" not in regrade_command(course, cifar, tmp_path / "subs", partial, tmp_path / "out"), \
        "a configured data folder is the one `dlcourse grade` reads anyway"


def test_demo_help_says_what_it_builds_where_and_what_the_lessons_are(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "default: demo-output" in shown and "OUT/course" in shown and "checkout is left as it is" in shown
    assert "folder names under assignments/" in shown


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
    assert sorted(p.name for p in root.iterdir()) == ["assignments", "course.yaml", "solutions"]   # nothing built there
    assert sorted(p.name for p in (root / "solutions" / LESSON).iterdir()) == [lesson.weights]
    assert f"into a copy of the course, {out / 'course'}" in printed
    rows = _printed_rows(printed)
    shown = [m for m in load_mistakes(lesson) if m.demo]
    assert sorted(rows) == sorted(["reference.zip", "untouched-stub.ipynb", *(f"{m.name}.zip" for m in shown)])
    status, score, possible, _ = rows["reference.zip"]
    assert status == "ok" and score == possible > 0
    assert rows["untouched-stub.ipynb"][:2] == ("missing-weights", 0)
    for mistake in shown:
        assert f"prepared {mistake.name}.zip: {mistake.description}" in printed
        status, score, possible, rest = rows[f"{mistake.name}.zip"]
        assert status == mistake.expect["status"], rest
        assert 0 < score < possible, mistake.name
        if "reason" in mistake.expect:
            assert mistake.expect["reason"] in rest
        else:
            assert all(f"{question} " in rest for question in mistake.expect["lose"]), rest
    grades = out / LESSON / "grades"
    assert f"report:    {grades / 'report.html'}" in printed and (grades / "report.html").is_file()
    assert f"feedback:  {grades / 'feedback'}" in printed and (grades / "feedback").is_dir()
    assert "Next: " in printed and "dlcourse grade" in printed
    if any(m.weights == "reference" for m in shown):
        assert "Possible copies" in printed and "Possible copies" in (grades / "report.md").read_text()
    with open(grades / "gradebook.csv", newline="") as file:
        gradebook = {row["submission"]: (row["status"], float(row["score"]), float(row["possible"]))
                     for row in csv.DictReader(file)}
    assert gradebook == {name: row[:3] for name, row in rows.items()}   # the printed rows are the gradebook's
    command = next(line.split(": ", 1)[1] for line in printed.splitlines()
                   if "the same batch through `dlcourse grade`" in line)
    words = shlex.split(command)
    assert words[0] == "dlcourse" and words[words.index("--data") + 1] == str(SAMPLE_DIR)
    with data_dir_set_to(empty):   # as the demo ran: no data configured, the sample named
        assert main(words[1:]) == 0, "the command the demo prints grades its batch again"
    with open(out / LESSON / "regraded" / "gradebook.csv", newline="") as file:
        again = {row["submission"]: (row["status"], float(row["score"]), float(row["possible"]))
                 for row in csv.DictReader(file)}
    assert again == gradebook
