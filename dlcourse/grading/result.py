"""The outcome of grading one submission: per-question scores, a status and a one-line reason.

Statuses, most serious first (a row carries the first that applies). The first two are the
grader's side, never the student's: a resumed run regrades them, and the command exits non-zero.

    grader-error       the grader itself failed on this submission (a bug, a lost judge): regrade
    not-graded         the grader could not run student code safely here: nothing ran
    invalid-notebook   not a readable notebook or zip: nothing ran
    wrong-assignment   a notebook of another lesson: nothing ran
    timeout            the run passed its wall-clock limit and was stopped
    out-of-memory      the run passed its memory limit and was stopped
    flagged            for an instructor to look at: tampering evidence in the code (scores
                       stand: the judge decided them), or weights that refute the notebook
    missing-weights    the weights file the lesson needs was not submitted
    error              the notebook ran, but a cell raised an error (graded on what ran)
    ok                 graded normally
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# Gradescope renders every string of results.json in a declared format; its default
# (simple_format) treats text as HTML, which swallows "<class 'torch.Tensor'>" or a student's
# "<...>". Plain text is shown exactly as written: messages here are text, never markup.
GRADESCOPE_FORMAT = "text"
GRADESCOPE_FORMATS = {"output_format": GRADESCOPE_FORMAT, "test_output_format": GRADESCOPE_FORMAT,
                      "test_name_format": GRADESCOPE_FORMAT}
GRADESCOPE_TEST_FORMATS = {"output_format": GRADESCOPE_FORMAT, "name_format": GRADESCOPE_FORMAT}

STATUSES = ("grader-error", "not-graded", "invalid-notebook", "wrong-assignment", "timeout", "out-of-memory", "flagged",
            "missing-weights", "error", "ok")
GRADER_SIDE = frozenset({"grader-error", "not-graded"})   # the grader's failures: never reused, never final


@dataclass
class TestResult:
    name: str
    hidden: bool
    points: float
    passed: bool
    message: str = ""


@dataclass
class QuestionResult:
    name: str
    score: float
    possible: float
    tests: list[TestResult] = field(default_factory=list)
    verification: str = ""  # what the clean room said about this question, if it checks it
    # the clean room's measurement for this question meets its target (True), falls short
    # (False), or was not taken (None): a 0 next to True is a row for an instructor to read
    measured_ok: bool | None = None

    def part(self, hidden: bool) -> tuple[float, float, list[TestResult]]:
        """Score, possible and tests of the public (or hidden) part of this question.

        A question whose score the clean room set (to all or nothing) passes that on to
        both parts; otherwise each part scores the points of its passed tests.
        """
        tests = [t for t in self.tests if t.hidden == hidden]
        possible = sum(t.points for t in tests)
        if self.score >= self.possible:
            return possible, possible, tests
        if self.score <= 0:
            return 0.0, possible, tests
        return min(possible, sum(t.points for t in tests if t.passed)), possible, tests


@dataclass
class GradeResult:
    submission: str
    lesson: str
    status: str
    reason: str
    questions: dict[str, QuestionResult]
    accuracy: float | None = None          # measured by the clean room from the weights
    flags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    peak_memory_mb: float = 0.0            # private memory of the notebook run, sampled (sandbox.py)
    enforced: list[str] = field(default_factory=list)       # sandbox promises in force for this run
    not_enforced: list[str] = field(default_factory=list)   # promises this machine could not keep
    # questions the instructor grades by hand -> their points: in no score and no total here
    manual: dict[str, float] = field(default_factory=dict)
    answers: dict[str, str] = field(default_factory=dict)   # their written answers (written.py)
    predictions: str = ""    # classes the weights predict on the clean room's fixed images (similarity.py)
    # SHA-256 of the executed notebook saved for this result (OUT/notebooks): the only file its
    # feedback page may attach, whatever an earlier run or another entry left under that name
    notebook_sha256: str = ""
    # the grader's own record of its failure, for an instructor (e.g. the judge's log's last lines,
    # judge_client.py): made safe, but it may quote student output and says so; never shown to students
    evidence: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(q.score for q in self.questions.values())

    @property
    def possible(self) -> float:
        return sum(q.possible for q in self.questions.values())

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(score=self.score, possible=self.possible)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> GradeResult:
        data = {k: v for k, v in data.items() if k not in ("score", "possible")}
        data["questions"] = {
            name: QuestionResult(**{**q, "tests": [TestResult(**t) for t in q["tests"]]})
            for name, q in data["questions"].items()}
        return cls(**data)

    def to_gradescope(self) -> dict:
        """Gradescope's results.json: public parts visible at once, hidden parts once published.

        Only test names, pass/fail and the tests' own messages reach students; flags and
        instructor notes stay in the (hidden) stdout. Every string is declared plain text
        (``GRADESCOPE_FORMAT``), so Gradescope shows it literally.
        """
        tests = []
        for question in self.questions.values():
            if not question.tests:  # no test ran (a timeout, an unreadable file): the weights may still decide it
                earned = question.score >= question.possible
                tests.append({"name": question.name, "score": question.score, "max_score": question.possible,
                              "status": "passed" if earned else "failed", "visibility": "visible",
                              "output": question.verification if earned else f"not graded ({self.status}): {self.reason}",
                              **GRADESCOPE_TEST_FORMATS})
                continue
            for hidden in (False, True):
                score, possible, cases = question.part(hidden)
                if not cases:
                    continue
                lines = [f"{'passed' if t.passed else 'failed'}: {t.name}" + ("" if t.passed else f" - {t.message}")
                         for t in cases]
                if question.score < question.possible and question.verification and hidden:
                    lines.append(question.verification)
                tests.append({
                    "name": f"{question.name} ({'hidden' if hidden else 'public'} tests)",
                    "score": score, "max_score": possible,
                    "status": "passed" if score == possible else "failed",
                    "visibility": "after_published" if hidden else "visible",
                    "output": "\n".join(lines), **GRADESCOPE_TEST_FORMATS,
                })
        tests += [manual_entry(name, points, self.answers.get(name)) for name, points in self.manual.items()]
        # No top-level score: Gradescope then totals the tests, honouring their visibility.
        return {"output": self.student_summary(), "tests": tests, **GRADESCOPE_FORMATS,
                "stdout_visibility": "hidden", "execution_time": round(self.seconds)}

    def student_summary(self) -> str:
        if self.status == "ok":
            summary = "Graded. Public test results are below; hidden tests count once grades are published."
        elif self.status == "flagged":
            summary = "Graded; your instructor will review this submission before grades are published."
        else:
            summary = f"{self.status}: {self.reason}"
        return summary + (f"\n{self.points_split()}" if self.manual else "")

    def points_split(self) -> str:
        """The lesson's points as a student should read their score: how many the autograder
        grades, and how many more are graded by hand (Gradescope's autograder score counts only
        the first)."""
        hand = sum(self.manual.values())
        return (f"The autograder grades {self.possible:g} of this assignment's {self.possible + hand:g} points; "
                f"the other {hand:g} ({', '.join(self.manual)}) are graded by hand and added once graded.")


def manual_entry(name: str, points: float, answer: str | None) -> dict:
    """A results.json entry for a question graded by hand: it says so, is worth nothing here
    (0 of 0, so the autograder neither awards nor deducts its points; the instructor grades it
    in a manually graded question of the Gradescope assignment), and shows the written answer,
    if the notebook was read, to whoever grades it."""
    output = (f"Your instructor reads this answer and grades it by hand ({points:g} points). Those points "
              "are not part of the autograder's score; they are added when it is graded.")
    if answer is not None:
        output += ("\n\nThe answer, as submitted:\n\n" + answer if answer else
                   "\n\nNo answer was found: the cell under the question is empty or still holds its placeholder.")
    return {"name": f"{name} (graded by hand)", "score": 0.0, "max_score": 0.0, "visibility": "visible",
            "output": output, **GRADESCOPE_TEST_FORMATS}
