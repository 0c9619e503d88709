"""The repository's root and the data folder that grading runs read."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from dlcourse.data import DATA_ENV, SAMPLE_DIR

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"   # the test modules may sit in subfolders: paths start here, not at __file__


@contextlib.contextmanager
def data_dir_set_to(path: Path):
    """DLCOURSE_DATA = ``path`` while the block runs (grading runs inherit it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(DATA_ENV, str(path))
        yield path


def on_sample_data():
    return data_dir_set_to(SAMPLE_DIR)
