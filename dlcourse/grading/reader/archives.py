"""Zip and tar archives, unpacked in memory with the same safety whatever the format.

Every format the standard library unpacks is read: zip, tar, tar.gz/tgz, tar.bz2, tar.xz. A
member with an absolute path or ``..`` refuses the archive; links and special files inside it
are left out with a note (they could point anywhere on the machine); hidden and ignored paths
(``__MACOSX``, ``.ipynb_checkpoints``, a ``.venv/``) are dropped before any cap counts them
(an index holds at most :data:`MAX_DOWNLOAD_ENTRIES`). Which members are read is
:func:`~.files.choose_files`'s rule, the one a folder's files go through (a venv or a dataset
zipped along is left out with a note), decided from the archive's index or headers before
anything is decompressed past the caps; a tar is listed to :data:`MAX_LISTED_MB` declared. An
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

from .files import (MAX_FILE_MB, SubmissionProblem, archive_kind, choose_files, display, ignored,
                    read_regular, too_many)

MAX_LISTED_MB = 4 * MAX_FILE_MB  # a tar is decompressed to list it: its declared contents, at most
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
    return [name for name, _size in member_sizes(path)]


def member_sizes(path: Path) -> list[tuple[str, int]]:
    """(path, size) of the archive's regular members, from its index; [] if unreadable."""
    try:
        with _open(path) as f:
            if zipfile.is_zipfile(f):
                with zipfile.ZipFile(f) as archive:
                    return [(m.filename, m.file_size) for m in archive.infolist()[:MAX_DOWNLOAD_ENTRIES]]
            f.seek(0)
            with tarfile.open(fileobj=f, mode="r:*") as archive:
                found = []
                for member in archive:
                    found.append((member.name, member.size))
                    if len(found) >= MAX_DOWNLOAD_ENTRIES:
                        break
                return found
    except (SubmissionProblem, *BROKEN):
        return []


def names_in(name: str, data: bytes) -> list[str]:
    """The member paths (``/``-separated) of an archive's bytes named ``name``, from its index (a
    tar's headers, at most :data:`MAX_DOWNLOAD_ENTRIES`); [] if it is not a readable archive."""
    try:
        if archive_kind(name) == "zip" or data[:4] == b"PK\x03\x04":
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                return [m.replace("\\", "/") for m in archive.namelist()[:MAX_DOWNLOAD_ENTRIES]]
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
            found = []
            for member in archive:
                found.append(member.name.replace("\\", "/"))
                if len(found) >= MAX_DOWNLOAD_ENTRIES:
                    break
            return found
    except BROKEN:
        return []


def read_member(path: Path, member: str) -> bytes:
    """One regular member of the archive at ``path`` (its name as the index gives it), at most
    :data:`~.files.MAX_FILE_MB`; b"" if it cannot be read."""
    limit = MAX_FILE_MB * 2**20
    try:
        with _open(path) as f:
            if zipfile.is_zipfile(f):
                with zipfile.ZipFile(f) as archive, archive.open(member) as source:
                    return source.read(limit)
            f.seek(0)
            with tarfile.open(fileobj=f, mode="r:*") as tar:
                found = tar.getmember(member)
                content = tar.extractfile(found) if found.isreg() else None
                return content.read(limit) if content else b""
    except (SubmissionProblem, KeyError, *BROKEN):
        return b""


