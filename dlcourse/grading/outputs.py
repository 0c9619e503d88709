"""Everything a batch writes for people, from (out folder, Discovery, results, settings).

:func:`write_outputs` is the one call a grading run (or a collect step after sharded
grading) makes once the results are in: gradebook.csv and submissions.csv, the LMS exports,
the written-answer sheet, the feedback pages, the copies found, report.md and report.html.
It reads only the results and the submissions' own files; it never regrades, so a filled
written-answer sheet or a new late rule is applied by running it again.
"""

from __future__ import annotations

from pathlib import Path

from .answer_sheet import hand_grade_warning, keep_filled_sheet, write_answer_sheet
from .feedback import write_feedback
from .figures import warmed_up
from .gradebook import write_csv, write_gradebook, write_report
from .inputs import Discovery, notebook_names
from .lms_export import EXPORTS, export_path, write_exports
from .result import GradeResult
from .report_html import write_html_report
from .rows import OutputSettings
from .safe_text import markdown_code, markdown_inline
from .similarity import Copy, find_copies, who


def write_outputs(out: Path, found: Discovery, results: dict[str, GradeResult],
                  settings: OutputSettings | None = None) -> list[str]:
    """Write every output (see the module docstring); return one-line warnings for the instructor."""
    warmed_up()   # matplotlib and jinja2, if a thread is loading them while the judge ran
    settings = settings or OutputSettings()
    if not settings.assignment and results:
        settings = _with_assignment(settings, next(iter(results.values())).lesson)
    settings, kept = keep_filled_sheet(out, settings)
    rows = write_gradebook(out, found, results, settings)
    warnings = [w for w in (kept, hand_grade_warning(settings.hand, rows)) if w] + write_exports(out, rows, settings)
    write_answer_sheet(out, rows, settings.lesson_title or settings.assignment)
    warnings += remove_stale(out, settings)
    if settings.feedback != "none":
        write_feedback(out, rows, settings.lesson_title or settings.assignment, notebook_names(found.entries),
                       unit=settings.late.unit if settings.late else "day", target=settings.accuracy_target,
                       zip_too=settings.feedback == "zip")
    copies = find_copies(found, results, weights_file=settings.weights_file, template=settings.template)
    write_copies(out, copies)
    write_report(out, found, results, settings, sections=[copies_section(copies)])
    write_html_report(out, found, results, settings)
    return warnings


COPIES_CSV = "copies.csv"


def remove_stale(out: Path, settings: OutputSettings) -> list[str]:
    """Remove what an earlier run wrote and this one does not (an LMS export without its
    ``--export``, feedback pages with ``--feedback none``): an old gradebook must not be
    imported, nor an old page handed out. One line per file or folder removed."""
    import shutil

    stale = [export_path(out, p) for p in sorted(EXPORTS) if p not in settings.exports]
    if settings.feedback == "none":
        stale.append(out / "feedback")
    if settings.feedback != "zip":
        stale.append(out / "feedback.zip")
    said = []
    for path in stale:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        else:
            continue
        said.append(f"removed {path.name} from an earlier run: this run did not write it "
                    f"(give the same --export/--feedback to keep it current)")
    return said


def write_copies(out: Path, copies: list[Copy]) -> None:
    """copies.csv: one row per pair of students, every kind of evidence found between them
    (for a person to judge; no score changes)."""
    write_csv(out / COPIES_CSV, [{"students_a": who(c.a), "students_b": who(c.b), "kinds": "; ".join(c.kinds),
                                  "evidence": "; ".join(f"{k}: {e}" for k, e in zip(c.kinds, c.evidence)),
                                  "submissions": "; ".join(c.submissions)} for c in copies],
              ["students_a", "students_b", "kinds", "evidence", "submissions"])


def copies_section(copies: list[Copy]) -> list[str]:
    lines = ["## Possible copies, for a person to judge", "",
             "Evidence only: no score was changed and nothing is said to students (copies.csv has the same, "
             "one row per pair of students).", ""]
    items = [f"- {markdown_inline(who(c.a))} and {markdown_inline(who(c.b))}: **{', '.join(c.kinds)}**: "
             + "; ".join(markdown_inline(e) for e in c.evidence)
             + f" (submissions: {', '.join(markdown_code(s) for s in c.submissions)})" for c in copies]
    return lines + (items or ["- none"])


def _with_assignment(settings: OutputSettings, lesson: str) -> OutputSettings:
    from dataclasses import replace

    return replace(settings, assignment=lesson)
