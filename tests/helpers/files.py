"""Submission files built in memory or on disk by the reader's tests."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path


def zipped(files: dict[str, bytes]) -> bytes:
    """A zip archive holding ``files`` (member name -> bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def put(root: Path, files: dict[str, bytes]) -> Path:
    """``files`` (relative path -> bytes) written under ``root``, folders made; returns ``root``."""
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root
