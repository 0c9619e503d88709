"""A lesson is checked when it is built: lesson.yaml's schema and its agreement with the
master (assignment config, text, tests). Each violation stops `dlcourse build` with one line
that names the problem and the file to fix."""

import shutil

import pytest
import yaml

from dlcourse.release.assign import BASELINE_KEYS
from dlcourse.release.validate import stated_targets, target_problem
from dlcourse.cli import main
from dlcourse.lesson import BASELINE_FILE, Lesson

LESSON = "dense-mnist"


@pytest.fixture
def scratch_course(course, tmp_path):
    """A course holding a copy of one lesson's sources, to break."""
    shutil.copytree(course.assignments / LESSON, tmp_path / "assignments" / LESSON)
    return tmp_path


def edit_settings(root, **changes):
    path = root / "assignments" / LESSON / "lesson.yaml"
    config = {**yaml.safe_load(path.read_text()), **changes}
    path.write_text(yaml.safe_dump({k: v for k, v in config.items() if v is not None}))
    return path


def edit_master(root, old, new):
    path = root / "assignments" / LESSON / f"{LESSON}.ipynb"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    return path


def build_fails(root, capsys) -> str:
    """Run `dlcourse build`; it must fail with exactly one line, which is returned."""
    assert main(["--course", str(root), "build", LESSON]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("changes, problem", [
    ({"acuracy_threshold": 0.95}, "unknown key 'acuracy_threshold'"),
    ({"gradescope": {"timeout": 600, "memroy_mb": 768}}, "unknown key 'gradescope.memroy_mb'"),
    ({"grading_timeout": "two minutes"}, "grading_timeout: Input should be a valid integer"),
    ({"accuracy_threshold": 95}, "accuracy_threshold: Input should be less than or equal to 1"),
    ({"title": None}, "required key 'title' is missing"),
    ({"dataset": "svhn"}, "unknown dataset 'svhn'"),
    ({"architecture": {"input": [1, 28, 28], "layers": [{"Linear": 10, "bias": False}]}},
     "architecture.layers: a layer is a name or a one-key mapping"),
    ({"verified_questions": {"speed": "model"}}, "verified_questions.speed: Input should be"),
])
def test_a_lesson_yaml_breaking_its_schema_stops_the_build(scratch_course, capsys, changes, problem):
    path = edit_settings(scratch_course, **changes)
    line = build_fails(scratch_course, capsys)
    assert str(path) in line and problem in line


def test_a_verified_question_that_does_not_exist_stops_the_build(scratch_course, capsys):
    path = edit_settings(scratch_course, verified_questions={"architecture": "model", "accuracy": "accuracyy"})
    line = build_fails(scratch_course, capsys)
    assert str(path) in line and "verified question 'accuracyy' (accuracy) is not a question" in line


def test_a_weights_measured_check_on_an_unverified_question_stops_the_build(scratch_course, capsys):
    path = edit_settings(scratch_course, verified_questions={"architecture": "model"})
    line = build_fails(scratch_course, capsys)
    assert str(path) in line and "question 'accuracy' calls check_accuracy" in line
    assert "verified_questions: {accuracy: accuracy}" in line


def test_a_target_in_the_text_that_differs_from_the_threshold_stops_the_build(scratch_course, capsys):
    edit_settings(scratch_course, accuracy_threshold=0.96)
    line = build_fails(scratch_course, capsys)
    assert f"{LESSON}.ipynb" in line and "states a target of 95%" in line and "accuracy_threshold is 96%" in line


def test_a_lesson_id_other_than_the_assignment_name_stops_the_build(scratch_course, capsys):
    master = edit_master(scratch_course, f"name: {LESSON}\\n", "name: dense\\n")
    line = build_fails(scratch_course, capsys)
    assert str(master) in line and "name is 'dense', but the lesson id" in line


def test_a_weights_file_students_cannot_submit_stops_the_build(scratch_course, capsys):
    master = edit_master(scratch_course, "  - dense_mnist.pt\\n", "  - dense.pt\\n")
    line = build_fails(scratch_course, capsys)
    assert str(master) in line and "submitted file 'dense_mnist.pt' is not among" in line


@pytest.mark.parametrize("layers, problem", [
    (["Flatten", {"Linear": 512}, "Relu", {"Linear": 10}], "layer 'Relu' is not a torch.nn layer"),
    (["Flatten", {"Linear": {"out_features": 512, "bias_": False}}, "ReLU", {"Linear": 10}],
     "the architecture cannot be built: TypeError"),
])
def test_a_network_that_cannot_be_built_stops_the_build(scratch_course, capsys, layers, problem):
    """Otherwise the judge fails on every submission, when it builds the lesson's network."""
    path = edit_settings(scratch_course, architecture={"input": [1, 28, 28], "layers": layers})
    line = build_fails(scratch_course, capsys)
    assert str(path) in line and problem in line


def test_the_stated_target_rule_reads_both_phrasings(course):
    lesson = course.lesson(LESSON)
    assert stated_targets("The target is **95%**. Later: the target is 95 %.") == [95.0, 95.0, 95.0]
    assert target_problem(lesson, "The target is 95%.") is None
    assert "never states" in target_problem(lesson, "Train it well.")
    assert "states a target of 90%" in target_problem(lesson, "The target is 95%; reach **90%**.")


def test_the_baseline_settings_are_generated_from_the_baseline_lesson(course):
    copied = course.student_dir("regularization") / BASELINE_FILE
    text = copied.read_text()
    assert text.startswith("# Generated by `dlcourse build` from lesson cifar-cnn's lesson.yaml")
    assert set(yaml.safe_load(text)) <= BASELINE_KEYS
    baseline, source = Lesson.load(copied), course.lesson("cifar-cnn")
    assert (baseline.id, baseline.weights, baseline.architecture, baseline.prepare) == \
        (source.id, source.weights, source.architecture, source.prepare)
