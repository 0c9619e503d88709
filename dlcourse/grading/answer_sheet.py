"""The written-answer sheet: every student's answers to the questions graded by hand, to read
(``written-answers.html``, grouped by question so one grader reads one question through) and
to fill in (``written-answers.csv``: one row per student and question; fill ``points`` and
``comment``). Given back with ``--hand-grades``, the filled CSV is read by
:func:`read_hand_grades` and merged into the gradebook, the LMS exports and the feedback pages
(:mod:`.rows`); nothing is regraded.

A sheet written again keeps the points and comments already filled in a sheet given back,
so grading can happen in several sittings; and a run without ``--hand-grades`` never
overwrites points typed into the output folder's own sheet (:func:`keep_filled_sheet`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path

from ..atomic import write_atomically
from .html import render
from .rows import HandGrade, OutputSettings, StudentRow
from .safe_text import csv_cell

SHEET_CSV = "written-answers.csv"
SHEET_HTML = "written-answers.html"
COLUMNS = ["student", "name", "submission", "question", "possible", "points", "comment", "answer"]


class HandGradesError(ValueError):
    """A filled sheet that cannot be read; the message names the file, the line and the fix."""


def write_answer_sheet(out: Path, rows: list[StudentRow], lesson: str) -> bool:
    """Write the sheet for every graded student with hand-graded questions; False if the lesson has none."""
    graded = [(r, r.result) for r in rows if r.result is not None and r.result.manual]
    if not graded:
        return False
    names = list(dict.fromkeys(name for _, result in graded for name in result.manual))
    lines, questions = [], []
    for name in names:
        answers = []
        for row, result in graded:
            if name not in result.manual:
                continue
            grade = row.hand.get(name)
            text = result.answers.get(name, "")
            lines.append({"student": row.student.key, "name": row.student.name,
                          "submission": row.entry.label if row.entry else "",
                          "question": name, "possible": f"{result.manual[name]:g}",
                          "points": "" if grade is None or grade.points is None else f"{grade.points:g}",
                          "comment": grade.comment if grade else "", "answer": text})
            answers.append({"student": row.student.key, "name": row.student.name, "text": text})
        questions.append({"name": name, "possible": graded[0][1].manual.get(name, 0.0), "answers": answers})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows({k: csv_cell(v) for k, v in line.items()} for line in lines)
    write_atomically(out / SHEET_CSV, buffer.getvalue())
    write_atomically(out / SHEET_HTML, render("written.html.j2", lesson=lesson, questions=questions))
    return True


def read_hand_grades(path: Path) -> dict[str, dict[str, HandGrade]]:
    """Student key -> question -> grade, from a filled ``written-answers.csv``. An empty
    ``points`` cell is "not graded yet"; points outside 0..possible are refused."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            lines = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError) as error:
        raise HandGradesError(f"hand grades {path}: {error}") from None
    grades: dict[str, dict[str, HandGrade]] = {}
    for number, line in enumerate(lines, start=2):
        student, question = _plain(line.get("student")), _plain(line.get("question"))
        if not student or not question:
            raise HandGradesError(f"{path}, line {number}: no student or question: give back the sheet "
                                  f"dlcourse wrote ({SHEET_CSV}), filling only points and comment")
        points_text = (line.get("points") or "").strip()
        points = None
        if points_text:
            try:
                points = float(points_text.replace(",", "."))
                possible = float(_plain(line.get("possible")) or "inf")
            except ValueError:
                raise HandGradesError(f"{path}, line {number}: points {points_text!r} is not a number") from None
            if not 0 <= points <= possible:
                raise HandGradesError(f"{path}, line {number}: {points:g} points for {question} "
                                      f"(allowed 0 to {possible:g})")
        grades.setdefault(student, {})[question] = HandGrade(points, (line.get("comment") or "").strip())
    return grades


def keep_filled_sheet(out: Path, settings: OutputSettings) -> tuple[OutputSettings, str]:
    """Nothing a grader typed is lost. A run given no ``--hand-grades`` whose output folder
    already holds a sheet with points or comments filled in merges that sheet (the run's
    settings with its grades, and a line saying so). The folder's sheet is moved aside, never
    overwritten, where it cannot be read, or holds filled rows that the sheet given with
    ``--hand-grades`` says otherwise. Returns (settings, a warning line or "")."""
    sheet = out / SHEET_CSV
    if not sheet.is_file():
        return settings, ""
    try:
        grades = read_hand_grades(sheet)
    except HandGradesError as error:
        kept = _free_name(sheet)
        sheet.rename(kept)
        return settings, (f"{error}; that sheet was moved to {kept.name} and a blank one written "
                          f"(fix it, then give it back with --hand-grades)")
    filled = {(student, question): grade for student, by_question in grades.items()
              for question, grade in by_question.items() if grade.points is not None or grade.comment}
    if not filled:
        return settings, ""
    if settings.hand is None:
        return replace(settings, hand=grades), (f"{sheet} holds {len(filled)} hand-graded row(s) and no "
                                                f"--hand-grades was given: merged them (the sheet keeps them)")
    differ = sum(1 for (student, question), grade in filled.items()
                 if settings.hand.get(student, {}).get(question) != grade)
    if not differ:
        return settings, ""
    kept = _free_name(sheet)
    sheet.rename(kept)
    return settings, (f"{differ} filled row(s) of {sheet} differ from the sheet given with --hand-grades: that "
                      f"sheet was kept as {kept.name} (the given one counts)")


def hand_grade_warning(hand: dict[str, dict[str, HandGrade]] | None, rows: list[StudentRow]) -> str:
    """One line when a sheet given back does not fit this batch: its rows for students the batch
    does not have (another lesson's or section's sheet), and the answers not graded yet; "" if none."""
    if hand is None:
        return ""
    keys = {row.student.key for row in rows}
    strangers = sorted(key for key in hand if key not in keys)
    unmatched = sum(len(hand[key]) for key in strangers)
    ungraded = sum(1 for row in rows if row.result for name in row.result.manual
                   if row.hand.get(name) is None or row.hand[name].points is None)
    if not unmatched and not ungraded:
        return ""
    said = []
    if unmatched:
        shown = ", ".join(strangers[:5]) + (" ..." if len(strangers) > 5 else "")
        said.append(f"{unmatched} row(s) match no student of this batch ({shown}): is it this lesson's sheet?")
    if ungraded:
        said.append(f"{ungraded} written answer(s) not graded yet (no points: shown as not graded, counted 0)")
    return "hand grades: " + "; ".join(said)


def _free_name(path: Path) -> Path:
    for number in range(1, 1000):
        candidate = path.with_name(f"{path.stem}.kept-{number}{path.suffix}")
        if not candidate.exists():
            return candidate
    raise HandGradesError(f"{path}: too many kept copies beside it; move them away")


def _plain(cell: str | None) -> str:
    """A cell as written by :func:`write_answer_sheet`: its formula guard (a leading ``'``) removed."""
    cell = (cell or "").strip()
    return cell[1:] if cell.startswith("'") and cell[1:2] in ("=", "+", "-", "@", "\t", "\r") else cell
