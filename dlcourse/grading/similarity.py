"""Copies found, for a person to judge: pairs of submissions with the evidence that links them.

Four kinds of evidence, strongest first:

- ``identical-weights``: the lesson's weights file is byte for byte the same;
- ``identical-answers``: answer cells identical once comments and whitespace are ignored
  (Python's own tokenizer), the notebook's given code (the student template) left out;
- ``near-identical-network``: the two networks' predictions on the clean room's fixed images
  (``GradeResult.predictions``) differ on far fewer images than independent training gives.
  The measure is the disagreement over the sum of both error rates: a copy disagrees nowhere
  (0), networks trained independently by the course's own recipe and seeds disagree on most
  of the images either gets wrong (benchmarks/prediction_agreement.py; ``NEAR_IDENTICAL``);
- ``similar-code``: copydetect's winnowed fingerprints of the answer code cover most of both
  (the template's fingerprints are boilerplate), for code edited after copying.

Evidence is gathered per pair of submissions, then reported once per pair of students
(:class:`Copy`: every kind found between any of their submissions, resubmissions included).
Nothing here changes a score or reaches a student: ``copies.csv`` and a section of report.md.
Submissions are read as the grader read them (:func:`.submission.read_submission`); nothing runs.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import tokenize
from dataclasses import dataclass
from pathlib import Path

from .inputs import Discovery, Entry, Student
from .result import GradeResult

WEIGHTS_SUFFIXES = (".pt", ".pth", ".safetensors", ".bin", ".ckpt")
MIN_CELL_TOKENS = 20        # a shared cell shorter than this (``model = Net()``) is no evidence
# Near-identical: disagreement below this share of the two error rates' sum (a copy: 0).
# The course's own seeds of dense-mnist (0, 1, 2: 98.1%, 97.6%, 98.1% on the fixed images)
# measured 0.40, 0.45 and 0.56 pairwise (benchmarks/prediction_agreement.py, benchmarks/README.md);
# the bound sits well below the lowest.
NEAR_IDENTICAL = 0.25
INDEPENDENT_LOWEST = 0.40
SIMILAR_CODE = 0.8          # copydetect: share of each side's fingerprinted tokens found in the other


@dataclass(frozen=True)
class Pair:
    a: Entry
    b: Entry
    kind: str
    evidence: str


ORDER = ("identical-weights", "identical-answers", "near-identical-network", "similar-code")


@dataclass(frozen=True)
class Copy:
    """One pair of students (each side: a submission's students) and all the evidence found
    between their submissions, strongest kind first."""
    a: tuple[Student, ...]
    b: tuple[Student, ...]
    kinds: tuple[str, ...]
    evidence: tuple[str, ...]          # one line per kind, in the order of ``kinds``
    submissions: tuple[str, ...]       # the submissions' labels the evidence links


def who(students: tuple[Student, ...]) -> str:
    """``Ada Lovelace (1001); Alan Turing (1002)``: the students of one side."""
    return "; ".join(f"{s.name} ({s.key})" if s.name and s.name != s.key else s.key for s in students)


@dataclass
class _Read:
    entry: Entry
    result: GradeResult | None
    weights: str = ""                  # sha256 of the weights file, "" if none
    cells: tuple[str, ...] = ()        # normalised answer cells, template cells left out
    code: str = ""                     # the answer cells as written, for copydetect


def normalised(source: str) -> str:
    """Python source as its tokens, comments and layout dropped; unparseable code: its words."""
    try:
        tokens = tokenize.generate_tokens(io.StringIO(source).readline)
        kept = [t.string for t in tokens if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE,
                                                             tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER)]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        kept = source.split()
    return " ".join(kept)


def code_cells(notebook) -> list[str]:
    """The code cells' sources; IPython magics and shell lines dropped (not Python)."""
    cells = []
    for cell in notebook.get("cells", []):
        source = cell.get("source", "")
        if cell.get("cell_type") == "code" and isinstance(source, str):
            lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
            cells.append("\n".join(lines))
    return cells


def find_copies(found: Discovery, results: dict[str, GradeResult], *, weights_file: str = "",
                template: Path | None = None) -> list[Copy]:
    """Every pair of students with evidence (see the module docstring), strongest kind first."""
    if len(found.entries) < 2:
        return []   # no pair to compare (one submission graded): its files are not read a second time
    given = _template_cells(template)
    reads = [_read(entry, results.get(entry.key), weights_file, given) for entry in found.entries]
    pairs: list[Pair] = []
    for x, y in itertools.combinations(reads, 2):
        if {s.key for s in x.entry.students} & {s.key for s in y.entry.students}:
            continue   # the same student's two attempts
        if x.weights and x.weights == y.weights:
            pairs.append(Pair(x.entry, y.entry, "identical-weights", f"weights sha256 {x.weights[:16]}…"))
        shared = [c for c in set(x.cells) & set(y.cells) if len(c.split()) >= MIN_CELL_TOKENS]
        if x.cells and (x.cells == y.cells or len(shared) >= 2):
            whole = "all answer cells identical" if x.cells == y.cells else f"{len(shared)} answer cells identical"
            pairs.append(Pair(x.entry, y.entry, "identical-answers", f"{whole} (comments and whitespace ignored)"))
        ratio = _disagreement_ratio(x.result, y.result)
        if ratio is not None and ratio < NEAR_IDENTICAL:
            pairs.append(Pair(x.entry, y.entry, "near-identical-network",
                              f"predictions differ on {ratio:.0%} of what their errors would give independently "
                              f"(the course's independently trained seeds: {INDEPENDENT_LOWEST:.0%} or more)"))
    pairs += _similar_code(reads, given, {(p.a.key, p.b.key) for p in pairs if p.kind == "identical-answers"})
    return by_students(pairs)


def by_students(pairs: list[Pair]) -> list[Copy]:
    """One :class:`Copy` per pair of students, strongest evidence first, then by name."""
    grouped: dict[tuple, dict] = {}
    for pair in sorted(pairs, key=lambda p: (ORDER.index(p.kind), p.a.label, p.b.label)):
        a, b = sorted([tuple(sorted(pair.a.students, key=lambda s: s.key)),
                       tuple(sorted(pair.b.students, key=lambda s: s.key))], key=lambda side: [s.key for s in side])
        group = grouped.setdefault((tuple(s.key for s in a), tuple(s.key for s in b)),
                                   {"a": a, "b": b, "kinds": {}, "submissions": {}})
        group["kinds"].setdefault(pair.kind, pair.evidence)   # the first (strongest) line of each kind
        group["submissions"].update(dict.fromkeys([pair.a.label, pair.b.label]))
    copies = [Copy(g["a"], g["b"], tuple(g["kinds"]), tuple(g["kinds"].values()), tuple(g["submissions"]))
              for g in grouped.values()]
    return sorted(copies, key=lambda c: (ORDER.index(c.kinds[0]), -len(c.kinds), who(c.a), who(c.b)))


def disagreement_ratio(a: str, b: str, error_a: float, error_b: float) -> float | None:
    """Share of images the two prediction strings differ on, over ``error_a + error_b``
    (their error rates); None where that sum is too small to say anything (two perfect networks)."""
    if not a or len(a) != len(b) or error_a + error_b < 0.002:
        return None
    return sum(p != q for p, q in zip(a, b)) / len(a) / (error_a + error_b)


def _disagreement_ratio(x: GradeResult | None, y: GradeResult | None) -> float | None:
    if x is None or y is None or x.accuracy is None or y.accuracy is None:
        return None
    return disagreement_ratio(x.predictions, y.predictions, 1 - x.accuracy, 1 - y.accuracy)


def _read(entry: Entry, result: GradeResult | None, weights_file: str, given: set[str]) -> _Read:
    from .reader.files import find_lesson_file
    from .submission import SubmissionProblem, read_submission

    read = _Read(entry, result)
    try:   # the Entry, not its path: an LMS's separate files of one student are its members
        submission = read_submission(entry)
        names = [n for n in submission.files if n.lower().endswith(WEIGHTS_SUFFIXES)]
        if weights_file:   # the file the grader loaded: the lesson's name, or the one renamed to it
            names = [found] if (found := find_lesson_file(weights_file, names)[0]) else []
    except (SubmissionProblem, OSError, ValueError):
        return read
    blobs = [submission.files[n] for n in names]
    if blobs:
        read.weights = hashlib.sha256(b"".join(blobs)).hexdigest()
    answers = [c for c in code_cells(submission.notebook) if normalised(c) and normalised(c) not in given]
    read.cells = tuple(normalised(c) for c in answers)
    read.code = "\n\n".join(answers)
    return read


def _template_cells(template: Path | None) -> set[str]:
    if template is None or not template.is_file():
        return set()
    import nbformat

    return {normalised(c) for c in code_cells(nbformat.read(template, as_version=4))}


def _similar_code(reads: list[_Read], given: set[str], already: set[tuple[str, str]]) -> list[Pair]:
    """copydetect's fingerprint overlap of the answer code, template code as boilerplate."""
    if sum(1 for r in reads if r.code.strip()) < 2:
        return []   # no two answers to compare (one submission graded): copydetect is not even loaded
    try:
        from copydetect import CodeFingerprint, compare_files
    except ImportError:   # the optional "instructor" extra; the other evidence stands without it
        return []
    k, window = 25, 1
    boilerplate = list(CodeFingerprint("template.py", k, window, fp=io.StringIO("\n\n".join(sorted(given)))).hashes) \
        if given else []
    prints = {}
    for read in reads:
        if read.code.strip():
            try:
                prints[read.entry.key] = CodeFingerprint(f"{read.entry.key}.py", k, window, boilerplate=boilerplate,
                                                         fp=io.StringIO(read.code))
            except Exception:   # copydetect's tokenizer on unparseable text: no evidence, not a failure
                continue
    pairs = []
    for x, y in itertools.combinations([r for r in reads if r.entry.key in prints], 2):
        if (x.entry.key, y.entry.key) in already or {s.key for s in x.entry.students} & {s.key for s in y.entry.students}:
            continue
        _, (sim_x, sim_y), _ = compare_files(prints[x.entry.key], prints[y.entry.key])
        if min(sim_x, sim_y) >= SIMILAR_CODE:
            pairs.append(Pair(x.entry, y.entry, "similar-code",
                              f"copydetect: {sim_x:.0%} of one's answer code and {sim_y:.0%} of the other's overlap"))
    return pairs
