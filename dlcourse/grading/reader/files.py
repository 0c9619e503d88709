"""What a file is, by its name and its kind: one definition for every reader and ``grader.export()``.

- a notebook is ``*.ipynb`` in any case (also ``*.ipynb.txt``/``*.ipynb.json``: Safari's download);
- weights are ``.pt``, ``.pth``, ``.ckpt``, ``.safetensors`` or ``.bin``, in any case, and
  ``.pth.tar`` (pytorch/examples' ``torch.save(checkpoint, "model_best.pth.tar")``: a torch file,
  not a tar);
- an archive is a zip or a tar the standard library unpacks (``.tar.gz``, ``.tgz``, ``.tar.bz2``,
  ``.tar.xz``...); other archives (``.rar``, ``.7z``) are named as such, with what to submit;
- the lesson's files are matched tolerantly (:func:`find_lesson_file`): case, punctuation,
  a copy's suffix or prefix (a browser's ``name (1)``, an LMS's ``name-1``, Jupyter's
  ``name-Copy1``, Drive's ``Copy of name``) and an LMS's prefix; the file where the notebook
  opens it wins, byte-identical copies are one file, and exactly one candidate is used with a
  note naming it; two that differ are refused with both names;
- a folder is walked without following anything that is not a regular file or a folder
  (:func:`walk`), and a file is read with a cap and never blocks (:func:`read_regular`): a
  FIFO, a device or a link in an input folder is listed, never opened;
- which of a submission's files are read (:func:`choose_files`) is one rule for an archive's
  members and a folder's files alike, so a zip graded by ``dlcourse grade`` and the same zip
  unpacked by Gradescope read the same files.

Pure standard library: the student's ``grader.export()`` imports it too.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from pathlib import Path, PurePosixPath

MAX_FILE_MB = 250          # weights are ~5 MB, notebooks under 10 MB
MAX_ENTRIES = 200          # files read from one submission: it has a few
MAX_SCANNED = 20_000       # files looked at to find those (a venv with torch zipped along holds ~15,000)
MAX_FOLDER_DEPTH = 32      # a lesson folder is a few levels deep
# folders of an environment or a dataset, left out of a submission over the caps (a venv/, data/ zipped along)
ENVIRONMENT_FOLDERS = {"venv", "env", "site-packages", "node_modules", "lib", "Lib", "Scripts", "bin", "include",
                       "share", "wandb", "runs", "data", "lightning_logs"}
NOTEBOOK_SUFFIXES = (".ipynb", ".ipynb.txt", ".ipynb.json")
WEIGHTS_SUFFIXES = (".pt", ".pth", ".ckpt", ".safetensors", ".bin", ".pth.tar", ".pt.tar", ".ckpt.tar")
ARCHIVE_SUFFIXES = {".zip": "zip", ".tar": "tar", ".tar.gz": "tar", ".tgz": "tar", ".tar.bz2": "tar",
                    ".tbz2": "tar", ".tbz": "tar", ".tar.xz": "tar", ".txz": "tar"}
OTHER_ARCHIVES = (".rar", ".7z", ".tar.zst", ".zst", ".gz", ".bz2", ".xz", ".lz", ".cab", ".dmg", ".iso", ".zipx")
EXPORTS = {".py": "a Python script", ".html": "an HTML export of a notebook", ".htm": "an HTML export of a notebook",
           ".pdf": "a PDF", ".docx": "a Word document", ".md": "a Markdown file"}
SHORTCUTS = (".url", ".webloc", ".website")   # Windows', macOS's and Edge's saved links: a student's "upload" of a link
IGNORED_FOLDERS = {"__MACOSX", "__pycache__"}   # and every hidden folder (.ipynb_checkpoints, .git)
IGNORED_NAMES = {"Thumbs.db", "desktop.ini"}     # and every hidden file (.DS_Store, .OTTER_LOG)
# a copy's suffix, as browsers ("name (1)"), Canvas ("name-1"), Jupyter's Duplicate ("name-Copy1"), Finder
# ("name copy 2") and Windows in English, German or French ("name - Copy", "name - Kopie", "name - Copie") add it
COPY_SUFFIX = re.compile(r"(?:\s*\(\d+\)|-\d+|-copy\d*|\s+copy(?:\s*\d+)?|\s+-\s+(?:copy|kopie|copie)(?:\s*\(\d+\))?)$",
                         re.I)
# a copy's prefix, as Google Drive and Colab add it ("Copy of name", "Kopie von name", "Copie de name")
COPY_PREFIX = re.compile(r"^(?:copy of|kopie von|copie de)\s+", re.I)


class SubmissionProblem(Exception):
    """What makes an input ungradeable: a status (result.STATUSES) and a one-line reason."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def _lower(name: str) -> str:
    return PurePosixPath(name).name.lower()


