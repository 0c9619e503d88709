"""Randomness for hidden tests: unpredictable to students, the same on every regrade.

Hidden tests draw their inputs with ``secrets``, ``random`` and torch's generator. While the
judge runs a test file, those are seeded from a keyed hash of the submission's content:

    seed = HMAC-SHA256(key, sha256(submission) + test file name)

The key is made once per lesson by ``dlcourse build`` (``assignments/<id>/grading.key``) and
travels only in the autograder, never in the student release. So a student cannot know the
inputs in advance, a regrade of the same submission draws the same inputs (and gives the
same grade), and two submissions draw different ones.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import random
import secrets
from pathlib import Path
from typing import Iterator

KEY_FILE = "grading.key"
_SECRETS_FUNCTIONS = ("randbelow", "choice", "randbits", "token_bytes", "token_hex")


def make_key(folder: Path) -> Path:
    """``folder``'s grading key, made now if it has none (commit it; never release it)."""
    path = folder / KEY_FILE
    if not path.is_file():
        path.write_text(secrets.token_hex(32) + "\n")
    return path


def submission_digest(files: dict[str, bytes]) -> str:
    """SHA-256 of a submission's files (names and contents, in name order)."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()


def seed_for(key: str, digest: str, test_file: str) -> int:
    mac = hmac.new(key.encode(), f"{digest}:{test_file}".encode(), hashlib.sha256)
    return int.from_bytes(mac.digest()[:8], "big")


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """``secrets``, ``random`` and torch draw from ``seed`` inside the block (the judge runs
    one test file at a time, so nothing else draws meanwhile)."""
    import torch

    rng = random.Random(seed)
    replacements = {"randbelow": rng.randrange, "choice": rng.choice, "randbits": rng.getrandbits,
                    "token_bytes": lambda n=32: rng.randbytes(n),
                    "token_hex": lambda n=32: rng.randbytes(n).hex()}
    saved = {name: getattr(secrets, name) for name in _SECRETS_FUNCTIONS}
    random_state, torch_state = random.getstate(), torch.random.get_rng_state()
    for name, function in replacements.items():
        setattr(secrets, name, function)
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        for name, function in saved.items():
            setattr(secrets, name, function)
        random.setstate(random_state)
        torch.random.set_rng_state(torch_state)
