"""The package's layering: no import cycle in dlcourse/ (imports inside functions count too;
those under ``if TYPE_CHECKING:`` do not, they never run), and the students' checks never
import the trusted grader."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers.paths import ROOT, TESTS

PACKAGE = ROOT / "dlcourse"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, modules: set[str]) -> set[str]:
    """The dlcourse modules ``path`` imports, anywhere but under ``if TYPE_CHECKING:``."""
    name = module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    tree = ast.parse(path.read_text())
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
               for child in node.body for n in ast.walk(child)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else node.module or ""
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in modules and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in modules and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: imports(path, set(paths)) for name, path in paths.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycle_in_the_package():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_students_checks_never_import_the_grader():
    graph = import_graph()
    for name, targets in graph.items():
        if name.startswith("dlcourse.checks"):
            assert not [t for t in targets if t.startswith("dlcourse.grading")], name


def test_no_test_module_imports_another():
    """Shared helpers live in tests/helpers/ (or are conftest.py's fixtures): a test module that
    imports another runs that module's tests' imports and couples two files' edits."""
    tests = TESTS
    local = {"tests", "conftest"} | {path.stem for path in tests.rglob("test_*.py")}
    found = []
    for path in tests.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            found += [f"{path.relative_to(tests)} imports {name}" for name in names if name.split(".")[0] in local]
    assert found == []


def test_every_package_the_code_imports_is_declared():
    """pyproject.toml names the distribution of every third-party module dlcourse/ imports
    (in its dependencies or an extra); ``google.colab`` exists only on Colab."""
    import re
    import sys
    from importlib.metadata import packages_distributions

    import pytest

    tomllib = pytest.importorskip("tomllib")   # Python 3.11+

    project = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["project"]
    declared = {re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0].lower().replace("_", "-")
                for r in [*project["dependencies"], *sum(project["optional-dependencies"].values(), [])]}
    imported = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"dlcourse", "google"}
    owners = packages_distributions()
    undeclared = {m: owners.get(m) for m in third_party
                  if not {d.lower().replace("_", "-") for d in owners.get(m, [])} & declared}
    assert undeclared == {}


def test_a_long_module_says_why():
    """A module over about 350 lines says in its docstring why it is one module."""
    long = [f"{path.relative_to(PACKAGE.parent)}: {lines} lines" for path in PACKAGE.rglob("*.py")
            if (lines := len(path.read_text().splitlines())) > 360
            and "Why one module" not in (ast.get_docstring(ast.parse(path.read_text())) or "")]
    assert long == []


def test_the_linter_finds_nothing():
    """ruff (a test dependency) with the rules in pyproject.toml: undefined names, unused
    imports, unreachable syntax errors."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(PACKAGE)], capture_output=True,
                          text=True, cwd=PACKAGE.parent, timeout=120)
    assert "No module named ruff" not in done.stderr, "install the test extras: pip install -e '.[test]'"
    assert done.returncode == 0, done.stdout[-3000:]


def test_the_type_checker_finds_nothing():
    """mypy (a test dependency) with the settings in pyproject.toml: the type hints hold. Its
    cache lives in the temporary folder, one per checkout, so a second run takes seconds."""
    import hashlib
    import subprocess
    import sys
    import tempfile

    cache = Path(tempfile.gettempdir()) / f"dlcourse-mypy-{hashlib.sha256(str(PACKAGE).encode()).hexdigest()[:12]}"
    done = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(cache)], capture_output=True, text=True,
                          cwd=PACKAGE.parent, timeout=600)
    assert "No module named mypy" not in done.stderr, "install the test extras: pip install -e '.[test]'"
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]


def test_the_graders_own_process_imports_no_torch():
    """The grader (batch, pipeline, scoring, the CLI) stays small: torch loads in the judge and
    the kernel only (a module-level import of the measurement once cost the grader ~640 MB)."""
    import subprocess
    import sys

    code = ("import sys, dlcourse.cli, dlcourse.grading.batch, dlcourse.grading.pipeline, dlcourse.grading.scoring, "
            "dlcourse.grading.preflight\nassert 'torch' not in sys.modules, 'torch was imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
