"""Look for signs that a notebook tampers with grading, without running any of it.

Tests run inside the student's kernel, so a student cell can reach Otter's test runner, the
``grader`` object, test and result files, or the grading environment. Lesson code never
needs any of these, so each reference is evidence. The scan reads the code cells (IPython
magics and shell escapes translated to the Python they run) as syntax trees, so renaming,
spacing or comments do not hide a reference; code that builds names at run time is caught
by flagging the tools that do it (``exec``, ``eval``, ``__import__``, ``importlib``, computed
``getattr`` names, ``__dict__`` and the other dunder doors into objects...).
"""

from __future__ import annotations

import ast

import nbformat

GRADER_METHODS = {"check", "check_all", "export"}                 # what students are told to call
OTTER_INTERNALS = {"Checker", "GradingResults", "GradingPreprocessor", "test_case", "TestFile",
                   "ExceptionTestFile", "TestCase", "TestCaseResult", "Notebook"}
BLOCKED_MODULES = {"otter", "importlib", "ctypes", "builtins", "inspect"}
DYNAMIC_CODE = {"exec", "eval", "compile", "__import__", "globals", "breakpoint"}
INTROSPECTION = {("sys", "modules"), ("sys", "_getframe"), ("gc", "get_objects"), ("gc", "get_referrers")}
# Doors into any object's internals: how Otter's classes are reached without naming them.
DUNDERS = {"__builtins__", "__dict__", "__globals__", "__code__", "__closure__", "__subclasses__",
           "__bases__", "__mro__", "__getattribute__", "__class__", "__loader__", "__spec__"}
GRADING_PATHS = ("tests/", "tests\\", "otter_results", "results.json", "results.pkl", "notebook_run.json",
                 "cleanroom.json", "lesson.yaml", "/autograder", "DLCOURSE_", ".OTTER_LOG", "OTTER_")


def scan_notebook(notebook: nbformat.NotebookNode) -> list[str]:
    """Evidence of tampering, one line per finding ("code cell 7, line 2: ...")."""
    from IPython.core.inputtransformer2 import TransformerManager

    to_python = TransformerManager().transform_cell
    evidence: list[str] = []
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    for number, cell in enumerate(code_cells, start=1):
        try:
            tree = ast.parse(to_python(cell.source))
        except (SyntaxError, ValueError):
            continue  # code that does not parse cannot run either
        finder = _Finder()
        finder.visit(tree)
        evidence += [f"code cell {number}, line {line}: {what}" for line, what in finder.found]
    return evidence


class _Finder(ast.NodeVisitor):
    def __init__(self) -> None:
        self.found: list[tuple[int, str]] = []

    def note(self, node: ast.AST, what: str) -> None:
        self.found.append((getattr(node, "lineno", 0), what))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            root = alias.name.split(".")[0]
            if root in BLOCKED_MODULES and not (alias.name == "otter" and alias.asname is None):
                self.note(node, f"imports {alias.name}")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if (node.module or "").split(".")[0] in BLOCKED_MODULES:
            self.note(node, f"imports from {node.module}")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        base = node.value
        if isinstance(base, ast.Name):
            if base.id == "otter" and node.attr != "Notebook":
                self.note(node, f"reaches into otter.{node.attr}")
            elif base.id == "grader" and (node.attr not in GRADER_METHODS or not isinstance(node.ctx, ast.Load)):
                self.note(node, f"{'uses' if isinstance(node.ctx, ast.Load) else 'replaces'} grader.{node.attr}")
            elif (base.id, node.attr) in INTROSPECTION:
                self.note(node, f"uses {base.id}.{node.attr}")
        if node.attr in OTTER_INTERNALS - {"Notebook"}:
            self.note(node, f"refers to Otter's {node.attr}")
        if node.attr in DUNDERS:
            self.note(node, f"reaches into {node.attr}")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in OTTER_INTERNALS - {"Notebook"}:
            self.note(node, f"refers to Otter's {node.id}")
        if node.id == "grader" and isinstance(node.ctx, ast.Del):
            self.note(node, "deletes grader")
        if node.id in DUNDERS:
            self.note(node, f"uses {node.id}")

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id in DYNAMIC_CODE:
            self.note(node, f"calls {node.func.id}()")
        if (isinstance(node.func, ast.Name) and node.func.id in {"setattr", "delattr"} and node.args
                and isinstance(node.args[0], ast.Name) and node.args[0].id in {"grader", "otter"}):
            self.note(node, f"calls {node.func.id}() on {node.args[0].id}")
        if (isinstance(node.func, ast.Name) and node.func.id in {"getattr", "setattr", "delattr"}
                and len(node.args) > 1 and not isinstance(node.args[1], ast.Constant)):
            self.note(node, f"calls {node.func.id}() with a computed name")
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            if isinstance(target, ast.Name) and target.id == "grader" and not _is_grader_setup(node.value):
                self.note(node, "rebinds grader")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            hit = next((p for p in GRADING_PATHS if p in node.value), None)
            if hit:
                self.note(node, f"names a grading file or setting ({node.value[:60]!r})")


def _is_grader_setup(value: ast.AST) -> bool:
    """``otter.Notebook(...)``, the assignment in Otter's own first cell, or ``start("<lesson>")``,
    the toolkit's (:mod:`dlcourse.session`)."""
    if not isinstance(value, ast.Call):
        return False
    func = value.func
    if isinstance(func, ast.Name):
        return func.id == "start"
    return (isinstance(func, ast.Attribute) and func.attr == "Notebook" and isinstance(func.value, ast.Name)
            and func.value.id == "otter")
