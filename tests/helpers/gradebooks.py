"""Made-up results and a Canvas-like batch for the instructor's outputs, and CSVs read back."""

from __future__ import annotations

import csv
from pathlib import Path

from dlcourse.grading.inputs import Discovery, Entry, Student
from dlcourse.grading.result import GradeResult, QuestionResult
from dlcourse.grading.result import TestResult as Case  # not a pytest class


def result(label: str, model: float, accuracy: float, message: str = "", lesson: str = "dense-mnist") -> GradeResult:
    """A dense-mnist-like result: model (4 points) and accuracy (4 points), one written question (2)."""
    def question(name: str, score: float) -> QuestionResult:
        passed = score == 4
        return QuestionResult(name, score, 4.0, [Case(f"{name} hidden", True, 4.0, passed, "" if passed else message)])

    return GradeResult(submission=label, lesson=lesson, status="ok", reason="",
                       questions={"model": question("model", model), "accuracy": question("accuracy", accuracy)},
                       accuracy=0.97, manual={"more_epochs": 2.0},
                       answers={"more_epochs": f"{label} says: train longer, it overfits"})


def canvas_like(tmp_path: Path) -> tuple[Discovery, dict[str, GradeResult]]:
    """A Canvas-like download as the reader describes it: user ids, a LATE mark, a resubmission."""
    ada = Student("1001", "Ada Lovelace", sid="1001")
    alan = Student("1002", "Alan Turing", sid="1002")
    grace = Student("1003", "Grace Hopper", sid="1003")
    entries = [
        Entry(tmp_path / "lovelaceada_1001_55_dense.zip", "lovelaceada_1001_55_dense.zip", [ada],
              "2026-03-01T20:00:00+00:00", late=False, layout="canvas"),
        Entry(tmp_path / "turingalan_LATE_1002_56_dense.zip", "turingalan_LATE_1002_56_dense.zip", [alan],
              "", late=True, layout="canvas"),
        Entry(tmp_path / "hoppergrace_1003_57_dense.zip", "hoppergrace_1003_57_dense.zip", [grace],
              "2026-03-01T10:00:00+00:00", late=False, layout="canvas"),
        Entry(tmp_path / "hoppergrace_1003_58_dense-1.zip", "hoppergrace_1003_58_dense-1.zip", [grace],
              "2026-03-01T12:00:00+00:00", late=False, layout="canvas"),
    ]
    results = {entries[0].key: result(entries[0].label, 4, 4), entries[1].key: result(entries[1].label, 4, 0,
               "accuracy 91.20% on the test set, below the target 96.00%"),
               entries[2].key: result(entries[2].label, 0, 0, "wrong"), entries[3].key: result(entries[3].label, 4, 4)}
    return Discovery(entries, []), results


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))
