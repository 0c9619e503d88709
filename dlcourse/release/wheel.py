"""``dlcourse build --wheel``: the toolkit as the wheel students install, checked against ``course.yaml``.

Students install the toolkit from the address in ``course.yaml`` (``toolkit_url``), never by a
bare name from PyPI, where anybody could publish a package called ``dlcourse``. That address
must end in the file name this build writes, or notebooks and READMEs would point at a file
that is not the one published.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

from ..course import Course


class WheelProblem(RuntimeError):
    pass


PLACEHOLDER_LABELS = {"example"}                   # example.edu, courses.example.com (RFC 2606)
PLACEHOLDER_TLDS = {"example", "invalid", "test"}  # reserved top-level domains (RFC 2606)


def placeholder_problem(url: str) -> str | None:
    """Why ``url`` is a placeholder no student can install from (one line naming what to set),
    or None. Local addresses (``file:``, localhost) are the course's own tests' and pass."""
    host = (urlparse(url).hostname or "").lower()
    labels = host.split(".")
    if host and (PLACEHOLDER_LABELS & set(labels) or labels[-1] in PLACEHOLDER_TLDS):
        return (f"course.yaml's toolkit_url ({url}) is a placeholder address: every student's first cell would "
                f"fail to install the toolkit. Set toolkit_url to the address where you publish the wheel "
                f"(docs/instructors.md, \"Publishing the toolkit\") and run the build again")
    return None


def wheel_name() -> str:
    """The file name ``build_wheel`` writes: the toolkit's version's wheel."""
    import dlcourse

    return f"dlcourse-{dlcourse.__version__}-py3-none-any.whl"


def address_problem(url: str) -> str | None:
    """Why ``url`` cannot be this release's address (it names another file or version), or None;
    checked before anything is built, so a refused release rewrites nothing."""
    if url.endswith("/" + wheel_name()):
        return None
    return (f"course.yaml's toolkit_url ({url}) does not name {wheel_name()}: publish this wheel and set "
            f"toolkit_url to its address, then run `dlcourse build --wheel` again")


def build_wheel(course: Course, out: Path, allow_placeholder: bool = False) -> Path:
    """Build the toolkit's wheel into ``out``; return it. A release: raises :class:`WheelProblem`
    while ``course.yaml`` names a placeholder address, unless ``allow_placeholder`` (tests)."""
    problem = placeholder_problem(course.toolkit_url)
    if problem and not allow_placeholder:
        raise WheelProblem(problem)
    out.mkdir(parents=True, exist_ok=True)
    before = set(out.glob("dlcourse-*.whl"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out),
                           str(course.root)], capture_output=True, text=True)
    if done.returncode != 0:
        raise WheelProblem(f"pip wheel failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
    wheel = out / wheel_name()
    if not wheel.is_file():
        raise WheelProblem(f"pip wheel wrote {sorted(set(out.glob('dlcourse-*.whl')) - before)}, not {wheel.name}")
    if (problem := address_problem(course.toolkit_url)):
        raise WheelProblem(problem)
    return wheel
