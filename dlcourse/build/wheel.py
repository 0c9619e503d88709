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

from ..course import Course


class WheelProblem(RuntimeError):
    pass


def build_wheel(course: Course, out: Path) -> Path:
    """Build the toolkit's wheel into ``out``; return it."""
    out.mkdir(parents=True, exist_ok=True)
    before = set(out.glob("dlcourse-*.whl"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out),
                           str(course.root)], capture_output=True, text=True)
    if done.returncode != 0:
        raise WheelProblem(f"pip wheel failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
    import dlcourse

    wheel = out / f"dlcourse-{dlcourse.__version__}-py3-none-any.whl"
    if not wheel.is_file():
        raise WheelProblem(f"pip wheel wrote {sorted(set(out.glob('dlcourse-*.whl')) - before)}, not {wheel.name}")
    if not course.toolkit_url.endswith("/" + wheel.name):
        raise WheelProblem(f"course.yaml's toolkit_url ({course.toolkit_url}) does not name {wheel.name}: publish "
                           f"this wheel and set toolkit_url to its address, then run `dlcourse build` again")
    return wheel
