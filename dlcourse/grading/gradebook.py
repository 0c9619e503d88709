"""Turn graded submissions into what an instructor reads: the gradebook, the submissions list
and the report.

- ``gradebook.csv``: one row per student (:mod:`.rows`: roster members who submitted nothing
  included, status ``missing``): identity, status, the autograded ``score``, ``hand`` points
  from a filled written-answer sheet, ``raw`` (their sum), ``possible``, ``submitted_at`` (the
  platform's time, blank where it gives none), the ``late`` time,
  the ``penalty`` applied and the ``final`` score, one column per question (a question graded
  by hand says ``manual`` until its sheet is filled), ``test_accuracy`` (measured by the clean
  room from the weights), the reason and the student's other submissions;
- ``submissions.csv``: one row per input file, skipped files included, so nothing is lost; its
  ``submitted_at`` is the platform's time, ``file_time`` the file's (a download time) where
  the layout records none;
- ``report.md`` with ``scores.png``: statuses, scores, per-question results, failures grouped
  by cause (:mod:`.failures`), the submissions to look at, every 0 next to a measurement that
  meets its target, and sections other modules add (copies found).

Every cell and line is made safe for its medium by :mod:`.safe_text`: a student's name or
error message is never a spreadsheet formula, never hides report lines, never drives a terminal.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from pathlib import Path

from ..atomic import write_atomically
from .failures import group_failures
from .inputs import Discovery
from .late import PLATFORM_TIME_LAYOUTS
from .result import STATUSES, GradeResult, QuestionResult
from .rows import MISSING, NOT_ON_ROSTER, PENDING, OutputSettings, StudentRow
from .safe_text import csv_cell, markdown_code, markdown_inline

MANUAL = "manual"    # a question the instructor grades by hand, not graded yet
MARKDOWN_FAILURE_GROUPS = 15   # report.md keeps the most common; report.html lists every group


def write_gradebook(out: Path, found: Discovery, results: dict[str, GradeResult],
                    settings: OutputSettings | None = None) -> list[StudentRow]:
    """Write gradebook.csv and submissions.csv; return the student rows they hold."""
    settings = settings or OutputSettings()
    rows = settings.rows(found, results)
    questions = _question_names(results.values())
    student_rows = []
    for row in rows:
        s = row.student
        cells = {"student": s.key, "name": s.name, "email": s.email, "sid": s.sid, "login": s.login,
                 "submission": row.entry.label if row.entry else "",
                 "submitted_at": row.submitted_at}
        cells.update(_score_columns(row.result, questions, row))
        cells.update(status=row.status, hand=_hand_points(row),
                     raw=f"{row.raw:g}", possible=f"{row.possible:g}" if row.possible else cells.get("possible", ""),
                     late=late_text(row.lateness.seconds) if row.lateness.units else "",
                     penalty_percent=f"{row.lateness.penalty_percent:g}" if row.lateness.units else "",
                     penalty=f"{row.penalty_points:g}" if row.lateness.units else "",
                     final=f"{row.final:g}", percent=f"{100 * row.final / row.possible:.1f}" if row.possible else "",
                     notes="; ".join(filter(None, [*row.every_note, row.lateness.note])),
                     other_submissions="; ".join([*(o.label for o in row.others),
                                                  *(row.entry.earlier if row.entry else [])]))
        if row.status == MISSING:
            cells.update(score="0", reason="no submission")
        student_rows.append(cells)
    write_csv(out / "gradebook.csv", student_rows,
               ["student", "name", "email", "sid", "login", "submission", "submitted_at", "status", "score", "hand",
                "raw", "possible", "late", "penalty_percent", "penalty", "final", "percent", *questions,
                "test_accuracy", "reason", "notes", "other_submissions"])

    submission_rows = []
    for entry in found.entries:
        result = results.get(entry.key)
        platform_time = entry.layout in PLATFORM_TIME_LAYOUTS
        line = {"submission": entry.label, "students": "; ".join(s.key for s in entry.students),
                "submitted_at": entry.submitted_at if platform_time else "",
                "file_time": "" if platform_time else entry.submitted_at,
                "late_mark": {True: "late", False: "on time", None: ""}[entry.late],
                "reader_notes": " | ".join(entry.notes)}
        line.update(_score_columns(result, questions))
        line["flags"] = " | ".join(result.flags) if result else ""
        line["enforced"] = ", ".join(result.enforced) if result else ""
        line["not_enforced"] = " | ".join(result.not_enforced) if result else ""
        line["evidence"] = " | ".join(result.evidence) if result else ""
        submission_rows.append(line)
    for aside in found.set_aside:
        submission_rows.append({"submission": aside.name, "status": "skipped", "reason": aside.reason})
    write_csv(out / "submissions.csv", submission_rows,
               ["submission", "students", "submitted_at", "file_time", "late_mark", "status", "score", "possible",
                "percent", *questions, "test_accuracy", "reason", "flags", "reader_notes", "enforced",
                "not_enforced", "evidence"])
    return rows


def write_report(out: Path, found: Discovery, results: dict[str, GradeResult],
                 settings: OutputSettings | None = None, sections: list[list[str]] | None = None) -> None:
    """Write report.md (and scores.png); ``sections``: more sections' lines, already safe Markdown."""
    settings = settings or OutputSettings()
    graded = [results[e.key] for e in found.entries if e.key in results]
    lines = [f"# Grading report: {markdown_inline(graded[0].lesson) if graded else 'no submissions'}", "",
             f"{len(found.entries)} submissions found, {len(graded)} graded, {len(found.set_aside)} other files skipped.", ""]
    counts = Counter(r.status for r in graded)
    lines += ["## Statuses", "", "| status | submissions |", "|---|---|"]
    lines += [f"| {status} | {counts[status]} |" for status in STATUSES if counts[status]]
    if len(graded) < len(found.entries):
        lines.append(f"| {PENDING} | {len(found.entries) - len(graded)} |")
    if settings.roster or settings.late:
        rows = settings.rows(found, results)
        missing = [r for r in rows if r.status == MISSING]
        late = [r for r in rows if r.lateness.units]
        lines += ["", "## Students", "", f"{len(rows)} students, {len(missing)} submitted nothing, "
                  f"{len(late)} late (penalties in gradebook.csv)."]
        lines += [f"- missing: {markdown_inline(r.student.name or r.student.key)} ({markdown_code(r.student.key)})"
                  for r in missing]
        lines += [f"- not on the roster: {markdown_inline(r.student.name or r.student.key)} "
                  f"({markdown_code(r.student.key)}), {markdown_code(r.entry.label if r.entry else '')}"
                  for r in rows if NOT_ON_ROSTER in r.notes]
    if graded:
        lines += _score_sections(out, graded, settings.rows(found, results), hand_counted=settings.hand is not None)
    for section in sections or []:
        lines += ["", *section]
    if found.set_aside:
        lines += ["", "## Skipped files", ""]
        lines += [f"- {markdown_code(aside.name)}: {markdown_inline(aside.reason)}" for aside in found.set_aside]
    write_atomically(out / "report.md", "\n".join(lines) + "\n")


