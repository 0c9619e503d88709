"""grader.check on a question whose public tests check only the answer's form says
"format OK: graded when you submit", never Otter's "All test cases passed!" (issue 23)."""

from pathlib import Path

from dlcourse.check_report import FORMAT_OK, check_passed
from dlcourse.session import LessonGrader

FORMAT_ONLY = '''from otter.test_files import test_case

OK_FORMAT = False

name = "steps"
points = None

@test_case(points=0, hidden=False)
def test_steps_format(optimizer_steps):
    assert isinstance(optimizer_steps, int), "a whole number"
'''

GRADED = FORMAT_ONLY.replace('"steps"', '"total"').replace("points=0", "points=2").replace(
    "test_steps_format(optimizer_steps)", "test_total(optimizer_steps)")


def grader(tmp_path: Path, monkeypatch) -> LessonGrader:
    monkeypatch.chdir(tmp_path)  # Otter logs into the working directory
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "steps.py").write_text(FORMAT_ONLY)
    (tests / "total.py").write_text(GRADED)
    return LessonGrader("lesson", tests)


def test_a_format_only_check_says_format_ok_not_passed(tmp_path, monkeypatch):
    result = grader(tmp_path, monkeypatch).check("steps", {"optimizer_steps": 702})
    assert repr(result) == f"steps: {FORMAT_OK}" and FORMAT_OK in result._repr_html_()
    assert "passed" not in repr(result) + result._repr_html_()
    assert result.passed_all and check_passed(repr(result))


def test_a_format_only_check_that_fails_shows_otters_failure(tmp_path, monkeypatch):
    result = grader(tmp_path, monkeypatch).check("steps", {"optimizer_steps": "many"})
    assert "a whole number" in repr(result) and FORMAT_OK not in repr(result)
    assert not check_passed(repr(result))


def test_a_graded_public_check_still_says_passed(tmp_path, monkeypatch):
    result = grader(tmp_path, monkeypatch).check("total", {"optimizer_steps": 702})
    assert "All test cases passed" in repr(result) and FORMAT_OK not in repr(result)


MEASURED = FORMAT_ONLY.replace('"steps"', '"design"').replace(
    "@test_case(points=0, hidden=False)",
    '@test_case(points=0, hidden=False, success_message="measured here as the grader measures it")').replace(
    "test_steps_format(optimizer_steps)", "test_design_measured_here(optimizer_steps)")


def test_a_zero_point_check_that_measures_says_so_in_its_own_words(tmp_path, monkeypatch):
    """A 0-point public test with a success message measures something real (lesson 4's own
    network): its pass is Otter's, with the message, not "format OK"."""
    checker = grader(tmp_path, monkeypatch)
    (tmp_path / "tests" / "design.py").write_text(MEASURED)
    result = checker.check("design", {"optimizer_steps": 702})
    assert FORMAT_OK not in repr(result) and "measured here as the grader measures it" in repr(result)
    assert check_passed(repr(result))
