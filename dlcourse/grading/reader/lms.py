"""The downloads of three learning-management systems, as :mod:`.layouts` layouts.

- Canvas, "Download Submissions": one flat folder, every file renamed
  ``<login>[_LATE]_<user id>_<attachment id>_<original>``; a file resubmitted under a name
  already used gets ``-1``, ``-2``... before its suffix (nbgrader's ZipCollect and instructure/
  canvas-lms#2310 describe it). The download holds each student's latest submission; within
  it, an original name kept twice is an earlier upload: the higher attachment id is graded.
- Moodle, "Download all submissions": ``Full Name_<participant id>_assignsubmission_file_/``
  folders (subfolders kept), or the same prefix on flat files when "download in folders" is off.
- Blackboard, "Download Assignment": flat files ``<assignment>_<user>_attempt_<YYYY-MM-DD-HH-MM-SS>_<original>``
  and a receipt ``<assignment>_<user>_attempt_<time>.txt`` per attempt naming the student
  (``Name: Full Name (user)``) and mapping each ``Filename`` to its ``Original filename``.
  The latest attempt is graded, with the notebook or the weights it lacks from the latest
  earlier attempt that has it (a forgotten file added as a new attempt); earlier ones are listed. Assignment and user names may both
  hold ``_``: files are grouped by the whole ``<assignment>_<user>`` (two users are never merged)
  and the user is the receipt's, else what follows the assignment name all prefixes share.

Every entry of the folder that is no student's file goes through :func:`.uploads.classify`.
"""

from __future__ import annotations

import os
import re
import stat
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from .entries import Discovery, Entry, SetAside, Student
from .files import SubmissionProblem, display, is_notebook, is_weights, read_regular, walk
from .uploads import Layout, mtime, read_uploads, top_names

CANVAS = re.compile(r"^(?P<login>[^_]+?)(?P<late>_late)?_(?P<uid>\d+)_(?P<attachment>\d+)_(?P<original>.+)$", re.I)
MOODLE = re.compile(r"^(?P<name>.+?)_(?P<id>\d+)_assignsubmission_(?P<plugin>[a-z]+)_(?P<original>.*)$")
BLACKBOARD = re.compile(r"^(?P<prefix>.+?)_attempt_(?P<stamp>\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d)"
                        r"(?:_(?P<original>.+)|(?P<receipt>\.txt))$")
RESUBMITTED = re.compile(r"-\d+(?=\.[^.]+$)")   # Canvas's "-1" before the suffix


def _regular(path: Path) -> bool:
    return stat.S_ISREG(os.lstat(path).st_mode)


def _entry(files: dict[str, Path], label: str, layout: str, student: Student, **fields) -> Entry:
    """One student's entry from their files (name as the student gave it -> path), labelled by
    ``label`` (a stored name: the notebook's where there is one, so the row says which file it graded)."""
    path = next((p for p in files.values() if p.name == label), next(iter(files.values())))
    submitted_at = fields.pop("submitted_at", "") or mtime(path)
    return Entry(path, display(label), [student], submitted_at, layout=layout, members=files, **fields)


def _rest(target: Path, used: set[str], layout: str,
          lesson_files: Sequence[str]) -> tuple[list[Entry], list[SetAside]]:
    """The entries no student's platform file accounts for, read as a folder of uploads."""
    return read_uploads(target, [n for n in top_names(target) if n not in used], layout, lesson_files)


# ----------------------------------------------------------------------------- Canvas

def _canvas_names(names: list[str]) -> list[str]:
    return [n for n in names if CANVAS.match(n) and not n.startswith(".")]


def detect_canvas(names: list[str]) -> bool:
    visible = [n for n in names if not n.startswith(".")]
    return bool(visible) and 2 * len(_canvas_names(names)) >= len(visible)


def read_canvas(target: Path, lesson_files: Sequence[str] = ()) -> Discovery:
    by_user: dict[str, list[re.Match]] = defaultdict(list)
    for name in _canvas_names(top_names(target)):
        match = CANVAS.match(name)
        if match and _regular(target / name):
            by_user[match["uid"]].append(match)
    entries, used = [], set()
    for uid, matches in sorted(by_user.items()):
        latest: dict[str, re.Match] = {}
        for match in sorted(matches, key=lambda m: int(m["attachment"])):
            latest[RESUBMITTED.sub("", match["original"]).lower()] = match
        notebooks = sorted((m for m in latest.values() if is_notebook(m["original"])), key=lambda m: int(m["attachment"]))
        graded = [m for m in latest.values() if m not in notebooks[:-1]]
        earlier = sorted(m.string for m in matches if m not in graded)
        files = {m["original"]: target / m.string for m in sorted(graded, key=lambda m: m.string)}
        login = matches[0]["login"]
        label = notebooks[-1].string if notebooks else min(m.string for m in graded)
        entries.append(_entry(files, label, "canvas",
                              Student(key=uid, sid=uid, login=login),
                              late=any(m["late"] for m in graded), earlier=earlier,
                              notes=[f"Canvas user {uid} ({login}): " + ", ".join(sorted(files))]))
        used |= {m.string for m in matches}
    more, aside = _rest(target, used, "canvas", lesson_files)
    return Discovery(entries + more, aside)


