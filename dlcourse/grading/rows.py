"""One row per student: the submission that counts, its result, lateness and hand grades.

Every writer an instructor reads or imports (gradebook.csv, the LMS exports, feedback pages,
the written-answer sheet) starts from :func:`student_rows`, so they cannot disagree.

- Students come from the input layout, or from a roster: then every roster member has a row
  (``missing`` where nothing was submitted), and a submitter not on the roster still has one,
  noted.
- A student with several submissions is graded on the latest (by the platform's time, else
  the file's); the others are listed.
- ``raw`` is the autograded score plus the points given by hand (once a filled written-answer
  sheet is given, its questions count in ``possible`` for everybody); the late penalty is a
  percentage of ``possible``; ``final`` is never below 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .inputs import Discovery, Entry, Student
from .late import PLATFORM_TIME_LAYOUTS, LatePolicy, Lateness
from .result import GradeResult
from .roster import Roster, merged

MISSING = "missing"   # on the roster, nothing submitted
PENDING = "pending"   # found, not graded yet (the run was interrupted)
NOT_ON_ROSTER = "not on the roster"   # a row's note: a submitter the roster does not know


@dataclass(frozen=True)
class OutputSettings:
    """What the instructor asked of a batch beyond its grades (``dlcourse grade``'s options)."""

    roster: Roster | None = None
    late: LatePolicy | None = None
    hand: dict[str, dict[str, HandGrade]] | None = None   # a filled written-answer sheet, by student key
    exports: tuple[str, ...] = ()                        # LMS names (lms_export.EXPORTS)
    feedback: str = "zip"                                # "folders", "zip" (folders and a zip) or "none"
    assignment: str = ""                                 # the lesson's column name in the LMS
    assignment_id: str = ""                              # Canvas's assignment id, Blackboard's column id
    lesson_title: str = ""                               # for the pages students read
    accuracy_target: float | None = None                 # the lesson's threshold, shown beside the measurement
    weights_file: str = ""                               # the lesson's weights file, compared for copies
    template: Path | None = None                         # the student notebook: its code is no evidence of copying

    def rows(self, found: Discovery, results: dict[str, GradeResult]) -> list[StudentRow]:
        return student_rows(found, results, roster=self.roster, late=self.late, hand=self.hand)


@dataclass(frozen=True)
class HandGrade:
    points: float | None     # None: not graded yet
    comment: str = ""


@dataclass
class StudentRow:
    student: Student
    entry: Entry | None = None
    result: GradeResult | None = None
    others: list[Entry] = field(default_factory=list)
    lateness: Lateness = Lateness()
    hand: dict[str, HandGrade] = field(default_factory=dict)   # hand-graded question -> its grade
    hand_counted: bool = False                                 # a filled sheet was given: hand points count
    notes: list[str] = field(default_factory=list)
    possible_if_missing: float = 0.0
    submitted_at: str = ""   # the platform's submission time (its layout's or its roster's); "" without one

    @property
    def status(self) -> str:
        if self.entry is None:
            return MISSING
        return self.result.status if self.result else PENDING

    @property
    def every_note(self) -> list[str]:
        """What the roster, the reader and the grading noted about this row (a repaired notebook,
        a renamed file), each once, in that order."""
        found = [*self.notes, *(self.entry.notes if self.entry else []), *(self.result.notes if self.result else [])]
        return list(dict.fromkeys(found))

    @property
    def manual_possible(self) -> float:
        return sum(self.result.manual.values()) if self.result and self.hand_counted else 0.0

    @property
    def raw(self) -> float:
        """Autograded points plus the points given by hand."""
        if self.result is None:
            return 0.0
        hand = sum(g.points or 0.0 for g in self.hand.values()) if self.hand_counted else 0.0
        return self.result.score + hand

    @property
    def possible(self) -> float:
        return self.result.possible + self.manual_possible if self.result else self.possible_if_missing

    @property
    def penalty_points(self) -> float:
        return round(self.possible * self.lateness.penalty_percent / 100, 4)

    @property
    def final(self) -> float:
        return max(0.0, round(self.raw - self.penalty_points, 4))


def student_rows(found: Discovery, results: dict[str, GradeResult], *, roster: Roster | None = None,
                 late: LatePolicy | None = None, hand: dict[str, dict[str, HandGrade]] | None = None) -> list[StudentRow]:
    """The gradebook's rows, in roster order (else by student key); see the module docstring.
    ``hand``: student key -> question -> grade, from a filled written-answer sheet."""
    by_key: dict[str, tuple[Student, list[Entry]]] = {}
    strangers: set[str] = set()
    for entry in found.entries:
        for student in entry.students:
            member = roster.match(student) if roster else None
            if roster and member is None:
                strangers.add(student.key)
            identity = merged(member, student) if member else student
            known, entries = by_key.setdefault(identity.key, (identity, []))
            if identity != known:   # a later entry may know more (a name, an email)
                by_key[identity.key] = (merged(known, identity), entries)
            entries.append(entry)
    # a missing student's points possible: everyone's, the hand-graded questions' too once a sheet is given
    possible = max((r.possible + (sum(r.manual.values()) if hand is not None else 0.0) for r in results.values()),
                   default=0.0)
    keys = [m.key for m in roster.students] if roster else []
    keys += sorted(k for k in by_key if k not in keys)
    members = {m.key: m for m in roster.students} if roster else {}
    rows = []
    for key in keys:
        if key not in by_key:
            rows.append(StudentRow(members[key], possible_if_missing=possible, notes=["no submission"]))
            continue
        student, entries = by_key[key]
        ordered = sorted(entries, key=lambda e: (e.submitted_at, e.label))
        entry = ordered[-1]
        row = StudentRow(student, entry, results.get(entry.key), ordered[:-1], possible_if_missing=possible)
        roster_time = roster.times.get(key, "") if roster else ""
        # a file's own time is a download or copy time, never shown as a submission time
        row.submitted_at = (entry.submitted_at if entry.layout in PLATFORM_TIME_LAYOUTS else "") or roster_time
        if late:
            row.lateness = late.assess(student, entry, roster_time)
        if hand is not None:
            row.hand_counted = True
            row.hand = dict(hand.get(key, {}))
        if key in strangers:
            row.notes.append(NOT_ON_ROSTER)
        rows.append(row)
    return rows