def is_notebook(name: str) -> bool:
    return _lower(name).endswith(NOTEBOOK_SUFFIXES)


def is_weights(name: str) -> bool:
    return _lower(name).endswith(WEIGHTS_SUFFIXES)


def archive_kind(name: str) -> str | None:
    """``zip`` or ``tar`` for an archive the standard library unpacks, else None (weights named
    ``.pth.tar`` are weights: torch's own zip, never a tar)."""
    lower = _lower(name)
    if is_weights(lower):
        return None
    return next((kind for suffix, kind in ARCHIVE_SUFFIXES.items() if lower.endswith(suffix)), None)


def ignored(parts: tuple[str, ...]) -> bool:
    """Hidden files and folders (.ipynb_checkpoints, .git, .OTTER_LOG, .DS_Store), __MACOSX, __pycache__,
    Office's lock files (``~$grades.xlsx``) and Windows' download marks copied as files (``x.zip:Zone.Identifier``)."""
    return any(part.startswith(".") or part in IGNORED_FOLDERS for part in parts) or \
        bool(parts) and (parts[-1] in IGNORED_NAMES or parts[-1].startswith("~$") or parts[-1].endswith(":Zone.Identifier"))


def display(name: str) -> str:
    """``name`` as valid UTF-8 text: bytes a file system allowed but UTF-8 does not become U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def stem_of(name: str) -> str:
    """The name without its (possibly compound) suffix: ``carl.tar.gz`` -> ``carl``."""
    base = PurePosixPath(name).name
    lower = base.lower()
    for suffix in sorted((*ARCHIVE_SUFFIXES, *NOTEBOOK_SUFFIXES, *OTHER_ARCHIVES), key=len, reverse=True):
        if lower.endswith(suffix) and len(base) > len(suffix):
            return base[:-len(suffix)]
    return PurePosixPath(base).stem or base


def upload_problem(name: str) -> tuple[str, str] | None:
    """(status, reason) for a file that looks like a student's upload the grader cannot grade
    (another archive type, a script or an export of the notebook, weights alone); None for a
    file that is no upload (a README, a spreadsheet, an image)."""
    lower, shown = _lower(name), display(PurePosixPath(name).name)
    other = next((s for s in OTHER_ARCHIVES if lower.endswith(s)), None)
    if other:
        return "invalid-notebook", (f"{shown} is a {other} archive, which the grader cannot open: submit a .zip "
                                    f"(or .tar.gz) holding the notebook and the weights")
    if is_weights(lower):
        return "invalid-notebook", (f"{shown} is a weights file without a notebook: submit the notebook with it "
                                    f"(grader.export() zips both)")
    if lower.endswith(SHORTCUTS):
        return "invalid-notebook", (f"{shown} is a shortcut to a page online (a Colab or Drive link), not the "
                                    f"notebook: download the .ipynb (File > Download) and submit that file")
    what = next((kind for suffix, kind in EXPORTS.items() if lower.endswith(suffix) and suffix != ".md"), None)
    if what:
        return "invalid-notebook", f"{shown} is {what}, not a Jupyter notebook: submit the .ipynb file itself"
    return None


def canonical(stem: str) -> str:
    """A name's stem as compared: lower case, copy suffixes dropped, runs of punctuation one ``_``."""
    stem = stem.lower().strip()
    while (shorter := COPY_PREFIX.sub("", COPY_SUFFIX.sub("", stem))) != stem and shorter:
        stem = shorter
    return re.sub(r"[\s_.\-]+", "_", stem).strip("_")


def _split(name: str) -> tuple[str, str]:
    base = PurePosixPath(name).name
    for suffix in sorted(NOTEBOOK_SUFFIXES, key=len, reverse=True):
        if base.lower().endswith(suffix):
            return base[:-len(suffix)], ".ipynb"
    for suffix in WEIGHTS_SUFFIXES:
        if base.lower().endswith(suffix) and suffix.endswith(".tar"):
            return base[:-len(suffix)], suffix
    path = PurePosixPath(base)
    return path.stem, path.suffix.lower()


