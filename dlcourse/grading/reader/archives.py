"""Zip and tar archives, unpacked in memory with the same safety whatever the format.

Every format the standard library unpacks is read: zip, tar, tar.gz/tgz, tar.bz2, tar.xz. A
member with an absolute path or ``..`` refuses the archive; links and special files inside it
are left out with a note (they could point anywhere on the machine); hidden and ignored paths
(``__MACOSX``, ``.ipynb_checkpoints``, a ``.venv/``) are dropped before any cap counts them
(an index holds at most :data:`MAX_DOWNLOAD_ENTRIES`). Caps: :data:`MAX_ENTRIES` members and
:data:`~.files.MAX_FILE_MB` unpacked, checked before anything is decompressed past them; an
archive of more members (up to :data:`MAX_SCANNED`: a virtual environment zipped along) has its
notebooks, weights and files outside environment-like folders read, the rest left out with a note. An
encrypted zip, a damaged one, or one compressed with a method Python lacks is a
:class:`~.files.SubmissionProblem` that says so, never an exception from zipfile or tarfile.
"""

from __future__ import annotations

import io
import lzma
import os
import stat
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from .files import MAX_FILE_MB, SubmissionProblem, archive_kind, display, ignored, is_notebook, is_weights, read_regular

MAX_ENTRIES = 200                # one submission: files read
MAX_SCANNED = 10 * MAX_ENTRIES   # members looked at to find them among an environment's (a venv/ zipped along)
ENVIRONMENT_FOLDERS = {"venv", "env", "site-packages", "node_modules", "lib", "Lib", "Scripts", "bin", "include",
                       "share", "wandb", "runs", "data", "lightning_logs"}
MAX_DOWNLOAD_ENTRIES = 100_000   # a platform's download of a whole class
BROKEN = (zipfile.BadZipFile, tarfile.TarError, zlib.error, lzma.LZMAError, EOFError, OSError, ValueError,
          NotImplementedError, RuntimeError)


def read_archive(path: Path, notes: list[str]) -> dict[str, bytes]:
    """The regular files of the archive at ``path``, by their path inside it; what was left out
    goes to ``notes``. Raises :class:`SubmissionProblem` for anything unreadable or unsafe."""
    return unpack(path.name, read_regular(path), notes)


def unpack(name: str, data: bytes, notes: list[str]) -> dict[str, bytes]:
    """As :func:`read_archive`, for an archive's bytes named ``name``."""
    kind = archive_kind(name)
    if kind is None:  # named otherwise, but the content decides: a zip renamed by an LMS still is one
        kind = "zip" if data[:4] == b"PK\x03\x04" else "tar"
    try:
        return _zip(name, data, notes) if kind == "zip" else _tar(name, data, notes)
    except SubmissionProblem:
        raise
    except BROKEN as error:
        what = "zip" if kind == "zip" else "tar archive"
        raise SubmissionProblem("invalid-notebook", f"{display(name)} is not a readable {what} "
                                                    f"({type(error).__name__}: {str(error)[:100]})") from None


def member_names(path: Path) -> list[str]:
    """The member paths of the archive at ``path``, from its index (a tar's headers); [] if it
    is not a readable archive."""
    try:
        with _open(path) as f:
            if zipfile.is_zipfile(f):
                with zipfile.ZipFile(f) as archive:
                    return archive.namelist()[:MAX_DOWNLOAD_ENTRIES]
            f.seek(0)
            with tarfile.open(fileobj=f, mode="r:*") as archive:
                names = []
                for member in archive:
                    names.append(member.name)
                    if len(names) >= MAX_DOWNLOAD_ENTRIES:
                        break
                return names
    except (SubmissionProblem, *BROKEN):
        return []


