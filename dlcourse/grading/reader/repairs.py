"""A notebook's bytes -> a valid nbformat 4 notebook, through ordered, named repair steps.

Like nbgrader's sanitizing preprocessors: each step does one thing and, when it changed
something, leaves a note for the row. The rule: any notebook Jupyter or VS Code opens is
graded; only what no tool opens is refused, with a reason that says what the file is.

    encoding       a byte-order mark (UTF-8, UTF-16, UTF-32) dropped; text that is not UTF-8
                   read as Windows-1252, as editors on Windows write it
    bounds         refused before any parsing: over MAX_NOTEBOOK_MB; after: more than MAX_CELLS
                   cells, nested deeper than MAX_DEPTH, more than MAX_CODE_LINES lines of code
                   (reading, scanning and running cost grows with these: the cost stays bounded)
    json           not JSON: the reason says what the file is (a zip, a PDF, an HTML export...)
    format         an nbformat 3 notebook converted to 4, as Jupyter does when it opens one
    line endings   Windows (CRLF) and old Mac (CR) line endings in cells made LF
    schema         keys the format does not have removed (VS Code's ``transient`` in outputs),
                   required ones added with their empty value, wrong-typed ones reset,
                   invalid metadata stripped: nbformat's own schema and normalisation
    cell ids       invalid ids made valid, missing or duplicate ids made, ``nbformat_minor``
                   made to agree with them
"""

from __future__ import annotations

import codecs
import json
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import nbformat
from nbformat.warnings import MissingIDFieldWarning

from .files import SubmissionProblem, display

MAX_NOTEBOOK_MB = 50      # a notebook full of plots is a few MB; past this it is not one
MAX_CELLS = 2000          # the lessons have ~60 cells; reading, scanning and running scale with this
MAX_CODE_LINES = 5000    # the lessons' answers are ~600 lines; scanning costs ~1 ms a line
CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")   # nbformat 4.5 schema's cell_id
MAX_DEPTH = 64            # a notebook's JSON nests about 8 deep (widget state a little more)
BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
SNIFF = ((b"PK\x03\x04", "a zip archive renamed .ipynb: submit the zip as it is, or the notebook inside it"),
         (b"%PDF", "a PDF, not a notebook: submit the .ipynb file itself"),
         (b"\x80", "a Python pickle (saved weights?), not a notebook"),
         (b"\x1f\x8b", "a gzip archive, not a notebook"),
         (b"Rar!", "a .rar archive, not a notebook"),
         (b"7z\xbc\xaf", "a .7z archive, not a notebook"))


@dataclass
class Draft:
    """A notebook on its way through the steps: its bytes, then text, then dict."""

    name: str
    data: bytes
    text: str = ""
    nb: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def refuse(self, reason: str) -> SubmissionProblem:
        return SubmissionProblem("invalid-notebook", f"{display(self.name)} {reason}")


def repair(name: str, data: bytes, notes: list[str]) -> nbformat.NotebookNode:
    """The notebook in ``data``, repaired; a note per step that changed it. Raises
    :class:`SubmissionProblem` (status ``invalid-notebook``) for what no tool could open."""
    draft = Draft(name, data)
    for step_name, step in STEPS:
        note = step(draft)
        if note:
            draft.notes.append(f"{step_name}: {note}")
    notes += draft.notes
    from nbformat.v4.rwbase import rejoin_lines

    return rejoin_lines(nbformat.from_dict(draft.nb))  # multi-line strings as one, as nbformat.reads gives them


def _encoding(d: Draft) -> str | None:
    if len(d.data) > MAX_NOTEBOOK_MB * 2**20:
        raise d.refuse(f"is larger than {MAX_NOTEBOOK_MB} MB; a notebook is a few MB (clear large outputs)")
    for bom, codec in BOMS:
        if d.data.startswith(bom):
            try:
                d.text = d.data.decode(codec)
            except UnicodeDecodeError:
                break
            return None if codec == "utf-8-sig" else f"the notebook was {codec.upper()} text; read as such"
    try:
        d.text = d.data.decode("utf-8")
        return None
    except UnicodeDecodeError:
        d.text = d.data.decode("cp1252", errors="replace")
        return "the notebook was not UTF-8; read as Windows-1252 text"


