"""Everything a batch writes for people, from (out folder, Discovery, results, settings).

:func:`write_outputs` is the one call a grading run (or a collect step after sharded
grading) makes once the results are in: gradebook.csv and submissions.csv, the LMS exports,
the written-answer sheet, the feedback pages, the copies found, report.md and report.html.
It reads only the results and the submissions' own files; it never regrades, so a filled
written-answer sheet or a new late rule is applied by running it again.
"""

from __future__ import annotations

from pathlib import Path

from .answer_sheet import write_answer_sheet
from .gradebook import write_gradebook, write_report
from .inputs import Discovery
from .lms_export import write_exports
from .result import GradeResult
from .rows import OutputSettings


def write_outputs(out: Path, found: Discovery, results: dict[str, GradeResult],
                  settings: OutputSettings | None = None) -> list[str]:
    """Write every output (see the module docstring); return one-line warnings for the instructor."""
    settings = settings or OutputSettings()
    if not settings.assignment and results:
        settings = _with_assignment(settings, next(iter(results.values())).lesson)
    rows = write_gradebook(out, found, results, settings)
    warnings = write_exports(out, rows, settings)
    write_answer_sheet(out, rows, settings.assignment)
    write_report(out, found, results, settings)
    return warnings


def _with_assignment(settings: OutputSettings, lesson: str) -> OutputSettings:
    from dataclasses import replace

    return replace(settings, assignment=lesson)