def extract_download(path: Path, folder: Path) -> None:
    """Unpack a platform's download (every student's files) into ``folder``, member by member:
    regular files only, safe paths only, each under the submission cap, at most
    :data:`MAX_DOWNLOAD_ENTRIES` members. Raises :class:`SubmissionProblem`."""
    def write(name: str, source, size: int) -> None:
        relative = _safe(name, path.name)
        if size > MAX_FILE_MB * 2**20:
            return  # one student's oversized file: that student's row says what is missing
        target = folder.joinpath(*relative.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as out:
            out.write(source.read(size))

    try:
        with _open(path) as f:
            if zipfile.is_zipfile(f):
                with zipfile.ZipFile(f) as archive:
                    members = [m for m in archive.infolist() if not m.is_dir()
                               and not stat.S_ISLNK(m.external_attr >> 16) and not m.flag_bits & 0x1]
                    if len(members) > MAX_DOWNLOAD_ENTRIES:
                        raise _too_many(path.name, MAX_DOWNLOAD_ENTRIES)
                    for member in members:
                        with archive.open(member) as source:
                            write(member.filename, source, member.file_size)
                return
            f.seek(0)
            with tarfile.open(fileobj=f, mode="r:*") as tar:
                for count, item in enumerate(tar):
                    if count >= MAX_DOWNLOAD_ENTRIES:
                        raise _too_many(path.name, MAX_DOWNLOAD_ENTRIES)
                    content = tar.extractfile(item) if item.isreg() else None
                    if content is not None:
                        write(item.name, content, item.size)
    except BROKEN as error:
        raise SubmissionProblem("invalid-notebook", f"{display(path.name)} could not be unpacked "
                                                    f"({type(error).__name__}: {str(error)[:100]})") from None


def _open(path: Path):
    """A regular file, opened without following a link or blocking on a FIFO."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    f = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        f.close()
        raise SubmissionProblem("invalid-notebook", f"{display(path.name)} is not a regular file")
    return f


def _safe(raw: str, archive: str) -> PurePosixPath:
    path = PurePosixPath(raw.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or raw[1:3] == ":/" or raw[1:3] == ":\\":
        raise SubmissionProblem("invalid-notebook", f"{display(archive)} holds an unsafe path: {display(raw)}")
    return path


def _too_many(archive: str, count: int) -> SubmissionProblem:
    return SubmissionProblem("invalid-notebook", f"{display(archive)} holds more than {count} files; "
                                                 f"a submission has a few")


def _too_large(archive: str) -> SubmissionProblem:
    return SubmissionProblem("invalid-notebook", f"{display(archive)} unpacks to more than {MAX_FILE_MB} MB")


def _needed(name: str, paths: list[str], notes: list[str]) -> set[str]:
    """Of an archive's ``paths`` (over :data:`MAX_ENTRIES`), those grading needs: notebooks,
    weights, and files outside environment-like folders (``venv/``, ``site-packages/``...), with a
    note; all but notebooks and weights if that is still too many. Raises past :data:`MAX_SCANNED`
    or when even those are too many."""
    if len(paths) > MAX_SCANNED:
        raise _too_many(name, MAX_SCANNED)
    essential = {p for p in paths if is_notebook(p) or is_weights(p)}
    kept = essential | {p for p in paths if not ENVIRONMENT_FOLDERS & set(PurePosixPath(p).parts[:-1])
                        and not ignored(PurePosixPath(p).parts)}
    if len(kept) > MAX_ENTRIES:
        kept = essential
    if len(kept) > MAX_ENTRIES or not kept:
        raise _too_many(name, MAX_ENTRIES)
    folders = sorted({_environment(p) for p in paths if p not in kept and "/" in p})
    notes.append(f"{display(name)} holds {len(paths)} files (a submission reads at most {MAX_ENTRIES}): "
                 f"the notebook, weights and {len(kept) - len(essential)} other file(s) read, {len(paths) - len(kept)} "
                 f"left out" + (f" ({', '.join(map(display, folders[:3]))})" if folders else ""))
    return kept


def _environment(path: str) -> str:
    """``hw/venv/lib/x.py`` -> ``hw/venv/``: the folder a left-out file is in, as the note names it."""
    parts = PurePosixPath(path).parts[:-1]
    end = next((i for i, part in enumerate(parts) if part in ENVIRONMENT_FOLDERS), len(parts) - 1)
    return "/".join(parts[:end + 1]) + "/"


def _zip(name: str, data: bytes, notes: list[str]) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        listed = archive.infolist()
        if len(listed) > MAX_DOWNLOAD_ENTRIES:
            raise _too_many(name, MAX_DOWNLOAD_ENTRIES)
        # hidden and ignored members (a .venv/, .git/) are never read, so they count against no cap
        members = [m for m in listed if not m.is_dir() and not ignored(_safe(m.filename, name).parts)]
        if len(members) > MAX_ENTRIES:
            kept = _needed(name, [m.filename.replace("\\", "/") for m in members], notes)
            members = [m for m in members if m.filename.replace("\\", "/") in kept]
        if sum(m.file_size for m in members) > MAX_FILE_MB * 2**20:
            raise _too_large(name)
        files, links = {}, []
        for member in members:
            path = _safe(member.filename, name)
            if ignored(path.parts):
                continue  # Finder's resource forks, Jupyter's checkpoints, Otter's .OTTER_LOG: nothing to grade
            if stat.S_ISLNK(member.external_attr >> 16):
                links.append(path.as_posix())
                continue
            if member.flag_bits & 0x1:
                raise SubmissionProblem("invalid-notebook", f"{display(name)} is encrypted (a password protects "
                                                            f"{display(member.filename)}): zip it again without one")
            with archive.open(member) as f:  # at most the size its index declares: no bomb past the cap
                files[path.as_posix()] = f.read(member.file_size + 1)[:MAX_FILE_MB * 2**20]
    if links:
        notes.append(f"{display(name)}: links inside it were not followed ({', '.join(map(display, links[:3]))})")
    return files


def _tar(name: str, data: bytes, notes: list[str]) -> dict[str, bytes]:
    files, left_out, total, count = {}, [], 0, 0
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
        for seen, member in enumerate(archive):  # streamed: the caps stop a bomb before it is all decompressed
            if seen >= MAX_DOWNLOAD_ENTRIES:
                raise _too_many(name, MAX_DOWNLOAD_ENTRIES)
            if member.isdir():
                continue
            path = _safe(member.name, name)
            if ignored(path.parts):
                continue  # never read, so counted against no cap but the index's
            count += 1
            if count > MAX_SCANNED:
                raise _too_many(name, MAX_SCANNED)
            if not member.isreg():
                left_out.append(path.as_posix())
                continue
            total += member.size
            if total > MAX_FILE_MB * 2**20:
                raise _too_large(name)
            extracted = archive.extractfile(member)
            files[path.as_posix()] = extracted.read(member.size) if extracted else b""
    if len(files) > MAX_ENTRIES:
        kept = _needed(name, sorted(files), notes)
        files = {k: v for k, v in files.items() if k in kept}
    if left_out:
        notes.append(f"{display(name)}: links and special files inside it were not followed "
                     f"({', '.join(map(display, left_out[:3]))})")
    return files

