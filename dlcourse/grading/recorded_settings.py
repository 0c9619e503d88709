"""What a grading run asked for beyond its grades, kept in OUT, so that collecting later
(``dlcourse gradebook OUT``, once every shard of a job array has run) writes the rows that run
would have written: the roster, the late policy, the filled written-answer sheet, the LMS
exports, the feedback form and the names shown. (The input layout, which decides the entries
themselves, is kept with the input in batch.json: collect.BatchRecord.)

Everything is kept as read, not as file names: the roster's students, the late policy with its
extensions resolved to due dates, the hand grades. Collecting needs none of those files again
(a shard's machine may not have them, and an edited roster must not change an old batch).

``OUT/grading.json`` is signed with the results' key (trust.py) like every saved result: a
record the sandboxed user wrote, or changed, is not believed, and the collect step then uses
no settings. Every run (every shard) writes it; the last run's settings are its gradebook's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..atomic import write_atomically
from .inputs import Student
from .late import LatePolicy
from .roster import Roster
from .rows import HandGrade, OutputSettings
from .trust import seal, unseal

SETTINGS_FILE = "grading.json"


def save_settings(out: Path, settings: OutputSettings | None, key: bytes | None) -> None:
    """Keep ``settings`` (None: none were asked for) in ``out``, signed with ``key``."""
    write_atomically(out / SETTINGS_FILE, seal({"settings": _encode(settings) if settings else None}, key) + "\n")


def saved_settings(out: Path, key: bytes | None) -> OutputSettings | None:
    """The settings the last grading run into ``out`` kept, if ``key`` signed them; None where
    it kept none (or an older version graded it, or the record is not the grader's)."""
    try:
        record = unseal((out / SETTINGS_FILE).read_text(), key)
        return _decode(record["settings"]) if record and record["settings"] else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _encode(settings: OutputSettings) -> dict[str, Any]:
    late = settings.late
    return {
        "roster": {"students": [asdict(s) for s in settings.roster.students], "times": settings.roster.times,
                   "id_column": settings.roster.id_column}
        if settings.roster else None,
        "late": {"due": late.due.isoformat(), "grace_seconds": late.grace_seconds,
                 "penalty_percent": late.penalty_percent, "unit": late.unit, "cap_percent": late.cap_percent,
                 "extensions": {who: due.isoformat() for who, due in late.extensions.items()}} if late else None,
        "hand": {student: {question: asdict(grade) for question, grade in grades.items()}
                 for student, grades in settings.hand.items()} if settings.hand is not None else None,
        "exports": list(settings.exports), "feedback": settings.feedback, "assignment": settings.assignment,
        "assignment_id": settings.assignment_id, "lesson_title": settings.lesson_title,
        "accuracy_target": settings.accuracy_target, "weights_file": settings.weights_file,
        "template": str(settings.template) if settings.template else None,
    }


def _decode(data: dict[str, Any]) -> OutputSettings:
    roster, late, hand = data["roster"], data["late"], data["hand"]
    return OutputSettings(
        roster=Roster([Student(**s) for s in roster["students"]], dict(roster["times"]), roster.get("id_column", ""))
        if roster else None,
        late=LatePolicy(due=dt.datetime.fromisoformat(late["due"]), grace_seconds=late["grace_seconds"],
                        penalty_percent=late["penalty_percent"], unit=late["unit"], cap_percent=late["cap_percent"],
                        extensions={who: dt.datetime.fromisoformat(due) for who, due in late["extensions"].items()})
        if late else None,
        hand={student: {question: HandGrade(**grade) for question, grade in grades.items()}
              for student, grades in hand.items()} if hand is not None else None,
        exports=tuple(data["exports"]), feedback=data["feedback"], assignment=data["assignment"],
        assignment_id=data["assignment_id"], lesson_title=data["lesson_title"],
        accuracy_target=data["accuracy_target"], weights_file=data["weights_file"],
        template=Path(data["template"]) if data["template"] else None,
    )
