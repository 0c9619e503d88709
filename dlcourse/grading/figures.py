"""The batch's figures (report.md's ``scores.png``, report.html's charts), drawn with
matplotlib's object API and fixed margins.

Why not pyplot and ``tight_layout``: pyplot keeps a global registry of figures and switches the
process's backend, while a :class:`~matplotlib.figure.Figure` saved to a buffer needs neither;
``tight_layout`` measures every label's extent before drawing, about a third of each figure's
cost, where margins in inches fit these axes' short labels. Importing matplotlib costs more than
all the figures of one submission (~0.6 s of CPU): :func:`warm_up` imports it in a thread while
the grader waits for the judge."""

from __future__ import annotations

import io
import threading
from typing import Callable

# inches around the axes: the y axis's label and three-digit counts, the x axis's ticks and label
LEFT, BOTTOM, RIGHT, TOP = 0.75, 0.6, 0.15, 0.15
# no software version or date in the file (and, below, SVG ids from a fixed salt): the same
# results give the same bytes (collect.py)
METADATA: dict[str, dict[str, str | None]] = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None}}


def draw(plot: Callable, *args, size: tuple[float, float], format: str, dpi: float = 100) -> bytes:
    """The figure ``plot(ax, *args)`` draws on one axes of ``size`` inches, as ``format``
    (``png`` or ``svg``) bytes."""
    import matplotlib
    from matplotlib.figure import Figure

    width, height = size
    with matplotlib.rc_context():   # the settings below are restored on the way out
        if format == "svg":
            matplotlib.rcParams["svg.hashsalt"] = "dlcourse"
            matplotlib.rcParams["svg.fonttype"] = "none"   # text kept as text: smaller, searchable
        figure = Figure(figsize=size)
        figure.subplots_adjust(left=LEFT / width, bottom=BOTTOM / height, right=1 - RIGHT / width,
                               top=1 - TOP / height)
        plot(figure.subplots(), *args)
        buffer = io.BytesIO()
        figure.savefig(buffer, format=format, dpi=dpi, metadata=METADATA[format])
    return buffer.getvalue()


_warming: threading.Thread | None = None
_warming_lock = threading.Lock()


def warm_up() -> threading.Thread:
    """Import what :func:`draw` and the HTML pages need, and compile the pages' templates, in a
    daemon thread, once per process (a batch's workers each call it): called while the grader
    waits for a judge, it costs nothing the grader waits for."""
    global _warming
    with _warming_lock:
        if _warming is None:
            _warming = threading.Thread(target=_load_drawing, name="dlcourse-warm-up", daemon=True)
            _warming.start()
        return _warming


def warmed_up() -> None:
    """Wait for the warm-up, if one started, before drawing or rendering: the same modules are
    then never imported by two threads at once."""
    with _warming_lock:
        warming = _warming
    if warming is not None:
        warming.join()


def _load_drawing() -> None:
    import matplotlib.backends.backend_agg  # noqa: F401   (savefig's png)
    import matplotlib.backends.backend_svg  # noqa: F401
    import matplotlib.figure  # noqa: F401

    from .html import environment

    for template in environment().list_templates():
        environment().get_template(template)
