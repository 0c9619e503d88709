"""Due dates and late penalties: how late a submission is, and what that costs.

A :class:`LatePolicy` is the lesson's due date, a grace period, a penalty in percent of the
points per started day (or hour) late, a cap on that penalty, and per-student extensions
(a CSV: ``student`` and either ``due``, a new ISO 8601 time, or ``days``/``hours`` added).

Which time counts, in order:
1. the platform's mark: an input layout that says a submission is not late (``Entry.late is
   False``: Canvas without ``LATE``) is trusted, since the platform knew its own due date and
   extensions;
2. the platform's submission time, compared with the due date (the student's extension, if
   any): ``Entry.submitted_at`` where the layout records one (Gradescope's metadata,
   Blackboard's attempt names), else the roster's (Moodle's grading worksheet has
   ``Last modified (submission)``);
3. a platform's ``LATE`` mark without a time (Canvas's names carry none): one unit (a day or
   an hour) late, said so in the row; but for a student with an extension nothing is charged
   (the row says so): the platform's mark may be against the lesson's due date, and without a
   time nothing shows the upload came after the extended one;
4. otherwise (a plain folder, a Moodle download without its worksheet) the only times are the
   files', which are download or copy times: never penalised, and the row says why.

Past the grace period, lateness counts from the due date itself, per started unit
(1 minute past a 10-minute grace on a per-day policy is 1 day late). Penalties come off the
final score as a percentage of the points possible, never below 0.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from .inputs import Entry, Student

UNITS = {"day": 86_400.0, "hour": 3_600.0}
PLATFORM_TIME_LAYOUTS = {"gradescope", "blackboard"}   # layouts whose submitted_at is the platform's record


class LatePolicyError(ValueError):
    """A due date, penalty or extensions file that cannot be read; the message says which."""


@dataclass(frozen=True)
class Lateness:
    seconds: float = 0.0          # past the student's due date (0: on time)
    units: int = 0                # started days or hours charged
    penalty_percent: float = 0.0  # of the points possible, capped
    note: str = ""                # how it was decided, where not plain


@dataclass(frozen=True)
class LatePolicy:
    due: dt.datetime                                    # timezone-aware
    grace_seconds: float = 0.0
    penalty_percent: float = 0.0                        # per unit
    unit: str = "day"
    cap_percent: float = 100.0
    extensions: dict[str, dt.datetime] = field(default_factory=dict)   # any student id -> due date

    def due_for(self, student: Student) -> dt.datetime:
        """The student's due date: their extension (by key, sid, email or login) or the lesson's."""
        for ident in _identities(student):
            if ident in self.extensions:
                return self.extensions[ident]
        return self.due

    def assess(self, student: Student, entry: Entry, roster_time: str = "") -> Lateness:
        """How late ``entry`` is for ``student`` and the penalty it costs (see the module
        docstring); ``roster_time``: the submission time the roster gives, if any."""
        if entry.late is False:
            return Lateness()
        due = self.due_for(student)
        recorded = entry.submitted_at if entry.layout in PLATFORM_TIME_LAYOUTS else ""
        submitted = None
        try:   # a time without a zone is the due date's (the LMS shows local times)
            submitted = parse_time(recorded or roster_time, due.tzinfo or dt.timezone.utc) if recorded or roster_time else None
        except LatePolicyError:
            if recorded:
                raise
        # a roster's unreadable time ("-" where nothing was submitted) is no time
        if submitted is None:
            if entry.late and due != self.due:
                return Lateness(note=f"marked late by the platform, no time given, but extended to "
                                     f"{due.isoformat(timespec='minutes')}: nothing shows it came after that, "
                                     f"no late penalty (check the platform's submission time)")
            if entry.late:
                return self._charge(0.0, 1, f"marked late by the platform, no time given: 1 {self.unit} charged")
            return Lateness(note="no submission time from the platform (file times are download or copy "
                                 "times): no late penalty")
        seconds = (submitted - due).total_seconds()
        if seconds <= self.grace_seconds:
            return Lateness(note="within the grace period" if seconds > 0 else "")
        return self._charge(seconds, math.ceil(seconds / UNITS[self.unit]), "")

    def _charge(self, seconds: float, units: int, note: str) -> Lateness:
        return Lateness(seconds, units, min(self.cap_percent, units * self.penalty_percent), note)


@dataclass(frozen=True)
class LateSettings:
    """A late rule as written: by the course (course.yaml's ``lessons.<id>``) or by the grading
    command's options of the same names; None where not set. ``policy`` reads it."""

    due: str | None = None
    grace: str | None = None          # 15m, 2h, 1d, or minutes
    late_penalty: str | None = None   # 10%/day, 2%/hour
    late_cap: str | float | None = None   # percent: 50 or 50%
    extensions: Path | None = None    # CSV: student, and due or days/hours

    def overridden_by(self, other: LateSettings) -> LateSettings:
        """These settings, each one ``other`` sets replaced by its value (options over the course's)."""
        return replace(self, **{f.name: getattr(other, f.name) for f in fields(other)
                                if getattr(other, f.name) is not None})

    def policy(self) -> LatePolicy | None:
        """The late policy, or None without a due date; raises LatePolicyError for a value that
        cannot be read, or extensions without a due date."""
        if self.due is None:
            if self.extensions is not None:
                raise LatePolicyError("extensions need a due date (--due, or due in course.yaml's lessons section): "
                                      "an extension moves the lesson's due date")
            return None
        cap = 100.0 if self.late_cap is None else parse_cap(self.late_cap)
        due = parse_time(self.due)
        percent, unit = parse_penalty(self.late_penalty or "0%/day")
        return LatePolicy(due=due, grace_seconds=parse_duration(self.grace or "0"), penalty_percent=percent,
                          unit=unit, cap_percent=cap,
                          extensions=read_extensions(self.extensions, due) if self.extensions else {})


# Moodle's worksheet writes times as its user's locale shows them ("Monday, 2 March 2026, 10:15 AM")
_LMS_FORMATS = ("%A, %d %B %Y, %I:%M %p", "%A, %d %B %Y, %H:%M", "%d %B %Y, %I:%M %p", "%d %B %Y, %H:%M")


def parse_time(text: str, zone: dt.tzinfo = dt.timezone.utc) -> dt.datetime:
    """An ISO 8601 time (``2026-03-01T23:59``, ``...Z``, ``...+01:00``) or Moodle's
    ``Monday, 2 March 2026, 10:15 AM``; without a zone, ``zone`` (UTC unless told)."""
    text = text.strip()
    if re.fullmatch(r"\d{4}-\d\d-\d\d", text):   # midnight is rarely meant: say the time
        raise LatePolicyError(f"{text} has no time of day: write one, e.g. {text}T23:59+01:00")
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace(" UTC", "+00:00"))
    except ValueError:
        for pattern in _LMS_FORMATS:
            try:
                value = dt.datetime.strptime(text, pattern)
                break
            except ValueError:
                continue
        else:
            raise LatePolicyError(f"{text!r} is not an ISO 8601 time such as 2026-03-01T23:59+01:00") from None
    return value if value.tzinfo else value.replace(tzinfo=zone)


