"""Nothing hidden reaches students: no solution code, hidden test or Otter marker in student_template/."""

import ast
import re
import zipfile

import nbformat
import pytest

from dlcourse.course import Course
from helpers.paths import ROOT

COURSE = Course(ROOT)
MARKERS = ("# BEGIN SOLUTION", "# END SOLUTION", "# SOLUTION", "# BEGIN TESTS", "# BEGIN QUESTION",
           "# HIDDEN", "BEGIN TEST CONFIG", "hidden=True", "hidden: true")


def student_files(lesson_id):
    return [p for p in COURSE.student_dir(lesson_id).rglob("*") if p.is_file()]


def solution_lines(lesson):
    """Code lines the master marks as solution (`# SOLUTION` lines, `# BEGIN/END SOLUTION`
    blocks), except lines the lesson also gives students elsewhere (e.g. an example network)."""
    master = nbformat.read(lesson.directory / lesson.notebook, as_version=4)
    secret, given, inside = [], set(), False
    for cell in master.cells:
        if cell.cell_type != "code":
            continue
        for line in cell.source.splitlines():
            stripped = line.strip()
            if stripped == "# BEGIN SOLUTION":
                inside = True
            elif stripped == "# END SOLUTION":
                inside = False
            elif inside or stripped.endswith("# SOLUTION"):
                code = stripped.removesuffix("# SOLUTION").strip()
                if len(code) > 6 and not code.startswith("#"):
                    secret.append(code)
            else:
                given.add(stripped)
    return [line for line in secret if line not in given]


def hidden_tests(lesson_id):
    """(name, lines of its own) of every hidden test in the built autograder; lines that a
    public test shares (imports, guards) are not the hidden test's own."""
    hidden, public_lines = [], set()
    with zipfile.ZipFile(COURSE.autograder_zip(lesson_id)) as archive:
        for name in archive.namelist():
            if name.startswith("tests/"):
                tree = ast.parse(archive.read(name))
                for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
                    decorator = ast.unparse(fn.decorator_list[0]) if fn.decorator_list else ""
                    lines = [line.strip() for line in ast.unparse(fn).splitlines()[1:]]
                    if "hidden=True" in decorator:
                        hidden.append((fn.name, lines))
                    else:
                        public_lines.update(lines)
    return [(name, [line for line in lines if line not in public_lines]) for name, lines in hidden]


def lines_of(path):
    """The stripped lines of a file; for a notebook, of its cells' sources."""
    if path.suffix == ".ipynb":
        text = "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells)
    else:
        text = path.read_text(errors="replace")
    return {line.strip() for line in text.splitlines()}


@pytest.mark.parametrize("lesson_id", COURSE.lesson_ids())
def test_no_solution_code_in_the_release(lesson_id):
    lesson = COURSE.lesson(lesson_id)
    secret = solution_lines(lesson)
    assert secret, "the master marks no solution lines: is the parser out of date?"
    for path in student_files(lesson_id):
        leaked = [line for line in secret if line in lines_of(path)]
        assert not leaked, f"{path.relative_to(ROOT)} contains solution code: {leaked[:3]}"


@pytest.mark.parametrize("lesson_id", COURSE.lesson_ids())
def test_no_hidden_test_in_the_release(lesson_id):
    hidden = hidden_tests(lesson_id)
    assert hidden, "the lesson should have hidden tests"
    for path in student_files(lesson_id):
        text = path.read_text(errors="replace")
        for name, body in hidden:
            assert name not in text, f"hidden test {name} appears in {path.relative_to(ROOT)}"
            distinctive = [line for line in body if len(line) > 25]
            assert not [line for line in distinctive if line in text], f"hidden test {name} leaks into {path}"


@pytest.mark.parametrize("lesson_id", COURSE.lesson_ids())
def test_no_otter_markers_in_the_release(lesson_id):
    for path in student_files(lesson_id):
        text = path.read_text(errors="replace")
        assert not [m for m in MARKERS if m in text], f"{path.relative_to(ROOT)} holds an Otter marker"


@pytest.mark.parametrize("lesson_id", COURSE.lesson_ids())
def test_public_tests_hold_no_literal_answers(lesson_id):
    """A public test may compare against what the lesson text states, nothing else: every
    number in a public test's source must appear in the student notebook's own text."""
    notebook = (COURSE.student_dir(lesson_id) / COURSE.lesson(lesson_id).notebook).read_text()
    notebook = re.sub(r"(?<=\d),(?=\d{3})", "", notebook)  # "305,194" states 305194
    for path in (COURSE.student_dir(lesson_id) / "tests").glob("*.py"):
        numbers = set(re.findall(r"(?<![\w.])\d{3,}(?![\w.])", path.read_text()))
        unexplained = [n for n in numbers if n not in notebook]
        assert not unexplained, f"{path.name} compares with {unexplained}, which the lesson never states"


@pytest.mark.parametrize("lesson_id", COURSE.lesson_ids())
def test_every_name_a_test_uses_is_defined(lesson_id):
    """Otter runs each test function in its test file's own namespace: a name must be a parameter
    (filled from the notebook), a builtin, or imported or assigned inside the function."""
    import builtins

    with zipfile.ZipFile(COURSE.autograder_zip(lesson_id)) as archive:
        files = [(n, ast.parse(archive.read(n))) for n in archive.namelist() if n.startswith("tests/")]
    for name, tree in files:
        for function in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
            defined = {a.arg for a in ast.walk(function) if isinstance(a, ast.arg)}
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    defined |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
                elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    defined.add(node.id)
                elif isinstance(node, ast.FunctionDef) and node is not function:
                    defined.add(node.name)
            body = ast.Module(body=function.body, type_ignores=[])  # decorators run at module level
            used = {n.id for n in ast.walk(body) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
            undefined = used - defined - set(dir(builtins))
            assert not undefined, f"{name}: {function.name} uses {sorted(undefined)} without importing them"


# Where a key's digits occur in a release for another reason, each occurrence written out: it
# is taken out before the search, and nothing else is.
UNRELATED = {
    # the optional tutorial network's width, which equals four_blocks' key by chance
    "cifar-cnn": ("a dense layer of 512 neurons", "nn.Linear(32 * 16 * 16, 512)", "nn.Linear(512, 10)"),
}


@pytest.mark.parametrize("lesson_id", COURSE.lesson_ids())
def test_no_answer_key_in_the_release(lesson_id):
    """A question answered with a value (``name = value  # SOLUTION``): its key appears nowhere
    in the release, neither as written in the master nor, for a choice of letters, in any order."""
    import itertools

    from helpers.lessons import value_questions

    texts = {path: path.read_text(errors="replace") for path in student_files(lesson_id)}
    for unrelated in UNRELATED.get(lesson_id, ()):
        assert any(unrelated in text for text in texts.values()), f"{lesson_id} no longer says {unrelated!r}"
        texts = {path: text.replace(unrelated, "") for path, text in texts.items()}
    for name, (variable, key) in value_questions(lesson_id).items():
        if isinstance(key, str):
            forms = {f"{q}{''.join(p)}{q}" for p in itertools.permutations(key) for q in "\"'"}
        elif isinstance(key, tuple):
            forms = {str(key), ", ".join(map(str, key[1:]))}
        else:
            forms = {f"{variable} = {key:g}", f"== {key:g}", f"{key:g}" if key > 99 else f"= {key:g}"}
        for path, text in texts.items():
            leaked = [form for form in forms if form in text]
            assert not leaked, f"{path.relative_to(ROOT)} gives away the key of {name}: {leaked}"
