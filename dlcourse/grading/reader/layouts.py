"""Input layouts: how a download of submissions is laid out, detected or chosen (``--layout``).

Each layout reads INPUT into a :class:`~..inputs.Discovery`: one :class:`~..inputs.Entry` per
student (identity, the platform's time and late mark where it records them, the files, earlier
attempts) and every other top-level entry set aside with why. The registry, in detection order:

    gradescope   Gradescope's "Export Submissions" (folder, or its zip): submission_metadata.yml
    moodle       Moodle's "Download submissions": "Full Name_<id>_assignsubmission_file_" folders (or files)
    blackboard   Blackboard's download: <assignment>_<user>_attempt_<time>_<file> plus a .txt receipt each
    canvas       Canvas's "Download Submissions": flat <login>[_LATE]_<user id>_<attachment id>_<file>
    plain        a folder of uploads: notebooks, archives, or one folder per student (the fallback)

A layout's archive (a Canvas or Gradescope zip given as INPUT) is unpacked to a private
temporary folder, removed when the process ends.
"""

from __future__ import annotations

import atexit
import datetime
import os
import shutil
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path

import yaml

from . import lms
from .archives import extract_download, member_names
from .entries import Discovery, Entry, SetAside, Student
from .files import (SubmissionProblem, archive_kind, display, ignored, is_notebook, read_regular,
                    stem_of)
from .uploads import Layout, classify, lesson_stems, loose_entry, mtime, read_uploads, student_part, top_names

GRADESCOPE_METADATA = "submission_metadata.yml"


def discover(target: Path, layout: str | None = None, lesson_files: Sequence[str] = ()) -> Discovery:
    """What ``target`` holds, read with ``layout`` (a name in :data:`LAYOUTS`; None or ``auto``: detected).
    ``lesson_files``: the lesson's notebook and weights names, which loose uploads' names are read
    by (``alice_dense-mnist.ipynb`` is student ``alice``'s); without them a student is a file's stem."""
    target = target.resolve()
    mode = os.lstat(target).st_mode
    if stat.S_ISREG(mode) and archive_kind(target.name):
        unpacked = _unpacked_export(target, layout)
        if unpacked is not None:
            return discover(unpacked, layout, lesson_files)
    if not stat.S_ISDIR(mode):
        return Discovery([loose_entry(target, target.parent, "plain", lesson_files=lesson_files)], [])
    chosen, target = _detect(target) if layout in (None, "auto") else (LAYOUTS[layout], target)
    return chosen.read(target, lesson_files)


def _detect(folder: Path) -> tuple[Layout, Path]:
    """The first layout that recognises ``folder``, or its only subfolder (an unzipped download
    often is one folder: Gradescope's assignment_<id>_export/, Canvas's submissions/)."""
    names = top_names(folder)
    chosen = next(c for c in LAYOUTS.values() if c.detect(names))
    visible = [n for n in names if not ignored((n,))]
    if chosen.name == "plain" and len(visible) == 1 and stat.S_ISDIR(os.lstat(folder / visible[0]).st_mode):
        inner = next(c for c in LAYOUTS.values() if c.detect(top_names(folder / visible[0])))
        if inner.name != "plain":
            return inner, folder / visible[0]
    return chosen, folder


def one_student_folder(folder: Path) -> bool:
    """A student's folder given as INPUT: exactly one notebook directly in it and no archive but
    the notebook's own export (``dense-mnist.ipynb`` and ``dense-mnist.zip``; a folder of students'
    notebooks holds several; the files beside the notebook are its own)."""
    files = [name for name in top_names(folder) if stat.S_ISREG(os.lstat(folder / name).st_mode)]
    notebooks = [n for n in files if is_notebook(n)]
    archives = [n for n in files if archive_kind(n)]
    return len(notebooks) == 1 and (not archives or archives == [f"{stem_of(notebooks[0])}.zip"])


