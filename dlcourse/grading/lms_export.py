"""Grade-import files for the LMSs, written beside gradebook.csv (``--export canvas ...``).

Each holds one row per student with the identity columns the platform matches on and one
column for the lesson: the final score (after any late penalty, hand-graded points included
once a filled sheet is given). A student whose grading failed on the grader's side, or was
not graded yet, gets an empty cell (an import leaves that grade alone) rather than a false 0;
a student on the roster who submitted nothing gets 0. Layouts, checked against each platform's
documentation or its importer's source:

- ``canvas-import.csv``, Canvas's Gradebook import (the layout its own export has):
  ``Student, ID, SIS User ID, SIS Login ID, Section`` then ``<assignment> (<assignment id>)``,
  and the export's ``Points Possible`` row. Canvas's importer (canvas-lms,
  app/models/gradebook_importer.rb) wants ``Student`` and ``ID`` first and ``Section`` last of
  the identity columns, matches a row by ``ID`` (its user id), else the SIS ids, else the
  name, finds the assignment by the id in parentheses (without one it creates an assignment),
  and takes a new assignment's points from the row whose first cell says ``Points Possible``;
- ``moodle-import.csv``, the assignment's offline grading worksheet ("Upload grading worksheet"):
  ``Identifier`` (``Participant <id>``, the number in Moodle's download folder names),
  ``Full name``, ``Email address``, ``Grade``, ``Maximum Grade``, ``Last modified (grade)``,
  ``Feedback comments``. Moodle's importer (mod/assign/feedback/offline/importgradeslib.php,
  locallib.php) requires Identifier, Grade and Last modified (grade), by their English
  names; skips a grade above the assignment's maximum grade, an empty one, and one changed in
  Moodle after "Last modified (grade)" (so it is the export's time); reads "Feedback comments"
  into the comments feedback;
- ``blackboard-import.csv``, Grade Center's "Work Offline > Upload" (Blackboard Learn's help,
  "Uploading External Grade Center Items"): ``Last Name, First Name, Username, Student ID``
  then ``<assignment> [Total Pts: <points> Score] |<column id>``; rows match on Username,
  columns on the id; in a comma-delimited file every value is quoted; a column without an id
  is made a new text column of 0 points possible;
- ``gradescope-gradebook.csv``: Gradescope documents no CSV import of scores (its autograder
  zip, built by ``dlcourse build``, is how a lesson is graded there), so this file has the
  layout of Gradescope's own per-assignment "Download Grades" export, ``Name, SID, Email,
  Total Score, Max Points, Status`` (``Graded``, ``Ungraded``, ``Missing``), which
  the tools that read Gradescope's exports read.

Numbers use a decimal point and at most two decimals. Every cell is safe for a spreadsheet.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path

from ..atomic import write_atomically
from .result import GRADER_SIDE
from .rows import MISSING, PENDING, OutputSettings, StudentRow
from .safe_text import csv_cell


def number(value: float) -> str:
    """A score as every LMS reads it: decimal point, at most two decimals, no trailing zeros."""
    return f"{round(value, 2):.2f}".rstrip("0").rstrip(".")


def _grade(row: StudentRow) -> str:
    if row.status == MISSING:
        return "0"
    if row.status in GRADER_SIDE or row.status == PENDING:
        return ""
    return number(row.final)


def _split_name(name: str) -> tuple[str, str]:
    """(first, last) from "Last, First" or "First Last"."""
    if "," in name:
        last, first = (p.strip() for p in name.split(",", 1))
        return first, last
    first, _, last = name.strip().rpartition(" ")
    return (first, last) if first else (last, "")


def canvas(rows: list[StudentRow], settings: OutputSettings, possible: float) -> tuple[list[str], list[list[str]]]:
    title = settings.assignment + (f" ({settings.assignment_id})" if settings.assignment_id else "")
    header = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", title]
    points = [CANVAS_POINTS_ROW, "", "", "", "", number(possible)]   # a new assignment's points, as Canvas exports it
    body = [[r.student.name, r.student.sid, "", r.student.login, "", _grade(r)] for r in rows]
    return header, [points, *body]


CANVAS_POINTS_ROW = "    Points Possible"
MOODLE_IDS = ("identifier", "participant")   # roster headers holding Moodle's participant ids (its worksheet's)


def moodle(rows: list[StudentRow], settings: OutputSettings, possible: float) -> tuple[list[str], list[list[str]]]:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    header = ["Identifier", "Full name", "Email address", "Grade", "Maximum Grade", "Last modified (grade)",
              "Feedback comments"]
    body = [[f"Participant {r.student.sid}" if r.student.sid else "", r.student.name, r.student.email, _grade(r),
             number(r.possible or possible), now, _comment(r)] for r in rows]
    return header, body


def blackboard(rows: list[StudentRow], settings: OutputSettings, possible: float) -> tuple[list[str], list[list[str]]]:
    column = f"{settings.assignment} [Total Pts: {number(possible)} Score]"
    if settings.assignment_id:
        column += f" |{settings.assignment_id}"
    header = ["Last Name", "First Name", "Username", "Student ID", column]
    body = [[*reversed(_split_name(r.student.name)), r.student.login, r.student.sid, _grade(r)] for r in rows]
    return header, body


def gradescope(rows: list[StudentRow], settings: OutputSettings, possible: float) -> tuple[list[str], list[list[str]]]:
    header = ["Name", "SID", "Email", "Total Score", "Max Points", "Status"]
    return header, [[r.student.name, r.student.sid, r.student.email, _grade(r), number(r.possible or possible),
                     _gradescope_status(r)] for r in rows]


def _gradescope_status(row: StudentRow) -> str:
    if row.status == MISSING:
        return "Missing"
    return "Ungraded" if row.status in GRADER_SIDE or row.status == PENDING else "Graded"


# name -> (writer, the identity column the platform cannot match without, its file's quoting)
EXPORTS: dict[str, tuple[Callable, str, int]] = {
    "canvas": (canvas, "ID", csv.QUOTE_MINIMAL),
    "moodle": (moodle, "Identifier", csv.QUOTE_MINIMAL),
    "blackboard": (blackboard, "Username", csv.QUOTE_ALL),
    "gradescope": (gradescope, "Email", csv.QUOTE_MINIMAL),
}


def export_path(out: Path, platform: str) -> Path:
    # Gradescope's is not an import (see the module docstring)
    return out / ("gradescope-gradebook.csv" if platform == "gradescope" else f"{platform}-import.csv")


def write_exports(out: Path, rows: list[StudentRow], settings: OutputSettings) -> list[str]:
    """Write each export ``settings.exports`` names; return one line per export whose rows lack
    the identity the platform matches on (those rows would not import)."""
    possible = max((r.possible for r in rows), default=0.0)
    problems = []
    for platform in settings.exports:
        make, needed, quoting = EXPORTS[platform]
        header, body = make(rows, settings, possible)
        column = header.index(needed)
        lacking = [r.student.key for r, line in zip(rows, body[len(body) - len(rows):]) if not line[column]]
        if lacking:
            problems.append(f"{platform}: {len(lacking)} student(s) without {needed} (e.g. {lacking[0]}): "
                            f"give a roster exported from {platform.capitalize()} (--roster) so the rows match "
                            f"its students")
        if platform == "moodle" and settings.roster and settings.roster.id_column not in MOODLE_IDS:
            problems.append(f"moodle: the roster's ids come from its {settings.roster.id_column or 'no'!r} column, "
                            f"not Moodle's participant ids: Moodle will match no row of moodle-import.csv; give "
                            f"the assignment's grading worksheet as --roster (View all submissions > Download "
                            f"grading worksheet), not the Participants export")
        buffer = io.StringIO()
        writer = csv.writer(buffer, quoting=quoting, lineterminator="\r\n")  # type: ignore[arg-type]  # csv's QUOTE_* ints
        writer.writerow(header)
        writer.writerows([csv_cell(cell) for cell in line] for line in body)
        write_atomically(export_path(out, platform), buffer.getvalue())
    return problems


def _comment(row: StudentRow) -> str:
    parts = [f"Late penalty: {row.lateness.penalty_percent:g}% of the points."] if row.lateness.units else []
    parts += [g.comment for g in row.hand.values() if g.comment]
    return " ".join(parts)
