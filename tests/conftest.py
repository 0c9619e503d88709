"""Shared fixtures.

Real-data tests ask for the ``real_data`` fixture: the full MNIST and CIFAR-10 in
``$DLCOURSE_DATA``. Without them these tests skip, except where ``DLCOURSE_REQUIRE_REAL_DATA=1``
(CI sets it), in which case they fail: CI must never pass by skipping them.

Grading tests run on the small sample bundled with the package unless they need more, so
they work on any machine, offline. Helpers that test modules share are in ``helpers/``; no test
module imports another (nor this file).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dlcourse.course import Course
from dlcourse.data import DATA_ENV, DataNotFoundError
from dlcourse.datasets import DATASETS, dataset_class
from helpers.paths import ROOT

FULL_DATA = os.environ.get(DATA_ENV)  # as the session started, before any test changes it


def pytest_collection_modifyitems(items):
    for item in items:
        if "real_data" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.realdata)


@pytest.fixture(scope="session")
def course() -> Course:
    return Course(ROOT)


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The directory holding the full datasets (skip, or fail in CI, without them)."""
    configured = FULL_DATA
    problem = None if configured else f"{DATA_ENV} is not set"
    if configured:
        try:
            for name in DATASETS:
                for train in (True, False):
                    dataset_class(name)(configured, train=train, download=False)
        except DataNotFoundError as error:
            problem = str(error)
    if problem:
        message = f"the full datasets are needed: {problem}"
        if os.environ.get("DLCOURSE_REQUIRE_REAL_DATA") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return Path(configured)
