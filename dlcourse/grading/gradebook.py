"""Turn graded submissions into what an instructor reads and imports.

- ``gradebook.csv``: one row per student, the columns an LMS import expects (identity,
  total, percent, one column per question) plus status, reason and ``test_accuracy`` (the
  accuracy the clean room measured from the weights). A question graded by hand has its
  column too, holding ``manual``: its points are in neither the score nor the total;
- ``submissions.csv``: one row per input file, skipped files included, so nothing is lost;
- ``report.md`` with ``scores.png``: statuses, per-question pass rates, the score histogram,
  the most common failure messages, the submissions to look at by hand, and every row
  scored 0 on a question whose measurement from the weights meets its target.

A student with several submissions is graded on the latest (by Gradescope's time, else the
file's); the others stay in submissions.csv.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from pathlib import Path

from ..atomic import atomic_file, write_atomically
from .inputs import Discovery, Entry
from .result import STATUSES, GradeResult, QuestionResult

PENDING = "pending"  # found, not graded yet (the run was interrupted)
MANUAL = "manual"    # a question the instructor grades by hand


def write_gradebook(out: Path, found: Discovery, results: dict[str, GradeResult]) -> None:
    questions = _question_names(results.values())
    student_rows = []
    for key, entry, others in _latest_per_student(found.entries):
        result = results.get(entry.key)
        student = next(s for s in entry.students if s.key == key)
        row = {"student": key, "name": student.name, "email": student.email, "sid": student.sid,
               "submission": entry.label, "submitted_at": entry.submitted_at}
        row.update(_score_columns(result, questions))
        row["other_submissions"] = "; ".join(o.label for o in others)
        student_rows.append(row)
    _write_csv(out / "gradebook.csv", student_rows,
               ["student", "name", "email", "sid", "submission", "submitted_at", "status", "score", "possible",
                "percent", *questions, "test_accuracy", "reason", "other_submissions"])

    submission_rows = []
    for entry in found.entries:
        row = {"submission": entry.label, "students": "; ".join(s.key for s in entry.students)}
        row.update(_score_columns(results.get(entry.key), questions))
        result = results.get(entry.key)
        row["flags"] = " | ".join(result.flags) if result else ""
        row["enforced"] = ", ".join(result.enforced) if result else ""
        row["not_enforced"] = " | ".join(result.not_enforced) if result else ""
        submission_rows.append(row)
    for aside in found.set_aside:
        submission_rows.append({"submission": aside.name, "status": "skipped", "reason": aside.reason})
    _write_csv(out / "submissions.csv", submission_rows,
               ["submission", "students", "status", "score", "possible", "percent", *questions, "test_accuracy",
                "reason", "flags", "enforced", "not_enforced"])


def write_report(out: Path, found: Discovery, results: dict[str, GradeResult]) -> None:
    graded = [results[e.key] for e in found.entries if e.key in results]
    lines = [f"# Grading report: {graded[0].lesson if graded else 'no submissions'}", "",
             f"{len(found.entries)} submissions found, {len(graded)} graded, {len(found.set_aside)} other files skipped.", ""]
    counts = Counter(r.status for r in graded)
    lines += ["## Statuses", "", "| status | submissions |", "|---|---|"]
    lines += [f"| {status} | {counts[status]} |" for status in STATUSES if counts[status]]
    if len(graded) < len(found.entries):
        lines.append(f"| {PENDING} | {len(found.entries) - len(graded)} |")
    if graded:
        totals = [r.score for r in graded]
        possible = max(r.possible for r in graded) or 1
        lines += ["", "## Scores", "",
                  f"Mean {statistics.mean(totals):.1f}, median {statistics.median(totals):.1f}, "
                  f"min {min(totals):g}, max {max(totals):g} (of {possible:g}).", "", "![score histogram](scores.png)", ""]
        _histogram(out / "scores.png", totals, possible)
        lines += ["## Questions", "", "| question | mean score | full marks |", "|---|---|---|"]
        for name in _question_names(graded, manual=False):
            scored = [r.questions[name] for r in graded if name in r.questions]
            mean = statistics.mean(q.score for q in scored)
            full = sum(q.score == q.possible for q in scored) / len(scored)
            lines.append(f"| {name} | {mean:.2f} / {scored[0].possible:g} | {full:.0%} |")
        manual = {name: points for r in graded for name, points in r.manual.items()}
        lines += [f"| {name} | graded by hand ({points:g} points, not in these scores) | |"
                  for name, points in manual.items()]
        failures = Counter(message for r in graded for message in
                           dict.fromkeys(f"{q.name}: {t.message}" for q in r.questions.values() for t in q.tests
                                         if not t.passed and t.message))  # each once per submission, in order
        lines += ["", "## Most common failure messages", ""]
        lines += [f"- {count} submission(s): {message}" for message, count in failures.most_common(10)] or ["- none"]
        attention = [r for r in graded if r.status not in ("ok", "error", "missing-weights")]
        lines += ["", "## Submissions to look at", ""]
        lines += [f"- `{r.submission}`: **{r.status}**: {r.reason}" for r in attention] or ["- none"]
        lines += ["", "## Zeros next to a measurement that meets the target", "",
                  "The notebook's tests gave 0, but the grader's own measurement of the weights meets the "
                  "question's target: likely regrade requests.", ""]
        lines += [f"- `{r.submission}`: {q.name} scored 0; {q.verification}. Its tests said: "
                  f"{_first_failure(q)}" for r in graded for q in r.questions.values()
                  if q.score == 0 and q.measured_ok] or ["- none"]
    if found.set_aside:
        lines += ["", "## Skipped files", ""] + [f"- `{aside.name}`: {aside.reason}" for aside in found.set_aside]
    write_atomically(out / "report.md", "\n".join(lines) + "\n")


def _first_failure(question: QuestionResult) -> str:
    return next((t.message for t in question.tests if not t.passed and t.message), "no test ran")


def _score_columns(result: GradeResult | None, questions: list[str]) -> dict:
    if result is None:
        return {"status": PENDING}
    row = {"status": result.status, "score": f"{result.score:g}", "possible": f"{result.possible:g}",
           "percent": f"{100 * result.score / result.possible:.1f}" if result.possible else "",
           "test_accuracy": f"{result.accuracy:.4f}" if result.accuracy is not None else "", "reason": result.reason}
    row.update({name: f"{result.questions[name].score:g}" for name in questions if name in result.questions})
    row.update({name: MANUAL for name in questions if name in result.manual})
    return row


def _latest_per_student(entries: list[Entry]) -> list[tuple[str, Entry, list[Entry]]]:
    """(student key, the submission that counts, the student's other submissions)."""
    by_student: dict[str, list[Entry]] = {}
    for entry in entries:
        for student in entry.students:
            by_student.setdefault(student.key, []).append(entry)
    chosen = []
    for key in sorted(by_student):
        ordered = sorted(by_student[key], key=lambda e: (e.submitted_at, e.label))
        chosen.append((key, ordered[-1], ordered[:-1]))
    return chosen


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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist(totals, bins=min(20, max(5, int(possible) + 1)), range=(0, possible), color="#4477aa", edgecolor="white")
    ax.set_xlabel("score")
    ax.set_ylabel("submissions")
    fig.tight_layout()
    with atomic_file(path) as out:
        fig.savefig(out, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)


def _write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_atomically(path, buffer.getvalue())
