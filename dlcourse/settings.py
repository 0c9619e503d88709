"""The environment variables and places the toolkit reads. Importing this costs nothing:
the grader's own process uses it without loading torch.

    DLCOURSE_DATA       the data directory (default: a per-user cache folder)
    DLCOURSE_COURSE     the course folder, when commands run outside it
    DLCOURSE_MEMORY_MB  memory limit of one grading run on Gradescope (default: the container's
                        limit less the grader's own 68 MB, 700 of 768; raise it where torch is
                        the CUDA build, ~450 MB larger)
    DLCOURSE_GRADESCOPE_TIMEOUT    Gradescope's timeout in seconds, over the lesson's
    DLCOURSE_GRADESCOPE_MEMORY_MB  Gradescope's memory limit, over the lesson's
                        (lesson.yaml ``gradescope: {timeout: 600, memory_mb: 768}``)
    DLCOURSE_GRADING    set by the grader in the sandboxed kernel's environment only: the
                        notebook's first cell (session.start) then unpacks nothing. Nothing
                        that decides a score reads it (the tests run in the judge)
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "DLCOURSE_DATA"
COURSE_ENV = "DLCOURSE_COURSE"
MEMORY_ENV = "DLCOURSE_MEMORY_MB"
GRADESCOPE_TIMEOUT_ENV = "DLCOURSE_GRADESCOPE_TIMEOUT"
GRADESCOPE_MEMORY_ENV = "DLCOURSE_GRADESCOPE_MEMORY_MB"
GRADING_ENV = "DLCOURSE_GRADING"
SAMPLE_DIR = Path(__file__).parent / "sample_data"


def data_dir() -> Path:
    """The directory datasets are read from: ``$DLCOURSE_DATA`` or a per-user cache."""
    configured = os.environ.get(DATA_ENV)
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("dlcourse"))
