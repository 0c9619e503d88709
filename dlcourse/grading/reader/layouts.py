"""Input layouts: how a download of submissions is laid out, detected or chosen (``--layout``).

Each layout reads INPUT into a :class:`~..inputs.Discovery`: one :class:`~..inputs.Entry` per
student (identity, the platform's time and late mark where it records them, the files, earlier
attempts) and every other top-level entry set aside with why. The registry, in detection order:

    gradescope   Gradescope's "Export Submissions" (folder, or its zip): submission_metadata.yml
    moodle       Moodle's "Download submissions": "Full Name_<id>_assignsubmission_file_" folders (or files)
    blackboard   Blackboard's download: <assignment>_<user>_attempt_<time>_<file> plus a .txt receipt each
    canvas       Canvas's "Download Submissions": flat <login>[_LATE]_<user id>_<attachment id>_<file>
    plain        a folder of uploads: notebooks, archives, or one folder per student (the fallback)

A layout's archive (a Canvas or Gradescope zip given as INPUT), or a class's files zipped
together, is unpacked to a private temporary folder, removed when the process ends. A download
wrapped in one folder or one archive is read inside (:func:`_wrapped`); one unpacked in place
beside its archive sets the archive aside (:func:`_unpacked_here`).
"""

from __future__ import annotations

import atexit
import datetime
import os
import shutil
import stat
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from ..scratch import scratch_folder
from . import lms
from .archives import extract_download, member_names, member_sizes, names_in, read_member
from .entries import Discovery, Entry, SetAside, Student
from .files import (SubmissionProblem, archive_kind, canonical, display, ignored, is_notebook, is_weights,
                    read_regular, stem_of)
from .uploads import (Layout, classify, lesson_stems, loose_entry, mtime, one_student, pair_loose_weights, read_uploads,
                      student_part, top_names, tree)

GRADESCOPE_METADATA = "submission_metadata.yml"


MAX_WRAPPERS = 4   # folders (or a folder and its archive) a download may be wrapped in: "Lab 2/", "submissions/"


def discover(target: Path, layout: str | None = None, lesson_files: Sequence[str] = ()) -> Discovery:
    """What ``target`` holds, read with ``layout`` (a name in :data:`LAYOUTS`; None or ``auto``: detected).
    ``lesson_files``: the lesson's notebook and weights names, which loose uploads' names are read
    by (``alice_dense-mnist.ipynb`` is student ``alice``'s); without them a student is a file's stem."""
    return _discover(target.resolve(), layout, MAX_WRAPPERS, tuple(lesson_files))


def _discover(target: Path, layout: str | None, wrappers: int, lesson_files: tuple[str, ...] = ()) -> Discovery:
    mode = os.lstat(target).st_mode
    if stat.S_ISREG(mode) and archive_kind(target.name):
        unpacked = _unpacked_export(target, layout)
        if unpacked is not None:
            folder, skipped = unpacked
            found = _discover(folder, layout, wrappers - 1, lesson_files)
            return Discovery(found.entries, [*found.set_aside, *(SetAside(f"{display(target.name)}: {display(name)}", why)
                                                                 for name, why in skipped)])
    if not stat.S_ISDIR(mode):
        return Discovery([loose_entry(target, target.parent, "plain", lesson_files=lesson_files)], [])
    if layout not in (None, "auto"):
        return LAYOUTS[layout].read(target, lesson_files)
    names = top_names(target)
    chosen = next(c for c in LAYOUTS.values() if c.detect(names))
    visible = [n for n in names if not ignored((n,))]
    if chosen.name == "plain" and len(visible) == 1 and wrappers > 0:
        inside = _wrapped(target / visible[0], wrappers - 1, lesson_files)
        if inside is not None:   # the wrapper's own hidden files are listed as set aside
            return Discovery(inside.entries, [*inside.set_aside, *(SetAside(display(n), "a hidden or system file: "
                                                                            "not a submission")
                                                                   for n in names if n not in visible)])
    return _unpacked_here(target, chosen.read(target, lesson_files))


def _unpacked_here(folder: Path, found: Discovery) -> Discovery:
    """A download unpacked in place, its archive still beside its files (``unzip submissions.zip``
    in the download folder): the archive is set aside, not a student's row."""
    entries, aside = [], list(found.set_aside)
    for entry in found.entries:
        path = entry.path
        if entry.members or entry.problem or path.parent != folder or not archive_kind(path.name) \
                or not stat.S_ISREG(os.lstat(path).st_mode):
            entries.append(entry)
            continue
        members = [(n.replace("\\", "/"), size) for n, size in member_sizes(path) if not n.endswith("/")]
        if len(members) >= 2 and all(_same_size(folder / n, size) for n, size in members
                                     if not ignored(tuple(n.split("/")))) \
                and _a_download([n for n, _ in members], lambda n: read_regular(folder / n)):
            aside.append(SetAside(entry.label, f"the download itself, already unpacked here (its {len(members)} "
                                               f"files are in this folder): read from them, not again"))
        else:
            entries.append(entry)
    return Discovery(entries, aside)


