"""Saved results a resumed run may believe: each record is signed with a key that only the
grader can read, so a record the sandboxed user wrote (or changed) is regraded, not reused.

The key lives beside the records, in ``OUT/results/`` (``0700``, the grader's): a sandboxed run
can neither reach that folder (bubblewrap's mount namespace hides it; a user of its own finds
it closed) nor compute the signature without the key. Where student code runs as the grader's
own user (accepted with ``--allow-root``), it could read the key: such a batch retires the key
before any student code runs and signs nothing, so nothing it saved is ever reused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Any

KEY_FILE = ".signing-key"
SIGNATURE = "signature"


def results_key(results: Path, *, sandbox_reaches_grader: bool) -> bytes | None:
    """The signing key of the ``results`` folder (made on first use, readable by the grader
    alone); ``None``, and any older key removed, where the sandboxed user could read it."""
    path = results / KEY_FILE
    if sandbox_reaches_grader:
        path.unlink(missing_ok=True)
        return None
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        key = _read_key(path)
        if key is not None:
            return key
        path.unlink()  # not a key this grader made: start over (older records are regraded)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "wb") as f:
        f.write(key.hex().encode())
    return key


def seal(record: dict[str, Any], key: bytes | None) -> str:
    """``record`` as JSON text, signed with ``key`` (unsigned where there is no key)."""
    body = dict(record)
    if key is not None:
        body[SIGNATURE] = _signature(record, key)
    return json.dumps(body, indent=1)


def unseal(text: str, key: bytes | None) -> dict[str, Any] | None:
    """The record in ``text`` if ``key`` signed it; ``None`` for anything else (no key, no
    signature, a wrong one, not JSON)."""
    if key is None:
        return None
    try:
        body = json.loads(text)
        signature = body.pop(SIGNATURE)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None
    if not isinstance(signature, str) or not hmac.compare_digest(signature, _signature(body, key)):
        return None
    return body


def _signature(record: dict[str, Any], key: bytes) -> str:
    return hmac.new(key, json.dumps(record, sort_keys=True).encode(), hashlib.sha256).hexdigest()


def _read_key(path: Path) -> bytes | None:
    """The key in ``path`` if it is one the grader made: a regular file of its own, closed to
    everyone else, holding 64 hex digits."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if info.st_uid != os.geteuid() or info.st_mode & 0o077 or not (info.st_mode & 0o170000 == 0o100000):
            return None
        text = f.read(65)
    try:
        key = bytes.fromhex(text.decode())
    except ValueError:
        return None
    return key if len(key) == 32 else None
