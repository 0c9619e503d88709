"""OUT/notebooks before a batch grades: each of the run's submissions' files there (named by
:func:`.inputs.notebook_names`) is to be the executed notebook saved with its result, or absent.

A name can change between runs: ``dave.zip``'s notebook is ``dave.ipynb`` until a ``dave.ipynb``
joins the input, then ``dave (zip).ipynb``. A reused result would then lose its notebook, and
its old file would stay under a name that is now another entry's. A feedback page attaches
only a file whose SHA-256 is its result's (feedback/), so that file could not reach the wrong
page, but it would still sit in OUT/notebooks as if it were the other entry's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from ..atomic import write_atomically
from .result import GradeResult


def prepare_notebooks(folder: Path, names: dict[str, str], reused: dict[str, GradeResult], pending: Iterable[str]) -> None:
    """Before grading: move each reused result's notebook (found by its SHA-256, the result's
    ``notebook_sha256``) to its name this run, and remove what the names of the entries to
    grade (``pending``) hold, earlier runs' notebooks, so that one refused this run leaves none.
    ``names``: entry key -> file name, for the whole input; ``reused`` and ``pending``: this
    run's (a shard's) entries only, as no other shard's files are touched."""
    wanted = {names[key]: result.notebook_sha256 for key, result in reused.items() if result.notebook_sha256}
    astray = {name: sha for name, sha in wanted.items() if _sha256(folder / name) != sha}
    found = _by_sha256(folder, set(astray.values())) if astray else {}
    contents = {sha: path.read_bytes() for sha, path in found.items()}   # before anything is removed or written
    for name in [names[key] for key in pending] + list(astray):
        (folder / name).unlink(missing_ok=True)
    for name, sha in astray.items():
        if sha in contents:
            write_atomically(folder / name, contents[sha])
    current = set(names.values())
    for path in found.values():
        if path.name not in current:   # an old name no entry has now (one that has is removed above, or is its own)
            path.unlink(missing_ok=True)


def _sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() and not path.is_symlink() else ""
    except OSError:
        return ""


def _by_sha256(folder: Path, wanted: set[str]) -> dict[str, Path]:
    """A file in ``folder`` for each digest in ``wanted`` that one has."""
    found: dict[str, Path] = {}
    for path in sorted(folder.glob("*.ipynb")) if folder.is_dir() else []:
        sha = _sha256(path)
        if sha in wanted and sha not in found:
            found[sha] = path
    return found
