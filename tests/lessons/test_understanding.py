"""Questions that need understanding (issue 13): answers given as a value, with a hidden key,
and free-text questions graded by hand.

Each value question is run here straight from its master (no kernel): the reference answer
passes every test, the untouched stub fails them all, a typical wrong answer fails the hidden
test with a message that names its misconception, and the public test accepts every well
formed answer alike, so that it gives nothing of the key away.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import re
import zipfile

import nbformat
import pytest

from dlcourse.release.assign import manual_questions
from dlcourse.course import Course
from dlcourse.grading.manifest import Manifest
from helpers.paths import ROOT
from helpers.lessons import master, question_tests, value_questions

COURSE = Course(ROOT)
OPTIONS = "abcde"

# (lesson, question) -> (a typical wrong answer, a phrase its message must hold)
TYPICAL = {
    ("dense-mnist", "steps"): (702, "rounds down"),
    ("dense-mnist", "no_softmax"): ("ac", "Statement c is false"),
    ("cnn-mnist", "predict_shape"): ((64, 8, 10, 10), "padding=2 keeps"),
    ("cnn-mnist", "convolutions"): ("ace", "small shifts, not large ones"),
    ("cifar-cnn", "curves"): ("abc", "Statement b is false"),
    ("cifar-cnn", "four_blocks"): (1024, "three-block network"),
    ("regularization", "label_keeping"): ("abde", "Statement b is false"),
    ("regularization", "split_statistics"): ("abcd", "same distribution"),
    ("regularization", "dropout_scale"): (0.75, "probability of keeping"),
}



CASES = [(lesson_id, name) for lesson_id in COURSE.lesson_ids() for name in value_questions(lesson_id)]
CHOICES = [(lesson_id, name) for lesson_id, name in CASES if isinstance(value_questions(lesson_id)[name][1], str)]


_tests_of = functools.cache(question_tests)


def outcome(lesson_id: str, name: str, answer: object) -> tuple[list[str | None], list[str | None]]:
    """(public results, hidden results) of a question's tests for ``answer``: for each test,
    None where it passes, else its message."""
    variable = value_questions(lesson_id)[name][0]
    public, hidden = [], []
    for function, is_hidden in _tests_of(lesson_id, name).values():
        assert list(inspect.signature(function).parameters) == [variable], "a value question's test reads its answer only"
        try:
            function(answer)
        except AssertionError as error:
            message = str(error)
        else:
            message = None
        (hidden if is_hidden else public).append(message)
    return public, hidden


def test_every_lesson_asks_two_value_questions_and_one_for_the_instructor():
    for lesson_id in COURSE.lesson_ids():
        assert len(value_questions(lesson_id)) >= 2, lesson_id
        lesson = COURSE.lesson(lesson_id)
        assert manual_questions(lesson.directory / lesson.notebook), f"{lesson_id} has no question graded by hand"
    assert {lesson_id for lesson_id, _ in TYPICAL} == set(COURSE.lesson_ids())
    assert set(TYPICAL) == set(CASES), "every value question needs a typical wrong answer here"


@pytest.mark.parametrize("lesson_id, name", CASES)
def test_the_reference_answer_passes_and_the_stub_fails(lesson_id, name):
    public, hidden = outcome(lesson_id, name, value_questions(lesson_id)[name][1])
    assert public and hidden and not any(public + hidden), (public, hidden)
    for stub in (..., None):
        public, hidden = outcome(lesson_id, name, stub)
        assert all(public + hidden), f"the stub's {stub!r} should fail every test"


@pytest.mark.parametrize("lesson_id, name", CASES)
def test_only_the_hidden_test_carries_points(lesson_id, name, tmp_path):
    spec = next(q for q in _manifest(lesson_id, tmp_path).questions if q.name == name)
    assert spec.points > 0 and all(t.hidden == (t.points > 0) for t in spec.tests), spec


@pytest.mark.parametrize("lesson_id, name", CASES)
def test_a_typical_wrong_answer_fails_with_its_misconception_named(lesson_id, name):
    answer, phrase = TYPICAL[lesson_id, name]
    public, hidden = outcome(lesson_id, name, answer)
    assert not any(public), "the public test must not tell a wrong answer from the right one"
    assert all(hidden) and any(phrase in m for m in hidden), hidden


@pytest.mark.parametrize("lesson_id, name", CHOICES)
def test_public_tests_accept_every_choice_alike(lesson_id, name):
    """Every non-empty choice of statements passes the public test and only the key passes the
    hidden one (a blind guess is right 1 time in 31). Numbers and shapes: the typical wrong
    answers above pass the public test too."""
    key = value_questions(lesson_id)[name][1]
    assert set(key) <= set(OPTIONS)
    passing = []
    for size in range(1, len(OPTIONS) + 1):
        for letters in itertools.combinations(OPTIONS, size):
            public, hidden = outcome(lesson_id, name, " ,".join(reversed(letters)))
            assert not any(public), letters
            if not any(hidden):
                passing.append(letters)
    assert passing == [tuple(sorted(key))]


@pytest.mark.parametrize("lesson_id", COURSE.lesson_ids())
def test_the_autograder_lists_questions_graded_by_hand_apart(lesson_id, tmp_path):
    lesson = COURSE.lesson(lesson_id)
    manual = manual_questions(lesson.directory / lesson.notebook)
    with zipfile.ZipFile(COURSE.autograder_zip(lesson_id)) as archive:
        names = archive.namelist()
    manifest = _manifest(lesson_id, tmp_path)
    assert manifest.manual == manual and all(points > 0 for points in manual.values())
    assert not set(manual) & set(manifest.points), "a question graded by hand is not in the autograder's total"
    assert not [n for n in names if any(n == f"tests/{q}.py" for q in manual)]


@pytest.mark.parametrize("lesson_id", COURSE.lesson_ids())
def test_the_release_holds_the_prompt_of_a_question_graded_by_hand_not_its_answer(lesson_id):
    lesson = COURSE.lesson(lesson_id)
    student = nbformat.read(COURSE.student_dir(lesson_id) / lesson.notebook, as_version=4)
    text = "\n".join(cell.source for cell in student.cells)
    for name in manual_questions(lesson.directory / lesson.notebook):
        prompt, answer = _manual_cells(lesson_id, name)
        assert prompt.splitlines()[0] in text, f"{name}: the prompt should reach students"
        sentences = [s for s in re.split(r"(?<=[.:])\s+", answer) if len(s) > 30]
        assert sentences and not [s for s in sentences if s in text], f"{name}: the model answer leaks"
        assert "_Type your answer here, replacing this text._" in text


def test_a_manual_question_without_points_or_with_tests_is_refused(tmp_path):
    from dlcourse.grading.manifest import read_tests

    lesson = COURSE.lesson("dense-mnist")
    nb = master("dense-mnist")
    for cell in nb.cells:
        if cell.cell_type == "raw" and "manual: true" in cell.source:
            cell.source = re.sub(r"\npoints: \S+", "", cell.source)
    nbformat.write(nb, tmp_path / lesson.notebook)
    with pytest.raises(ValueError, match="graded by hand; give it points"):
        manual_questions(tmp_path / lesson.notebook)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "steps.py").write_text(
        "from otter.test_files import test_case\nOK_FORMAT = False\nname = 'steps'\npoints = None\n"
        "@test_case(points=1, hidden=False)\ndef test_a():\n    pass\n")
    with pytest.raises(ValueError, match="graded by hand .* but has tests"):
        read_tests("dense-mnist", tmp_path / "tests", {}, {"steps": 2.0})


def _manifest(lesson_id: str, folder) -> Manifest:
    with zipfile.ZipFile(COURSE.autograder_zip(lesson_id)) as archive:
        archive.extract("manifest.json", folder)
    return Manifest.load(folder)


def _manual_cells(lesson_id: str, name: str) -> tuple[str, str]:
    """(prompt, model answer) of a question graded by hand: its markdown outside and inside
    the master's solution block."""
    prompt, answer, current, in_solution = [], [], None, False
    for cell in master(lesson_id).cells:
        source = cell.source.strip()
        if cell.cell_type == "raw" and source.startswith("# BEGIN QUESTION"):
            current = re.search(r"^name:\s*(\S+)", source, re.M).group(1)
        elif cell.cell_type == "raw" and source in ("# BEGIN SOLUTION", "# END SOLUTION"):
            in_solution = source == "# BEGIN SOLUTION"
        elif cell.cell_type == "raw" and source == "# END QUESTION":
            current = None
        elif current == name and cell.cell_type == "markdown":
            (answer if in_solution else prompt).append(cell.source)
    return "\n".join(prompt), "\n".join(answer)