def _json(d: Draft) -> str | None:
    if not d.text.strip():
        raise d.refuse("is empty")
    if d.text.count('"cell_type"') > 10 * MAX_CELLS:  # counted without parsing: many cells cost before any limit
        raise d.refuse(f"has over {10 * MAX_CELLS} cells; the lesson's notebook has about 60 "
                       f"(over {MAX_CELLS} is not read)")
    try:
        nb = json.loads(d.text)
    except RecursionError:
        raise d.refuse(f"nests its JSON deeper than any notebook (over {MAX_DEPTH} levels)") from None
    except ValueError as error:
        what = next((why for magic, why in SNIFF if d.data.startswith(magic)), None)
        if what is None and d.text.lstrip().startswith("<"):
            what = "an HTML page (a notebook exported or saved from the browser): submit the .ipynb file itself"
        elif what is None and re.match(r"\s*(#|import |from |def |print\()", d.text):
            what = "Python code, not a notebook: submit the .ipynb file itself"
        raise d.refuse(f"is {what}" if what else f"is not valid JSON ({str(error)[:80]}); a notebook is JSON") from None
    if not isinstance(nb, dict) or "cells" not in nb and "worksheets" not in nb:
        raise d.refuse("is JSON, but not a Jupyter notebook (it has no cells)")
    if "cells" in nb:
        cells = nb["cells"]
    elif isinstance(nb["worksheets"], list):   # nbformat 3
        cells = [c for ws in nb["worksheets"] if isinstance(ws, dict) for c in _list(ws.get("cells"))]
    else:
        cells = None
    if not isinstance(cells, list):
        raise d.refuse("is JSON, but not a Jupyter notebook (its cells are not a list)")
    if len(cells) > MAX_CELLS:
        raise d.refuse(f"has {len(cells)} cells; the lesson's notebook has about 60 (over {MAX_CELLS} is not read)")
    if _depth_over(nb, MAX_DEPTH):
        raise d.refuse(f"nests its JSON deeper than any notebook (over {MAX_DEPTH} levels)")
    lines = sum(_text(c.get("source", c.get("input"))).count("\n") + 1 for c in cells
                if isinstance(c, dict) and c.get("cell_type") == "code")
    if lines > MAX_CODE_LINES:
        raise d.refuse(f"has {lines} lines of code; the lesson's notebook has about 600 (over {MAX_CODE_LINES} "
                       f"is not read)")
    d.nb = nb
    return None


def _list(value: object) -> list:
    return value if isinstance(value, list) else []


def _text(source: object) -> str:
    if isinstance(source, list):
        return "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""