def extract_download(path: Path, folder: Path) -> list[tuple[str, str]]:
    """Unpack a platform's download (every student's files) into ``folder``, member by member:
    regular files only, safe paths only, each under the submission cap, at most
    :data:`MAX_DOWNLOAD_ENTRIES` members. Returns (member, why) of each member not unpacked (a
    link, a special file, an encrypted or oversized file), for the report. Raises
    :class:`SubmissionProblem`."""
    skipped: list[tuple[str, str]] = []

    def write(name: str, source, size: int) -> None:
        relative = _safe(name, path.name)
        if size > MAX_FILE_MB * 2**20:  # one student's oversized file: that student's row says what is missing
            skipped.append((name, f"larger than {MAX_FILE_MB} MB: not unpacked"))
            return
        target = folder.joinpath(*relative.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as out:
            out.write(source.read(size))

    try:
        with _open(path) as f:
            if zipfile.is_zipfile(f):
                with zipfile.ZipFile(f) as archive:
                    members = [m for m in archive.infolist() if not _zip_folder(m)]
                    if len(members) > MAX_DOWNLOAD_ENTRIES:
                        raise too_many(path.name, MAX_DOWNLOAD_ENTRIES)
                    for member in members:
                        link, locked = stat.S_ISLNK(member.external_attr >> 16), member.flag_bits & 0x1
                        if not (link or locked):
                            with archive.open(member) as source:
                                write(member.filename, source, member.file_size)
                        elif not ignored(_parts(member.filename)):
                            skipped.append((member.filename, "a link inside the archive: not followed" if link
                                            else "encrypted (a password protects it): not unpacked"))
                return skipped
            f.seek(0)
            with tarfile.open(fileobj=f, mode="r:*") as tar:
                for count, item in enumerate(tar):
                    if count >= MAX_DOWNLOAD_ENTRIES:
                        raise too_many(path.name, MAX_DOWNLOAD_ENTRIES)
                    if item.isdir():
                        continue
                    content = tar.extractfile(item) if item.isreg() else None
                    if content is not None:
                        write(item.name, content, item.size)
                    elif not ignored(_parts(item.name)):
                        skipped.append((item.name, "a link inside the archive: not followed" if item.issym()
                                        or item.islnk() else "a special file inside the archive: not read"))
                return skipped
    except BROKEN as error:
        raise SubmissionProblem("invalid-notebook", f"{display(path.name)} could not be unpacked "
                                                    f"({type(error).__name__}: {str(error)[:100]})") from None


def _parts(name: str) -> tuple[str, ...]:
    return tuple(name.replace("\\", "/").split("/"))


def _zip_folder(member: zipfile.ZipInfo) -> bool:
    """A zip's folder entry: ``name/``, or ``name\\`` as PowerShell's Compress-Archive writes it."""
    return member.is_dir() or member.filename.endswith("\\")


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


def _zip(name: str, data: bytes, notes: list[str]) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = [m for m in archive.infolist() if not _zip_folder(m)]
        if len(members) > MAX_DOWNLOAD_ENTRIES:
            raise too_many(name, MAX_DOWNLOAD_ENTRIES)
        listed = {_safe(m.filename, name).as_posix(): m for m in members}  # every path checked, read or not
        # hidden and ignored members (a .venv/, .git/) are never read, so they count against no cap
        listed = {path: m for path, m in listed.items() if not ignored(PurePosixPath(path).parts)}
        kept = choose_files(name, {path: m.file_size for path, m in listed.items()}, notes)
        files, links = {}, []
        for path, member in sorted(listed.items()):
            if path not in kept:
                continue
            if stat.S_ISLNK(member.external_attr >> 16):
                links.append(path)
                continue
            if member.flag_bits & 0x1:
                raise SubmissionProblem("invalid-notebook", f"{display(name)} is encrypted (a password protects "
                                                            f"{display(member.filename)}): zip it again without one")
            with archive.open(member) as f:  # at most the size its index declares: no bomb past the cap
                files[path] = f.read(member.file_size + 1)[:MAX_FILE_MB * 2**20]
    if links:
        notes.append(f"{display(name)}: links inside it were not followed ({', '.join(map(display, links[:3]))})")
    return files


def _tar(name: str, data: bytes, notes: list[str]) -> dict[str, bytes]:
    """Listed from its headers first (decompressing at most :data:`MAX_LISTED_MB`), then the
    chosen members read."""
    listed: dict[str, tarfile.TarInfo] = {}
    left_out: list[str] = []
    declared = 0
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
        for count, member in enumerate(archive, start=1):
            if count > MAX_DOWNLOAD_ENTRIES:
                raise too_many(name, MAX_DOWNLOAD_ENTRIES)
            declared += member.size
            if declared > MAX_LISTED_MB * 2**20:  # before the next header is sought past this member's data
                raise SubmissionProblem("invalid-notebook", f"{display(name)} unpacks to more than "
                                                            f"{MAX_LISTED_MB} MB")
            if member.isdir():
                continue
            relative = _safe(member.name, name)
            if ignored(relative.parts):
                continue  # never read, so counted against no cap but the index's
            if not member.isreg():
                left_out.append(relative.as_posix())
                continue
            listed[relative.as_posix()] = member
        kept = choose_files(name, {path: m.size for path, m in listed.items()}, notes)
        files: dict[str, bytes] = {}
        for path, member in listed.items():
            if path in kept:
                extracted = archive.extractfile(member)
                files[path] = extracted.read(member.size) if extracted else b""
    if left_out:
        notes.append(f"{display(name)}: links and special files inside it were not followed "
                     f"({', '.join(map(display, left_out[:3]))})")
    return files
