"""The class list: who should have submitted, read from a roster CSV an LMS exports.

Accepted headers (case and spacing ignored), so the LMS's own export works as it is:
Canvas's gradebook export (``Student, ID, SIS User ID, SIS Login ID, Section``; its
``Points Possible`` row is skipped), Moodle's (``First name, Last name, ID number, Email
address``, ``Username``), Blackboard's (``Last Name, First Name, Username, Student ID``),
Gradescope's roster (``Name``/``First Name``/``Last Name``, ``Email``, ``SID``), Moodle's
grading worksheet (``Identifier`` as ``Participant 123``, ``Full name``, and ``Last modified
(submission)``, the submission time Moodle's download lacks), or plain ``student, name,
email, sid, login``.

A roster saved by a spreadsheet in a locale whose list separator is ``;`` (or as tab-separated
text) is read with that delimiter: the header line says which.

A submission belongs to the roster member who shares any identity with it (key, student id,
email or login, case ignored), else the only member with the same name.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from .inputs import Student

# roster column -> Student field, first match wins for each field
COLUMNS = {
    "sid": ("sid", "id", "student id", "id number", "user id", "canvas user id", "participant", "identifier"),
    "email": ("email", "email address", "e-mail", "e-mail address"),
    "login": ("login", "username", "user name", "sis login id", "login id"),
    "name": ("name", "student", "full name", "student name"),
    "first": ("first name", "firstname", "given name"),
    "last": ("last name", "lastname", "surname", "family name"),
    "key": ("key",),
    "time": ("last modified (submission)", "submitted at", "submission time", "submitted"),
}
SKIPPED_ROWS = {"points possible", "student, test"}   # Canvas's export: the points row, its test student


class RosterError(ValueError):
    """A roster that cannot be read; the message names the file and what is wrong."""


@dataclass
class Roster:
    students: list[Student]
    times: dict[str, str] = field(default_factory=dict)   # student key -> submission time the LMS recorded
    id_column: str = ""   # the header the students' ``sid`` came from ("identifier": Moodle's participant ids)

    def match(self, student: Student) -> Student | None:
        """The roster member ``student`` (as an input layout found them) is, or None."""
        ids = _identities(student)
        for member in self.students:
            if ids & _identities(member):
                return member
        name = _name(student.name)
        if name:
            same = [m for m in self.students if _name(m.name) == name]
            if len(same) == 1:
                return same[0]
        return None


def read_roster(path: Path) -> Roster:
    """Read a roster CSV (see the module docstring); raises :class:`RosterError`."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise RosterError(f"roster {path}: {error}") from None
    delimiter = _delimiter(text.partition("\n")[0])
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    if not rows:
        raise RosterError(f"roster {path} is empty")
    header = [" ".join(cell.strip().lower().split()) for cell in rows[0]]
    where = {column: next((header.index(n) for n in names if n in header), None) for column, names in COLUMNS.items()}
    if all(where[f] is None for f in ("sid", "email", "login", "key")):
        shown = ", ".join(repr(c) for c in rows[0][:4]) + (" ..." if len(rows[0]) > 4 else "")
        raise RosterError(f"roster {path} has no identity column (one of: ID, SID, Email, Username, Student ID); "
                          f"read with the delimiter {delimiter!r}, its header is {shown}: save it as CSV "
                          f"separated by commas or semicolons")
    students, seen, times = [], set(), {}
    for row in rows[1:]:
        cell = {f: (row[i].strip() if i is not None and i < len(row) else "") for f, i in where.items()}
        name = cell["name"] or " ".join(p for p in (cell["first"], cell["last"]) if p)
        if not any(row) or name.strip().lower() in SKIPPED_ROWS or (row and row[0].strip().lower() in SKIPPED_ROWS):
            continue
        cell["sid"] = re.sub(r"^participant\s*", "", cell["sid"], flags=re.IGNORECASE)  # Moodle's worksheet
        key = cell["key"] or cell["sid"] or cell["email"] or cell["login"]
        if not key or key in seen:
            continue
        seen.add(key)
        students.append(Student(key=key, name=name, email=cell["email"], sid=cell["sid"], login=cell["login"]))
        if cell["time"] and cell["time"] != "-":
            times[key] = cell["time"]
    sid = where["sid"]
    return Roster(students, times, id_column=header[sid] if sid is not None else "")


def _delimiter(header: str) -> str:
    """``,`` unless the header line has none and has ``;`` or tabs (a spreadsheet's locale)."""
    counts = {d: len(next(csv.reader([header], delimiter=d), [])) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > counts[","] else ","


def merged(member: Student, found: Student) -> Student:
    """The roster's identity, gaps filled from what the input layout found."""
    return Student(key=member.key, name=member.name or found.name, email=member.email or found.email,
                   sid=member.sid or found.sid, login=member.login or found.login)


def _identities(student: Student) -> set[str]:
    return {i.strip().lower() for i in (student.key, student.sid, student.email, student.login) if i and i.strip()}


def _name(name: str) -> str:
    """Word order ignored: Canvas lists "Lovelace, Ada" where a file name says "Ada Lovelace"."""
    return " ".join(sorted(name.casefold().replace(",", " ").split())) if name else ""