# ----------------------------------------------------------------------------- Moodle

def detect_moodle(names: list[str]) -> bool:
    return any(MOODLE.match(n) for n in names)


def read_moodle(target: Path, lesson_files: Sequence[str] = ()) -> Discovery:
    by_id: dict[str, list[re.Match]] = defaultdict(list)
    for name in top_names(target):
        match = MOODLE.match(name)
        if match:
            by_id[match["id"]].append(match)
    entries, used, aside = [], set(), []
    for participant, everything in sorted(by_id.items()):
        # only the file plugin holds submitted files; online text, comments, ... are read in Moodle
        matches = [m for m in everything if m["plugin"] == "file"]
        aside += [SetAside(display(m.string), f"Moodle's {m['plugin']} of {m['name']} (participant {participant}), "
                                              f"not a submitted file: not graded, read it in Moodle")
                  for m in everything if m["plugin"] != "file"]
        used |= {m.string for m in everything}
        student = Student(key=participant, name=everything[0]["name"], sid=participant)
        if not matches:
            plugins = ", ".join(sorted({m["plugin"] for m in everything}))
            entries.append(Entry(target / everything[0].string, display(everything[0].string), [student],
                                 layout="moodle", problem=("invalid-notebook", f"no file submitted (only Moodle's "
                                                                               f"{plugins})")))
            continue
        files, problem = {}, None
        for match in sorted(matches, key=lambda m: m.string):
            path = target / match.string
            if stat.S_ISDIR(os.lstat(path).st_mode):
                try:
                    files.update(dict(walk(path)[0]))
                except SubmissionProblem as error:
                    problem = (error.status, error.reason)
            elif _regular(path) and match["original"]:
                files[match["original"]] = path
        if not files:
            entries.append(Entry(target / matches[0].string, display(matches[0].string), [student], layout="moodle",
                                 problem=problem or ("invalid-notebook", "the submission holds no files")))
            continue
        stored = sorted((p.name for p in files.values()), key=lambda n: (not is_notebook(n), n))
        entry = _entry(files, stored[0], "moodle", student, problem=problem)
        if stat.S_ISDIR(os.lstat(target / matches[0].string).st_mode):
            entry.label = display(matches[0].string)  # the student's folder, as Moodle named it
        entries.append(entry)
    more, rest = _rest(target, used, "moodle", lesson_files)
    return Discovery(entries + more, aside + rest)


# ----------------------------------------------------------------------------- Blackboard

def detect_blackboard(names: list[str]) -> bool:
    return any(BLACKBOARD.match(n) for n in names)


def _receipt(path: Path) -> tuple[str, str, dict[str, str]]:
    """A Blackboard receipt: the user name, the student's full name, and stored file name -> original name."""
    try:
        text = read_regular(path, limit_mb=1).decode("utf-8", "replace")
    except SubmissionProblem:
        return "", "", {}
    name = re.search(r"^Name:\s*(.+?)\s*\(([^()\n]*)\)\s*$", text, re.M)
    pairs = re.findall(r"Original filename:\s*(.+?)\s*\n\s*Filename:\s*(.+?)\s*$", text, re.M)
    return (name[2].strip() if name else ""), (name[1] if name else ""), {stored: original for original, stored in pairs}


def _blackboard_users(prefixes: set[str], receipts: dict[str, str]) -> dict[str, str]:
    """``<assignment>_<user>`` prefix -> user: the receipt's ``(user)`` where it ends the prefix,
    else the rest after the assignment name (a receipt's, or the longest ``_``-ended start all
    prefixes share), else the last ``_`` part."""
    users = {p: u for p, u in receipts.items() if u and p.endswith(f"_{u}")}
    assignments = {p[: -len(u) - 1] for p, u in users.items()}
    if not assignments and len(prefixes) > 1:
        shared = os.path.commonprefix(sorted(prefixes))
        assignments = {shared[: shared.rfind("_")]} if "_" in shared else set()
    for prefix in prefixes - set(users):
        assignment = max((a for a in assignments if prefix.startswith(f"{a}_") and len(prefix) > len(a) + 1),
                         key=len, default=None)
        users[prefix] = prefix[len(assignment) + 1:] if assignment else prefix.rsplit("_", 1)[-1]
    return users