def resembles(wanted: str, name: str) -> bool:
    """Whether ``name`` (any folder) is ``wanted`` under another spelling: case, punctuation,
    a copy suffix, or a prefix an LMS adds (``<login>_<ids>_dense_mnist.pt``)."""
    (want_stem, want_suffix), (stem, suffix) = _split(wanted), _split(name)
    if suffix != want_suffix.lower():
        return False
    want, have = canonical(want_stem), canonical(stem)
    return bool(want) and (have == want or have.endswith("_" + want))


def find_lesson_file(wanted: str, names: list[str],
                     content: Callable[[str], bytes] | None = None) -> tuple[str | None, str | None]:
    """The one file of ``names`` (paths relative to the notebook's folder) that is the lesson's
    ``wanted``, and a note when it is not simply there by that name.

    ``wanted`` itself (the path the notebook opens) wins; then exact base names, then names that
    :func:`resembles` it. Candidates whose ``content`` is byte-identical are one file: the one
    nearest the notebook is used. No candidate: ``(None, None)``. Raises
    :class:`SubmissionProblem` naming them when two or more that differ tie.
    """
    if wanted in names:
        return wanted, None
    exact = [n for n in names if PurePosixPath(n).name == wanted]
    candidates = sorted(exact or [n for n in names if resembles(wanted, n)],
                        key=lambda n: (len(PurePosixPath(n).parts), len(n), n))
    copies: list[str] = []
    if content is not None and len(candidates) > 1 and len({content(n) for n in candidates}) == 1:
        candidates, copies = candidates[:1], candidates[1:]
    if len(candidates) > 1:
        raise SubmissionProblem("invalid-notebook", f"the submission holds {len(candidates)} files that could be "
                                                    f"{wanted} ({', '.join(map(display, candidates))}): submit one")
    if not candidates:
        return None, None
    found = candidates[0]
    also = f"; {', '.join(map(display, copies))} {'is a' if len(copies) == 1 else 'are'} byte-identical " \
           f"cop{'y' if len(copies) == 1 else 'ies'}" if copies else ""
    if found == wanted:
        return found, None
    return found, f"{display(found)} was graded as {wanted}, the lesson's file (rename it {wanted} next time){also}"


def nearest_copy(names: list[str]) -> str | None:
    """Of several files of one name (less copy marks) that differ, the one nearest the top when
    it is the only one there (the others are copies kept in subfolders: ``backup/``); else None."""
    if len(names) < 2 or len({canonical(stem_of(n)) for n in names}) != 1:
        return None
    depth = {n: len(PurePosixPath(n).parts) for n in names}
    nearest = [n for n in names if depth[n] == min(depth.values())]
    return nearest[0] if len(nearest) == 1 else None


def kind_of_mode(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISLNK(mode):
        return "a link (not followed)"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO), not a file: not read"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a file: not read"
    if stat.S_ISSOCK(mode):
        return "a socket, not a file: not read"
    return "not a regular file: not read"


def walk(folder: Path) -> tuple[list[tuple[str, Path]], list[tuple[str, str]]]:
    """(relative path, path) of ``folder``'s regular files, and (relative path, why) of what was
    not read: links, FIFOs, devices, folders deeper than :data:`MAX_FOLDER_DEPTH`. Hidden and
    ignored files are neither. A backslash in a name is a folder separator (a Windows zip
    unpacked as is); a path that leads out (``..\\x``) is the reader's to refuse. Raises :class:`SubmissionProblem` past :data:`MAX_SCANNED` files
    (which of them are read is :func:`choose_files`'s to say)."""
    found: list[tuple[str, Path]] = []
    passed: list[tuple[str, str]] = []
    stack: list[tuple[Path, tuple[str, ...]]] = [(folder, ())]
    while stack:
        current, parts = stack.pop()
        try:
            with os.scandir(current) as children:
                entries = sorted(children, key=lambda e: e.name)
        except OSError:
            continue
        for child in entries:
            # a name holding Windows' separator (``hw\\src\\models.py``, from a zip that PowerShell's
            # Compress-Archive wrote, unpacked as is) is that path: its folders kept
            relative = (*parts, *child.name.split("\\"))
            if ignored(relative):
                continue
            mode = child.stat(follow_symlinks=False).st_mode
            shown = "/".join(relative)
            if stat.S_ISDIR(mode):
                if len(relative) >= MAX_FOLDER_DEPTH:
                    passed.append((shown, f"a folder {len(relative)} levels deep: not read"))
                else:
                    stack.append((Path(child.path), relative))
            elif stat.S_ISREG(mode):
                found.append((shown, Path(child.path)))
                if len(found) > MAX_SCANNED:
                    raise too_many(display(folder.name), MAX_SCANNED)
            else:
                passed.append((shown, kind_of_mode(mode)))
    return sorted(found), passed