def read_plain(target: Path, lesson_files: Sequence[str] = ()) -> Discovery:
    """A folder of uploads: each notebook, archive or student folder is a row, a student's loose
    files one row (:func:`~.uploads.read_uploads`); one student's own folder given as INPUT is
    one row, of the student its notebook's name says (``alice_dense-mnist.ipynb``), else named
    by the folder."""
    if one_student_folder(target):
        notebook = next(n for n in top_names(target) if is_notebook(n) and stat.S_ISREG(os.lstat(target / n).st_mode))
        student = student_part(notebook, lesson_stems(lesson_files)) or os.fsdecode(target.name)
        return Discovery([Entry(target, display(target.name), [Student(display(student))], mtime(target),
                                layout="plain")], [])
    entries, aside = read_uploads(target, top_names(target), "plain", lesson_files)
    return Discovery(entries, aside)


def _text(value: object) -> str:
    """A metadata field as text: null (None) reads as empty."""
    if value is None:
        return ""
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    return str(value)


def read_gradescope(target: Path, lesson_files: Sequence[str] = ()) -> Discovery:
    """Gradescope's export: ``submission_<id>/`` folders plus metadata naming their submitters."""
    root, aside = target, list[SetAside]()
    try:
        metadata = yaml.safe_load(read_regular(root / GRADESCOPE_METADATA)) or {}
    except (SubmissionProblem, yaml.YAMLError) as error:
        plain = read_plain(root, lesson_files)
        return Discovery(plain.entries, [*aside, *plain.set_aside,
                                         SetAside(GRADESCOPE_METADATA, f"unreadable, so no names were read ({error})")])
    metadata = metadata if isinstance(metadata, dict) else {}
    entries = []
    for name in top_names(root):
        if name == GRADESCOPE_METADATA:
            aside.append(SetAside(name, "Gradescope's metadata: the students' names and times were read from it"))
            continue
        info = metadata.get(name)
        if not isinstance(info, dict):
            aside.append(SetAside(display(name), "not listed in the export's metadata"))
            continue
        found = classify(root, root / name, "gradescope")
        if isinstance(found, SetAside):
            found = Entry(root / name, display(name), layout="gradescope",
                          problem=("invalid-notebook", f"the submission is {found.reason}"))
        submitters = [s for s in info.get(":submitters") or [] if isinstance(s, dict)]
        found.students = [Student(key=_text(s.get(":sid")) or _text(s.get(":email")) or _text(s.get(":name")) or name,
                                  name=_text(s.get(":name")), email=_text(s.get(":email")), sid=_text(s.get(":sid")))
                          for s in submitters] or [Student(display(name))]
        found.submitted_at = _text(info.get(":created_at")) or found.submitted_at
        entries.append(found)
    return Discovery(entries, aside)


_TEMPORARY: list[str] = []


def _unpacked_export(archive: Path, layout: str | None) -> Path | None:
    """A platform's download given as one archive, unpacked to a private folder; None when the
    archive is one student's submission (or cannot be unpacked: its row then says why)."""
    names = member_names(archive)
    tops = sorted({n.replace("\\", "/").split("/")[0] for n in names} |
                  {n.replace("\\", "/").split("/")[-1] for n in names})
    detected = next((c.name for c in LAYOUTS.values() if c.name != "plain" and c.detect(tops)), None)
    if not names or (layout in (None, "auto", "plain") and detected is None):
        return None
    folder = Path(tempfile.mkdtemp(prefix="dlcourse-input-"))
    _TEMPORARY.append(str(folder))
    try:
        extract_download(archive, folder)
    except SubmissionProblem:
        return None
    return folder


@atexit.register
def _remove_temporary() -> None:
    for folder in _TEMPORARY:
        shutil.rmtree(folder, ignore_errors=True)


def _registry() -> dict[str, Layout]:
    return {layout.name: layout for layout in [
        Layout("gradescope", "Gradescope's Export Submissions (folder or zip): submission_<id>/ folders and "
                             "submission_metadata.yml", lambda names: GRADESCOPE_METADATA in names, read_gradescope),
        *lms.LAYOUTS,
        Layout("plain", "a folder of uploads: notebooks, archives, or one folder per student",
               lambda names: True, read_plain)]}


LAYOUTS: dict[str, Layout] = _registry()