def _depth_over(value: object, limit: int) -> bool:
    """Whether ``value`` nests deeper than ``limit`` (iterative: no recursion to exhaust)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack += [(v, depth + 1) for v in item.values() if isinstance(v, (dict, list))]
        elif isinstance(item, list):
            stack += [(v, depth + 1) for v in item if isinstance(v, (dict, list))]
    return False


def _format(d: Draft) -> str | None:
    major = d.nb.get("nbformat")
    if major == 4:
        if not isinstance(d.nb.get("nbformat_minor"), int):
            d.nb["nbformat_minor"] = 4
            return "the notebook did not say its format's minor version; read as 4.4"
        return None
    if major == 3 or (major is None and "worksheets" in d.nb):
        d.nb.setdefault("nbformat", 3)
        d.nb.setdefault("nbformat_minor", 0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                d.nb = dict(nbformat.convert(nbformat.from_dict(d.nb), 4))
            except Exception as error:  # nbformat's converter raises what the malformed parts cause; Jupyter fails alike
                raise d.refuse(f"is an nbformat 3 notebook that Jupyter cannot convert to 4 "
                               f"({type(error).__name__}: {str(error)[:80]})") from None
        return "an nbformat 3 notebook, converted to 4 as Jupyter does when it opens one"
    if major is None:
        d.nb["nbformat"], d.nb["nbformat_minor"] = 4, d.nb.get("nbformat_minor", 4)
        return "the notebook did not say its format version; read as nbformat 4"
    raise d.refuse(f"is an nbformat {major!r} notebook, which no Jupyter reads")


def _line_endings(d: Draft) -> str | None:
    changed = 0
    for cell in _cells(d.nb):
        source = cell.get("source")
        text = "".join(source) if isinstance(source, list) and all(isinstance(s, str) for s in source) else source
        if isinstance(text, str) and "\r" in text:
            cell["source"] = text.replace("\r\n", "\n").replace("\r", "\n")
            changed += 1
    return f"Windows or Mac line endings made LF in {changed} cell(s)" if changed else None


def _cells(nb: dict) -> list[dict]:
    cells = nb.get("cells")
    return [c for c in cells if isinstance(c, dict)] if isinstance(cells, list) else []


def _schema_keys() -> dict[str, tuple[set[str], dict[str, object]]]:
    """Per cell and output type: the keys the nbformat 4.5 schema allows, and the required
    ones with the empty value Jupyter gives them."""
    import pathlib

    schema = json.loads((pathlib.Path(nbformat.v4.__file__).parent / "nbformat.v4.5.schema.json").read_text())
    empty: dict[str, object] = {"metadata": {}, "source": "", "outputs": [], "execution_count": None, "data": {},
                                 "text": "", "name": "stdout", "ename": "", "evalue": "", "traceback": []}
    kinds: dict[str, tuple[set[str], dict[str, object]]] = {}
    for kind in ("raw_cell", "markdown_cell", "code_cell", "execute_result", "display_data", "stream", "error"):
        definition = schema["definitions"][kind]
        kinds[kind] = (set(definition["properties"]), {k: empty[k] for k in definition["required"] if k in empty})
    return kinds


def _conform(item: dict, allowed: set[str], required: dict[str, object], dropped: set[str]) -> None:
    for key in [k for k in item if k not in allowed]:
        dropped.add(key)
        del item[key]
    for key, value in required.items():
        if key not in item or (key == "metadata" and not isinstance(item[key], dict)):
            item[key] = json.loads(json.dumps(value))
            dropped.add(f"missing {key}")


def _tags(cell: dict) -> bool:
    """A cell's tags made what the schema allows, keeping every tag (``otter_ignore`` decides
    what runs): a string becomes a list, comma-joined tags are split, duplicates and non-strings
    dropped. Whether it changed anything."""
    metadata = cell.get("metadata")
    if not isinstance(metadata, dict) or "tags" not in metadata:
        return False
    tags = metadata["tags"]
    raw = [tags] if isinstance(tags, str) else tags if isinstance(tags, list) else []
    fixed = list(dict.fromkeys(t.strip() for tag in raw if isinstance(tag, str) for t in tag.split(",") if t.strip()))
    if fixed == tags:
        return False
    metadata["tags"] = fixed
    return True


def _schema(d: Draft) -> str | None:
    kinds, dropped = _schema_keys(), set[str]()
    if not isinstance(d.nb.get("metadata"), dict):
        d.nb["metadata"] = {}
        dropped.add("missing metadata")
    _conform(d.nb, {"metadata", "nbformat_minor", "nbformat", "cells"}, {}, dropped)
    d.nb["cells"] = _cells(d.nb)
    for cell in d.nb["cells"]:
        kind = f"{cell.get('cell_type')}_cell"
        if kind not in kinds:
            continue  # an unknown cell type is allowed by the schema; grading skips it
        _conform(cell, *kinds[kind], dropped)
        if kind != "code_cell":
            continue
        if not isinstance(cell["outputs"], list):
            cell["outputs"] = []
        if cell["execution_count"] is not None and not isinstance(cell["execution_count"], int):
            cell["execution_count"] = None
        for output in [o for o in cell["outputs"] if isinstance(o, dict)]:
            if output.get("output_type") in kinds:
                _conform(output, *kinds[output["output_type"]], dropped)
            if output.get("output_type") == "execute_result" and not isinstance(output["execution_count"], int):
                output["execution_count"] = None
    retagged = sum(_tags(cell) for cell in d.nb["cells"])
    from nbformat.validator import isvalid, normalize

    if not isvalid(d.nb):  # metadata the schema refuses (a kernelspec without a name): stripped
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _changes, d.nb = normalize(d.nb, version=4, version_minor=d.nb.get("nbformat_minor"),
                                       strip_invalid_metadata=True)
        dropped.add("invalid metadata")
    said = [f"keys the notebook format does not have were removed and missing ones added "
            f"({', '.join(sorted(dropped))}), as Jupyter does when it opens the file"] if dropped else []
    if retagged:
        said.append(f"the tags of {retagged} cell(s) made a list of unique tags (every tag kept)")
    return "; ".join(said) or None


def _cell_ids(d: Draft) -> str | None:
    """Cell ids belong to format 4.5 and later: an editor that writes them under an older minor
    (or the reverse) leaves a notebook every reader accepts but the schema does not. An id the
    schema's pattern refuses (``cell 0``, ``{uuid}``, null, over 64 characters) is one
    ``nbformat.reads`` opens with a logged error: made valid here, as missing ones are made."""
    from nbformat.validator import normalize

    cells = _cells(d.nb)
    had_ids = any("id" in cell for cell in cells)
    invalid = 0
    for cell in [c for c in cells if "id" in c and not (isinstance(c["id"], str) and CELL_ID.match(c["id"]))]:
        invalid += 1
        fixed = re.sub(r"[^a-zA-Z0-9_-]", "-", cell["id"])[:64] if isinstance(cell["id"], str) else ""
        if fixed.strip("-"):
            cell["id"] = fixed
        else:
            del cell["id"]   # null or nothing usable: a new one is made below
    ids = [cell["id"] for cell in cells if isinstance(cell.get("id"), str)]
    if had_ids and d.nb.get("nbformat_minor", 0) < 5:
        d.nb["nbformat_minor"] = 5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # missing and duplicate ids: repaired here, said in the note
        _changes, d.nb = normalize(d.nb, version=4, version_minor=d.nb.get("nbformat_minor"))  # ids repaired
    said = [f"{invalid} cell id(s) the format does not allow were made valid"] if invalid else []
    if len(ids) != len(set(ids)):
        said.append("duplicate cell ids were made unique")
    return "; ".join(said) or None


def _valid(d: Draft) -> str | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MissingIDFieldWarning)
            nbformat.validate(nbformat.from_dict(d.nb))
    except Exception as error:  # nbformat raises several kinds for malformed notebooks
        first = str(error).strip().splitlines()[0][:120] if str(error).strip() else type(error).__name__
        raise d.refuse(f"is not a Jupyter notebook any tool opens ({first})") from None
    return None


STEPS: list[tuple[str, Callable[[Draft], str | None]]] = [
    ("encoding", _encoding), ("json", _json), ("format", _format), ("line endings", _line_endings),
    ("cell ids", _cell_ids), ("schema", _schema), ("valid", _valid)]