def too_many(name: str, count: int) -> SubmissionProblem:
    return SubmissionProblem("invalid-notebook", f"{display(name)} holds more than {count} files; a submission has a few")


def choose_files(name: str, sizes: dict[str, int], notes: list[str]) -> set[str]:
    """Which of a submission's files are read: ``sizes`` maps each file's path inside it (an
    archive's members, or a folder's files) to its size in bytes, ``name`` is the archive or folder.

    All of them, within :data:`MAX_ENTRIES` files and :data:`MAX_FILE_MB`; over either, those
    outside environment-like folders (``venv/``, ``site-packages/``, ``data/``...: a venv or a
    dataset zipped along); still over, the notebooks, weights, archives (an export zip) and code
    (``.py``) outside them.
    What was left out goes to ``notes``. Raises :class:`SubmissionProblem` past
    :data:`MAX_SCANNED` files, or when even the last are over a cap.
    """
    if len(sizes) > MAX_SCANNED:
        raise too_many(name, MAX_SCANNED)

    def over(paths: set[str]) -> bool:
        return len(paths) > MAX_ENTRIES or sum(sizes[p] for p in paths) > MAX_FILE_MB * 2**20

    kept = set(sizes)
    if not over(kept):
        return kept
    outside = {p for p in kept if not ENVIRONMENT_FOLDERS & set(PurePosixPath(p).parts[:-1])}
    kept = outside if not over(outside) else \
        {p for p in outside if is_notebook(p) or is_weights(p) or archive_kind(p) or _lower(p).endswith(".py")}
    if len(kept) > MAX_ENTRIES:
        raise too_many(name, MAX_ENTRIES)
    if over(kept):
        raise SubmissionProblem("invalid-notebook", f"{display(name)}: its notebooks, weights, archives and code "
                                                    f"alone are over {MAX_FILE_MB} MB")
    left = sorted(set(sizes) - kept)
    places = sorted({_place(p) for p in left})
    essential = sum(1 for p in kept if is_notebook(p) or is_weights(p))
    megabytes = sum(sizes.values()) / 2**20
    notes.append(f"{display(name)} holds {len(sizes)} files, {megabytes:.0f} MB (a submission reads at most "
                 f"{MAX_ENTRIES} files and {MAX_FILE_MB} MB): the notebook, weights and {len(kept) - essential} "
                 f"other file(s) read, {len(left)} left out ({', '.join(map(display, places[:3]))}"
                 + (f" and {len(places) - 3} more" if len(places) > 3 else "") + ")")
    return kept


def _place(path: str) -> str:
    """Where a left-out file is, as the note names it: ``hw/venv/lib/x.py`` -> ``hw/venv/``, a
    file of no such folder by its own path."""
    parts = PurePosixPath(path).parts[:-1]
    end = next((i for i, part in enumerate(parts) if part in ENVIRONMENT_FOLDERS), None)
    return "/".join(parts[:end + 1]) + "/" if end is not None else path


def read_regular(path: Path, limit_mb: int = MAX_FILE_MB) -> bytes:
    """A regular file's bytes, at most ``limit_mb``: a link, a FIFO or a device is refused without
    blocking or reading it (even one swapped in after it was listed). Raises :class:`SubmissionProblem`."""
    shown = display(path.name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise SubmissionProblem("invalid-notebook", f"{shown} could not be read ({error.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(f.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise SubmissionProblem("invalid-notebook", f"{shown} is {kind_of_mode(mode)}")
        data = f.read(limit_mb * 2**20 + 1)  # the size stat reports is not trusted: read at most the cap
    if len(data) > limit_mb * 2**20:
        raise SubmissionProblem("invalid-notebook", f"{shown} is larger than {limit_mb} MB")
    return data