def test_questions_graded_by_hand_are_reported_as_such_and_never_scored(tmp_path):
    """results.json: an entry per question graded by hand, worth 0 of 0 (so Gradescope's total
    is the autograder's alone), with the written answer for whoever grades it; gradebook.csv:
    its column says "manual"; report.md says so."""
    import csv
    import json

    from dlcourse.grading.gradebook import write_gradebook, write_report
    from dlcourse.grading.inputs import Discovery, Entry, Student
    from dlcourse.grading.result import GradeResult, QuestionResult, TestResult
    from helpers.gradescope import check_gradescope_format

    passed = QuestionResult("steps", 2.0, 2.0, [TestResult("steps - 1", False, 0.0, True),
                                                 TestResult("steps - 2", True, 2.0, True)])
    result = GradeResult(submission="a.zip", lesson="dense-mnist", status="ok", reason="",
                         questions={"steps": passed}, manual={"more_epochs": 2.0},
                         answers={"more_epochs": "It <b>overfits</b>."})
    assert (result.score, result.possible) == (2.0, 2.0)
    results = json.loads(json.dumps(result.to_gradescope()))
    check_gradescope_format(results)
    entry = next(t for t in results["tests"] if t["name"].startswith("more_epochs"))
    assert entry["name"] == "more_epochs (graded by hand)" and entry["score"] == entry["max_score"] == 0
    assert "2 points" in entry["output"] and entry["visibility"] == "visible"
    assert entry["output"].endswith("The answer, as submitted:\n\nIt <b>overfits</b>.")
    assert sum(t["max_score"] for t in results["tests"]) == 2.0
    assert GradeResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result

    found = Discovery([Entry(tmp_path / "a.zip", "a.zip", [Student("a")])], [])
    write_gradebook(tmp_path, found, {found.entries[0].key: result})
    write_report(tmp_path, found, {found.entries[0].key: result})
    row = next(csv.DictReader((tmp_path / "gradebook.csv").open()))
    assert (row["steps"], row["more_epochs"], row["score"], row["possible"]) == ("2", "manual", "2", "2")
    assert "| more_epochs | graded by hand (2 points), not graded yet | |" in (tmp_path / "report.md").read_text()