def _same_size(path: Path, size: int) -> bool:
    try:
        found = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(found.st_mode) and found.st_size == size


def _wrapped(inner: Path, wrappers: int, lesson_files: tuple[str, ...] = ()) -> Discovery | None:
    """What a folder's only entry holds when it is a download wrapped in a folder (Drive's
    ``Lab 2/``, Canvas's ``submissions/``) or in an archive (a folder holding only
    ``submissions.zip``): several rows, or a platform's; None when it is one submission (its
    own row, named by it)."""
    mode = os.lstat(inner).st_mode
    if stat.S_ISREG(mode) and archive_kind(inner.name):
        return _discover(inner, None, wrappers, lesson_files)
    if not stat.S_ISDIR(mode):
        return None
    found = _discover(inner, None, wrappers, lesson_files)
    several = len(found.entries) > 1 or any(e.layout != "plain" for e in found.entries)
    return found if several else None


def one_student_folder(folder: Path) -> bool:
    """A student's folder given as INPUT, not a class's (:func:`.uploads.one_student`: one notebook
    and its own export beside it, and no classmate's folder; or a project's tree)."""
    paths = tree(folder)
    return paths is not None and one_student(paths, lambda name: read_regular(folder / name),
                                             lambda name: member_names(folder / name))


def read_plain(target: Path, lesson_files: Sequence[str] = ()) -> Discovery:
    """A folder of uploads: each notebook, archive or student folder is a row, a student's loose
    files one row (:func:`~.uploads.read_uploads`); one student's own folder given as INPUT is
    one row, of the student its notebook's name says (``alice_dense-mnist.ipynb``), else named
    by the folder."""
    if one_student_folder(target):
        notebooks = [n for n in top_names(target) if is_notebook(n) and stat.S_ISREG(os.lstat(target / n).st_mode)]
        # the notebook's own name (a backslash in it is a Windows folder inside the student's: no name)
        student = (student_part(notebooks[0].rsplit("\\", 1)[-1], lesson_stems(lesson_files)) if notebooks else None) \
            or os.fsdecode(target.name)
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


def _unpacked_export(archive: Path, layout: str | None) -> tuple[Path, list[tuple[str, str]]] | None:
    """A platform's download, or a class's files zipped together (Drive's download of a folder of
    uploads), given as one archive, unpacked to a private folder, with (member, why) of each
    member left packed (a link: never followed); None when the archive is one student's
    submission (or cannot be unpacked: its row then says why)."""
    raw = {n.replace("\\", "/"): n for n in member_names(archive)}
    names = list(raw)

    def content(name: str) -> bytes:   # a backup's copy, or a member archive: data, or a classmate's upload?
        return read_member(archive, raw[name])

    if not names or (layout in (None, "auto", "plain") and not _a_download(names, content)):
        return None
    folder = scratch_folder("dlcourse-input-")
    _TEMPORARY.append(str(folder))
    try:
        return folder, extract_download(archive, folder)
    except SubmissionProblem:
        return None


def _a_download(names: list[str], content: Callable[[str], bytes] | None = None) -> bool:
    """Whether an archive's member ``names`` are a platform's download or a class's files;
    ``content`` reads a member (:func:`_a_class`)."""
    tops = sorted({n.split("/")[0] for n in names} | {n.split("/")[-1] for n in names})
    return any(c.name != "plain" and c.detect(tops) for c in LAYOUTS.values()) or _a_class(names, content)


def _a_class(names: list[str], content: Callable[[str], bytes] | None = None) -> bool:
    """Whether an archive's members are several students' uploads: below the folders they are all
    in, two or more of: archives of different names, whole submission folders (a notebook and
    weights), loose notebooks with weights of their own name (``bob_dense-mnist.ipynb`` and
    ``bob_dense_mnist.pt``). A student's zip holding a scratch notebook beside the lesson's, a copy
    of their files in ``backup/``, or their data's archive (a ``data.zip`` holding no notebook,
    read by ``content``) is not."""
    paths = [n for n in names if n and not n.endswith("/") and not ignored(tuple(n.split("/")))]
    wrapper = ""
    while paths and all("/" in p for p in paths) and len({p.split("/")[0] for p in paths}) == 1:
        wrapper += paths[0].split("/")[0] + "/"
        paths = [p.split("/", 1)[1] for p in paths]
    if content is None and one_student(paths):
        return False
    if content is not None and one_student(paths, lambda p: content(wrapper + p),
                                           lambda p: names_in(p, content(wrapper + p))):
        return False
    archives = {canonical(stem_of(p)) for p in paths if "/" not in p and archive_kind(p)}
    folders: dict[str, list[str]] = {}
    for path in paths:
        if "/" in path:
            folders.setdefault(path.split("/")[0], []).append(path)
    whole = [d for d, inner in folders.items()
             if any(is_notebook(p) for p in inner) and any(is_weights(p) for p in inner)]
    top = [p for p in paths if "/" not in p]
    paired = set(pair_loose_weights([p for p in top if is_notebook(p)], [p for p in top if is_weights(p)]).values())
    return len(archives) + len(whole) + len(paired) >= 2


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