def parse_penalty(text: str | float) -> tuple[float, str]:
    """``"10%/day"``, ``"2/hour"`` -> (percent, unit). The unit must be said: a bare ``10`` or
    ``10%`` is refused (per day or per hour differ 24 times)."""
    amount, slash, unit = str(text).replace(" ", "").partition("/")
    unit = unit.lower().rstrip("s")
    try:
        percent = float(amount.rstrip("%"))
    except ValueError:
        percent = -1
    if not slash or unit not in UNITS or percent < 0:
        raise LatePolicyError(f"late penalty {str(text)!r}: write a percentage per day or hour, e.g. 10%/day "
                              f"or 2%/hour")
    return percent, unit


def parse_cap(text: str | float) -> float:
    """``50``, ``"50"``, ``"50%"`` -> 50.0 (percent of the points, 0 to 100)."""
    try:
        cap = float(str(text).strip().rstrip("%"))
    except ValueError:
        cap = -1
    if not 0 <= cap <= 100:
        raise LatePolicyError(f"late cap {str(text)!r}: a percentage from 0 to 100, e.g. 50 or 50%")
    return cap


def parse_duration(text: str) -> float:
    """``"15m"``, ``"2h"``, ``"1d"``, ``"90"`` (minutes) -> seconds."""
    text = text.strip().lower()
    scale = {"s": 1, "m": 60, "h": 3600, "d": 86_400}.get(text[-1:], None)
    try:
        return float(text[:-1] if scale else text) * (scale or 60)
    except ValueError:
        raise LatePolicyError(f"grace period {text!r}: write minutes (15), or 15m, 2h, 1d") from None


def read_extensions(path: Path, due: dt.datetime) -> dict[str, dt.datetime]:
    """A CSV with a ``student`` column (key, sid, email or login) and ``due`` (a time) or
    ``days``/``hours`` (added to the lesson's due date)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError) as error:
        raise LatePolicyError(f"extensions {path}: {error}") from None
    extensions = {}
    for number, row in enumerate(rows, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        who = row.get("student", "")
        if not who:
            raise LatePolicyError(f"{path}, line {number}: no student (columns: student, and due or days or hours)")
        try:
            if row.get("due"):
                extensions[who.lower()] = parse_time(row["due"])
            else:
                extra = float(row.get("days") or 0) * 86_400 + float(row.get("hours") or 0) * 3600
                extensions[who.lower()] = due + dt.timedelta(seconds=extra)
        except ValueError as error:
            raise LatePolicyError(f"{path}, line {number}: {error}") from None
    return extensions


def _identities(student: Student) -> list[str]:
    return [i.strip().lower() for i in (student.key, student.sid, student.email, student.login) if i and i.strip()]