def test_the_gradescope_guide_states_each_lessons_points(tmp_path):
    guide = " ".join((ROOT / "docs" / "gradescope.md").read_text().split())
    for lesson_id in COURSE.lesson_ids():
        manifest = _manifest(lesson_id, tmp_path / lesson_id)
        assert f"{sum(manifest.points.values()):g} for {lesson_id}" in guide, f"{lesson_id}'s autograded total"
        for name, points in manifest.manual.items():
            assert f"`{name}` ({lesson_id})" in guide and f"{points:g} points each" in guide


def test_the_written_answer_is_read_from_the_notebook_under_its_prompt():
    from dlcourse.grading.written import written_answers

    lesson = COURSE.lesson("regularization")
    names = list(manual_questions(lesson.directory / lesson.notebook))
    student = nbformat.read(COURSE.student_dir(lesson.id) / lesson.notebook, as_version=4)
    assert written_answers(student, names) == dict.fromkeys(names, ""), "the untouched placeholder is no answer"
    answer_cell = next(c for c in student.cells if c.source == "_Type your answer here, replacing this text._")
    answer_cell.source = "Augmentation, I think.\n\nAn ablation: drop one technique at a time."
    student.cells.insert(student.cells.index(answer_cell) + 1, nbformat.v4.new_markdown_cell("More."))
    answers = written_answers(student, names)
    assert answers == {**dict.fromkeys(names, ""),
                       names[0]: "Augmentation, I think.\n\nAn ablation: drop one technique at a time.\n\nMore."}
    assert "Submission" not in answers[names[0]], "the answer ends where the question does"