def _from_earlier(target: Path, files: dict[str, Path], by_stamp: dict[str, list[re.Match]],
                  stamps: list[str]) -> tuple[set[str], list[str]]:
    """The notebook or the weights the latest attempt lacks (a forgotten file added as a new
    attempt), added to ``files`` from the most recent earlier attempt that has it; returns the
    stored names taken and a note for each kind taken."""
    taken: set[str] = set()
    notes = []
    for kind, what in ((is_notebook, "the notebook"), (is_weights, "the weights")):
        if any(kind(name) for name in files):
            continue
        for stamp in reversed(stamps[:-1]):
            found = [m for m in by_stamp[stamp] if not m["receipt"] and kind(m["original"])]
            if found:
                files.update({m["original"]: target / m.string for m in found})
                taken |= {m.string for m in found}
                notes.append(f"{what} ({', '.join(display(m['original']) for m in found)}) taken from the attempt of "
                             f"{stamp}: the latest attempt ({stamps[-1]}) holds none")
                break
    return taken, notes


def read_blackboard(target: Path, lesson_files: Sequence[str] = ()) -> Discovery:
    attempts: dict[str, dict[str, list[re.Match]]] = defaultdict(lambda: defaultdict(list))
    for name in top_names(target):
        match = BLACKBOARD.match(name)
        if match and _regular(target / name):
            attempts[match["prefix"]][match["stamp"]].append(match)
    receipts = {prefix: _receipt(target / m.string)
                for prefix, by_stamp in attempts.items() for stamp in sorted(by_stamp)
                for m in by_stamp[stamp] if m["receipt"]}   # the latest attempt's receipt wins
    users = _blackboard_users(set(attempts), {p: r[0] for p, r in receipts.items()})
    entries, used = [], set()
    for prefix, by_stamp in sorted(attempts.items()):
        stamps = sorted(by_stamp)
        latest = by_stamp[stamps[-1]]
        receipt = next((m for m in latest if m["receipt"]), None)
        _user, full_name, originals = _receipt(target / receipt.string) if receipt else ("", "", {})
        if not full_name and prefix in receipts:
            full_name = receipts[prefix][1]
        files = {originals.get(m.string, m["original"]): target / m.string for m in latest if not m["receipt"]}
        taken, notes = _from_earlier(target, files, by_stamp, stamps)
        used |= {m.string for ms in by_stamp.values() for m in ms}
        earlier = sorted(m.string for stamp in stamps[:-1] for m in by_stamp[stamp]
                         if not m["receipt"] and m.string not in taken)
        day, clock = stamps[-1][:10], stamps[-1][11:].replace("-", ":")
        student = Student(key=users[prefix], name=full_name, login=users[prefix])
        if not files and receipt:
            entries.append(Entry(target / receipt.string, display(receipt.string), [student], f"{day}T{clock}",
                                 layout="blackboard", earlier=earlier,
                                 problem=("invalid-notebook", "the attempt's receipt lists no file")))
            continue
        stored = sorted((p.name for p in files.values()), key=lambda n: (not is_notebook(n), n))
        entries.append(_entry(files, stored[0], "blackboard", student, submitted_at=f"{day}T{clock}", earlier=earlier,
                              notes=notes))
    more, aside = _rest(target, used, "blackboard", lesson_files)
    receipts_read = [SetAside(display(m.string), f"Blackboard's receipt of {users[prefix]}'s attempt of "
                                                 f"{m['stamp']}: the student's name and file names read from it")
                     for prefix, by_stamp in sorted(attempts.items()) for ms in by_stamp.values() for m in ms
                     if m["receipt"]]
    return Discovery(entries + more, receipts_read + aside)


LAYOUTS = [
    Layout("moodle", "Moodle's Download all submissions: 'Full Name_<id>_assignsubmission_file_' folders or files",
           detect_moodle, read_moodle),
    Layout("blackboard", "Blackboard's download: <assignment>_<user>_attempt_<time>_<file> and a .txt receipt "
                         "per attempt", detect_blackboard, read_blackboard),
    Layout("canvas", "Canvas's Download Submissions: flat <login>[_LATE]_<user id>_<attachment id>_<file>[-N]",
           detect_canvas, read_canvas),
]
