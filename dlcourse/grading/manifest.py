"""What an autograder grades: its questions, their tests and points, written at build time.

``dlcourse build`` reads each test file Otter Assign wrote with Otter's own reader (so
points are resolved exactly as Otter resolves them) and writes ``manifest.json`` into the
autograder beside ``tests/``. The judge runs the files it lists; the gradebook and
Gradescope take the points from it. Nothing reads points out of generated Python text.

Questions the master marks ``manual: true`` (free text, read by the instructor) have no test
file: the manifest lists them apart, with their points, so that grading reports them as
graded by hand and never counts them in the autograder's score or total.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class TestSpec:
    name: str
    points: float
    hidden: bool


@dataclass(frozen=True)
class QuestionSpec:
    name: str
    file: str                      # relative to the autograder folder, e.g. "tests/model.py"
    points: float
    tests: tuple[TestSpec, ...] = ()


@dataclass(frozen=True)
class Manifest:
    lesson: str
    questions: tuple[QuestionSpec, ...]
    # role ("architecture", "accuracy", "gap") -> question the judge verifies from the weights
    verified: dict[str, str] = field(default_factory=dict)
    # question graded by hand -> its points, in the master's order (written.py relies on it)
    manual: dict[str, float] = field(default_factory=dict)

    @property
    def points(self) -> dict[str, float]:
        return {q.name: q.points for q in self.questions}

    def to_json(self) -> str:
        data = asdict(self)
        data["manual"] = [[name, points] for name, points in self.manual.items()]  # a list keeps the order
        return json.dumps(data, indent=1, sort_keys=True) + "\n"

    @classmethod
    def load(cls, autograder: Path) -> Manifest:
        data = json.loads((autograder / MANIFEST).read_text())
        questions = tuple(QuestionSpec(q["name"], q["file"], float(q["points"]),
                                       tuple(TestSpec(t["name"], float(t["points"]), bool(t["hidden"]))
                                             for t in q["tests"]))
                          for q in data["questions"])
        manual = {str(name): float(points) for name, points in data.get("manual", [])}
        return cls(data["lesson"], questions, dict(data.get("verified", {})), manual)


def read_tests(lesson_id: str, tests: Path, verified: dict[str, str],
               manual: dict[str, float] | None = None) -> Manifest:
    """The manifest of the Otter test files in ``tests`` (run on trusted, built files only),
    and of the questions graded by hand (``manual``: name -> points)."""
    from otter.test_files.exception_test import ExceptionTestFile

    questions = []
    for path in sorted(tests.glob("*.py")):
        test_file = ExceptionTestFile.from_file(str(path))
        specs = tuple(TestSpec(str(tc.name), float(tc.points), bool(tc.hidden)) for tc in test_file.test_cases)
        questions.append(QuestionSpec(test_file.name, f"tests/{path.name}", float(test_file.possible), specs))
    manual = dict(manual or {})
    tested = sorted(set(manual) & {q.name for q in questions})
    if tested:
        raise ValueError(f"{lesson_id}: question {tested[0]!r} is graded by hand (manual: true) but has tests; "
                         "the autograder would score it too")
    return Manifest(lesson_id, tuple(questions), dict(verified), manual)