def points_possible(graded: list[GradeResult]) -> tuple[float, float]:
    """(autograded, graded by hand) points possible of the lesson: what the LMS's points
    possible should be is their sum, whether or not the hand grades are in yet."""
    auto = max((r.possible for r in graded), default=0.0)
    hand = max((sum(r.manual.values()) for r in graded), default=0.0)
    return auto, hand


def score_line(graded: list[GradeResult], rows: list[StudentRow], hand_counted: bool) -> str:
    """The scores in one line, out of the total they are counted against, saying whether the
    points graded by hand are in them."""
    auto, hand = points_possible(graded)
    scored = [r for r in rows if r.result is not None]
    totals = [r.raw for r in scored] if hand_counted else [r.score for r in graded]
    spread = (f"mean {statistics.mean(totals):.1f}, median {statistics.median(totals):.1f}, "
              f"min {min(totals):g}, max {max(totals):g}") if totals else "none yet"
    if not hand:
        return f"Scores: {spread} (of {auto:g}). Points possible to set in the LMS: {auto:g}."
    if hand_counted:
        return (f"Scores: {spread} (of {auto + hand:g}: {auto:g} autograded + {hand:g} graded by hand, merged). "
                f"Points possible to set in the LMS: {auto + hand:g}.")
    return (f"Scores: {spread} (of {auto:g} autograded; the {hand:g} points graded by hand are not in them until "
            f"the filled sheet is given with --hand-grades). Points possible to set in the LMS: {auto + hand:g}.")


