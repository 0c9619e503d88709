"""The lessons' Otter Assign masters read directly: their cells, each question's solution
and test code, and the questions answered by one value."""

from __future__ import annotations

import ast
import functools
import re

import nbformat

from dlcourse.course import Course

from .paths import ROOT

COURSE = Course(ROOT)


def master(lesson_id: str) -> nbformat.NotebookNode:
    lesson = COURSE.lesson(lesson_id)
    return nbformat.read(lesson.directory / lesson.notebook, as_version=4)


def question_tests(lesson_id: str, name: str) -> dict[str, tuple[object, bool]]:
    """test name -> (function, hidden) for every test of a question, public and hidden."""
    found = {}
    for source in question(lesson_id, name)[1]:
        namespace: dict = {}
        exec(compile(source, f"<{lesson_id}:{name} tests>", "exec"), namespace)
        hidden = bool(re.search(r"^hidden:\s*true", source, re.M))
        found.update({key: (value, hidden) for key, value in namespace.items() if key.startswith("test_")})
    assert found, f"{lesson_id}:{name} has no tests"
    return found


@functools.cache
def value_questions(lesson_id: str) -> dict[str, tuple[str, object]]:
    """question -> (variable, reference answer) for every question answered by one assignment
    of a value (``name = value  # SOLUTION``)."""
    found, current = {}, None
    for cell in master(lesson_id).cells:
        source = cell.source.strip()
        if cell.cell_type == "raw" and source.startswith("# BEGIN QUESTION"):
            current = re.search(r"^name:\s*(\S+)", source, re.M).group(1)
        elif cell.cell_type == "code" and current and source.endswith("# SOLUTION") and "\n" not in source:
            statement = ast.parse(source).body[0]
            if isinstance(statement, ast.Assign) and not isinstance(statement.value, ast.Call):
                value = eval(compile(ast.Expression(statement.value), "<answer>", "eval"), {"__builtins__": {}})
                found[current] = (statement.targets[0].id, value)
            current = None
    return found


def question(lesson_id: str, name: str) -> tuple[list[str], list[str]]:
    """(solution code cells, test code cells) of one question of a master."""
    solutions, tests = [], []
    current, inside_tests = None, False
    for cell in master(lesson_id).cells:
        source = cell.source.strip()
        if cell.cell_type == "raw":
            if source.startswith("# BEGIN QUESTION"):
                current = re.search(r"^name:\s*(\S+)", source, re.M).group(1)
            elif source == "# END QUESTION":
                current = None
            elif source == "# BEGIN TESTS":
                inside_tests = True
            elif source == "# END TESTS":
                inside_tests = False
        elif cell.cell_type == "code" and current == name:
            (tests if inside_tests else solutions).append(cell.source)
    assert solutions or tests, f"{lesson_id} has no question {name}"
    return solutions, tests
