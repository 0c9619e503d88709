"""HTML pages rendered with jinja2 from ``grading/templates/``: autoescaped, so text from a
submission (a name, an error message, an answer) is always shown, never interpreted. Every
page is self-contained (styles inline, figures as data: URIs): it opens from a zip or an LMS."""

from __future__ import annotations

import base64
import functools
from typing import TYPE_CHECKING

from .safe_text import clean

if TYPE_CHECKING:
    import jinja2


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    import jinja2   # here, not above: a grade's start does not wait for it (figures.warm_up loads it meanwhile)

    env = jinja2.Environment(loader=jinja2.PackageLoader("dlcourse.grading", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["clean"] = clean           # no lone surrogate, no control character
    env.filters["points"] = lambda value: f"{value:g}" if value is not None else ""
    return env


def render(template: str, **context) -> str:
    """The page ``template`` renders to with ``context`` (see the templates for their names)."""
    return environment().get_template(template).render(**context)


def data_uri(content: bytes, media_type: str) -> str:
    return f"data:{media_type};base64," + base64.b64encode(content).decode()
