"""``report.html``: the batch as a TA acts on it, beside report.md, self-contained (figures
inline): statuses, the students missing or late, per-question score distributions and the
measured-accuracy histogram (SVG drawn by matplotlib, :mod:`.figures`), failures grouped by cause (:mod:`.failures`) with
the submissions in each group, the submissions to look at, and the copies to judge."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from ..atomic import write_atomically
from .failures import group_failures
from .gradebook import score_line
from .figures import draw
from .html import data_uri, render
from .inputs import Discovery
from .result import STATUSES, GradeResult
from .rows import MISSING, NOT_ON_ROSTER, OutputSettings

REPORT_HTML = "report.html"


def write_html_report(out: Path, found: Discovery, results: dict[str, GradeResult],
                      settings: OutputSettings | None = None) -> None:
    settings = settings or OutputSettings()
    graded = [results[e.key] for e in found.entries if e.key in results]
    rows = settings.rows(found, results)
    counts = Counter(r.status for r in graded)
    names = list(dict.fromkeys(n for r in graded for n in r.questions))
    questions = []
    for name in names:
        scores = [r.questions[name].score for r in graded if name in r.questions]
        possible = max(r.questions[name].possible for r in graded if name in r.questions)
        questions.append({"name": name, "possible": possible, "mean": sum(scores) / len(scores),
                          "full": sum(s >= possible for s in scores) / len(scores),
                          "figure": _figure(_score_bars, scores, possible, name)})
    accuracies = [r.accuracy for r in graded if r.accuracy is not None]
    context = {
        "lesson": settings.lesson_title or (graded[0].lesson if graded else ""),
        "found": len(found.entries), "graded": len(graded), "skipped": len(found.set_aside),
        "statuses": [(s, counts[s]) for s in STATUSES if counts[s]],
        "scores": score_line(graded, rows, settings.hand is not None) if graded else "",
        "missing": [r.student for r in rows if r.status == MISSING],
        "late": [r for r in rows if r.lateness.units],
        "late_unit": settings.late.unit if settings.late else "day",
        "questions": questions,
        "accuracy_figure": _figure(_accuracy_histogram, accuracies, settings.accuracy_target) if accuracies else "",
        "failures": group_failures(graded)[:30],
        "attention": [r for r in graded if r.status != "ok"],
        "strangers": [r for r in rows if NOT_ON_ROSTER in r.notes],
        "copies": _copies(out),
    }
    write_atomically(out / REPORT_HTML, render("report.html.j2", **context))


def _copies(out: Path) -> list[dict]:
    import csv

    path = out / "copies.csv"
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _figure(plot, *args) -> str:
    return data_uri(draw(plot, *args, size=(4.5, 2.4), format="svg"), "image/svg+xml")


def _score_bars(ax, scores: list[float], possible: float, name: str) -> None:
    counts = Counter(scores)
    values = sorted(set(counts) | {0.0, possible})
    ax.bar([f"{v:g}" for v in values], [counts[v] for v in values], color="#4477aa")
    ax.set_xlabel(f"{name}: points (of {possible:g})")
    ax.set_ylabel("submissions")


def _accuracy_histogram(ax, accuracies: list[float], target: float | None) -> None:
    ax.hist([100 * a for a in accuracies], bins=20, color="#4477aa", edgecolor="white")
    if target is not None:
        ax.axvline(100 * target, color="#cc3311", linestyle="--", label=f"target {100 * target:g}%")
        ax.legend()
    ax.set_xlabel("test accuracy measured from the weights (%)")
    ax.set_ylabel("submissions")