def _score_sections(out: Path, graded: list[GradeResult], rows: list[StudentRow], hand_counted: bool) -> list[str]:
    auto, hand = points_possible(graded)
    possible = (auto + hand if hand_counted else auto) or 1
    totals = [r.raw for r in rows if r.result is not None] if hand_counted else [r.score for r in graded]
    lines = ["", "## Scores", "", score_line(graded, rows, hand_counted), "", "![score histogram](scores.png)", ""]
    _histogram(out / "scores.png", totals, possible)
    lines += ["## Questions", "", "| question | mean score | full marks |", "|---|---|---|"]
    for name in _question_names(graded, manual=False):
        scored = [r.questions[name] for r in graded if name in r.questions]
        mean = statistics.mean(q.score for q in scored)
        full = sum(q.score == q.possible for q in scored) / len(scored)
        lines.append(f"| {markdown_inline(name)} | {mean:.2f} / {scored[0].possible:g} | {full:.0%} |")
    manual = {name: points for r in graded for name, points in r.manual.items()}
    for name, points in manual.items():
        given = [g.points for r in rows if r.result and name in r.result.manual
                 if (g := r.hand.get(name)) is not None and g.points is not None] if hand_counted else []
        if given:
            lines.append(f"| {markdown_inline(name)} (by hand, {len(given)} graded) | "
                         f"{statistics.mean(given):.2f} / {points:g} | {sum(p == points for p in given) / len(given):.0%} |")
        else:
            lines.append(f"| {markdown_inline(name)} | graded by hand ({points:g} points), not graded yet | |")
    lines += ["", "## Most common failure messages", "",
              "Grouped by question, test and cause (numbers, shapes and quoted values vary between "
              "submissions and are left out); one real message each.", ""]
    groups = group_failures(graded)
    lines += [f"- {len(g.submissions)} submission(s): {markdown_inline(g.question)}, {markdown_inline(g.test)}: "
              f"{markdown_inline(g.cause)} (e.g. {markdown_inline(g.example[:300])})"
              for g in groups[:MARKDOWN_FAILURE_GROUPS]] or ["- none"]
    if len(groups) > MARKDOWN_FAILURE_GROUPS:   # a cut list must say so, or a rarer failure reads as absent
        lines.append(f"- ... and {len(groups) - MARKDOWN_FAILURE_GROUPS} more; report.html lists them all")
    attention = [r for r in graded if r.status != "ok"]   # a student's error too: its reason says which cell
    lines += ["", "## Submissions to look at", ""]
    lines += [f"- {markdown_code(r.submission)}: **{r.status}**: {markdown_inline(r.reason)}" for r in attention] or ["- none"]
    lines += ["", "## Zeros next to a measurement that meets the target", "",
              "The notebook's tests gave 0, but the grader's own measurement of the weights meets the "
              "question's target: likely regrade requests.", ""]
    lines += [f"- {markdown_code(r.submission)}: {markdown_inline(q.name)} scored 0; {markdown_inline(q.verification)}. "
              f"Its tests said: {markdown_inline(_first_failure(q))}" for r in graded for q in r.questions.values()
              if q.score == 0 and q.measured_ok] or ["- none"]
    return lines


def _hand_points(row: StudentRow) -> str:
    """The points given by hand; blank until one of the student's answers is graded."""
    graded = [g.points for g in row.hand.values() if g.points is not None]
    return f"{sum(graded):g}" if graded else ""


def late_text(seconds: float) -> str:
    """``1 d 02:03`` style: days, hours and minutes late; a late mark without a time (Canvas's
    ``LATE``, charged 0 seconds) says so rather than ``00:00``."""
    if seconds <= 0:
        return "marked late, no time given"
    minutes = int(seconds // 60)
    days, minutes = divmod(minutes, 1440)
    return (f"{days} d " if days else "") + f"{minutes // 60:02d}:{minutes % 60:02d}"


def _first_failure(question: QuestionResult) -> str:
    return next((t.message for t in question.tests if not t.passed and t.message), "no test ran")


def _score_columns(result: GradeResult | None, questions: list[str], row: StudentRow | None = None) -> dict:
    if result is None:
        return {"status": PENDING}
    cells = {"status": result.status, "score": f"{result.score:g}", "possible": f"{result.possible:g}",
             "percent": f"{100 * result.score / result.possible:.1f}" if result.possible else "",
             "test_accuracy": f"{result.accuracy:.4f}" if result.accuracy is not None else "", "reason": result.reason}
    cells.update({name: f"{result.questions[name].score:g}" for name in questions if name in result.questions})
    for name in questions:
        if name in result.manual:
            grade = row.hand.get(name) if row else None
            cells[name] = f"{grade.points:g}" if grade and grade.points is not None else MANUAL
    return cells


def _question_names(results, manual: bool = True) -> list[str]:
    """Every question's name, in grading order; then those graded by hand (unless ``manual`` is false)."""
    names: dict[str, None] = {}
    for result in results:
        names.update(dict.fromkeys(result.questions))
    if manual:
        for result in results:
            names.update(dict.fromkeys(result.manual))
    return list(names)


def _histogram(path: Path, totals: list[float], possible: float) -> None:
    from .figures import draw

    def plot(ax) -> None:
        ax.hist(totals, bins=min(20, max(5, int(possible) + 1)), range=(0, possible), color="#4477aa",
                edgecolor="white")
        ax.set_xlabel("score")
        ax.set_ylabel("submissions")

    write_atomically(path, draw(plot, size=(6, 3), format="png"))


def write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    """A CSV whose every cell is safe for a spreadsheet (:func:`.safe_text.csv_cell`)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows({k: csv_cell(v) for k, v in row.items()} for row in rows)
    write_atomically(path, buffer.getvalue())

