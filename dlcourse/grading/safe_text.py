"""Text from submissions made safe for the medium an instructor reads it in.

Everything a gradebook, report or terminal shows may come from a student: file and folder
names, names set on an LMS, error messages their cells raised, written answers. Each medium
has its own way for such text to act instead of being read:

- any medium: a lone surrogate (a file name that is not UTF-8, a message cut mid-character)
  makes a strict UTF-8 writer raise; C0/C1 control characters and ANSI escape sequences
  move the cursor, recolour or retitle a terminal, and hide text in a CSV or a report;
- a spreadsheet (CSV): a cell starting with ``= + - @`` (or a tab or carriage return) is a
  formula in Excel, LibreOffice and Google Sheets (OWASP "CSV injection"): it is prefixed
  with ``'``, which every one of them shows as text;
- Markdown: ``<!--`` opens a comment that hides every later line, ``|`` ends a table cell,
  and a line break ends a list item or a table row;
- HTML: escaped by jinja2's autoescape where pages are rendered (feedback/, report_html.py).

:func:`clean` is the common part; the others add their medium's rule.
"""

from __future__ import annotations

import re

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST) and two-character escapes.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_MARKDOWN_SPECIAL = re.compile(r"([\\`\[\]|#])")   # code, links, table cells, headings (emphasis is harmless)


def clean(text: object, keep_newlines: bool = True) -> str:
    """``text`` as a string that any UTF-8 writer accepts and that carries no control: lone
    surrogates become ``\\udcXX``, escape sequences are dropped, other control characters
    (bidirectional overrides included) become ``?``; tabs stay, and newlines unless
    ``keep_newlines`` is false (then they become spaces)."""
    text = "" if text is None else str(text)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    text = _ANSI.sub("", text).replace("\r\n", "\n")
    if not keep_newlines:
        text = text.replace("\n", " ")
    return _CONTROL.sub("?", text)


def csv_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as the text it is: never a formula. Numbers stay
    numbers (``-1.5`` is a score, not a formula)."""
    text = clean(value)
    if text.startswith(_FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def markdown_inline(text: object) -> str:
    """Text for one line of Markdown (a list item or a table cell): one line, no HTML
    (``<`` and ``&`` escaped, so ``<!--`` cannot hide what follows), no link, no code span,
    no table cell break (``[ ] ` |`` escaped)."""
    text = clean(text, keep_newlines=False)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def terminal(text: object) -> str:
    """One line for a terminal: no escape sequence, no control character, no line break."""
    return clean(text, keep_newlines=False)


def markdown_code(text: object) -> str:
    """Text as a Markdown code span (a file name, a submission's label), on one line. Text
    holding ``<``, ``&`` or a backtick is written as escaped plain text instead
    (:func:`markdown_inline`): not every Markdown viewer keeps HTML out of code spans."""
    text = clean(text, keep_newlines=False)
    if any(c in text for c in "<>&`"):
        return markdown_inline(text)
    return "`" + text.replace("|", "\\|") + "`"
