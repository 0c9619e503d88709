"""What ``grader.check`` shows for a question whose public tests check only an answer's form.

Questions answered with a value (letters, a number, a shape) keep their key in hidden tests;
their public tests are worth 0 points and say only whether the answer is well formed. Otter
reports a passing check as "All test cases passed!", which reads as "right" for an answer
that may be wrong, so such a check reports :data:`FORMAT_OK` instead. A question counts as
format-only when every public test case it has is worth 0 points and none has a success
message: a 0-point public test that measures something real (lesson 4's own network, checked
for its target and budget as the grader checks it) says what its pass means in its
``success_message``, which Otter shows with its own words.
"""

from __future__ import annotations

from typing import Any

FORMAT_OK = "format OK: graded when you submit"
PASSED = "All test cases passed"  # Otter's own words for a passing check


def check_passed(shown: str) -> bool:
    """Whether the text a ``grader.check`` cell showed reports a pass (either wording)."""
    return PASSED in shown or FORMAT_OK in shown


def format_only(result: Any) -> bool:
    """Whether Otter's result for a question comes from public tests that are all worth 0 points
    and say nothing of their own when they pass."""
    cases = [r.test_case for r in getattr(result, "test_case_results", None) or []]
    return bool(cases) and all(not case.hidden and case.points == 0 and not case.success_message for case in cases)


class FormatChecked:
    """Otter's result for a format-only question that passed, shown as :data:`FORMAT_OK`.

    Everything else (``passed_all``, ``grade``, ...) is Otter's result's own."""

    def __init__(self, result: Any) -> None:
        self._result = result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._result, name)

    def summary(self, public_only: bool = False) -> str:
        return f"{self._result.name}: {FORMAT_OK}"

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return f"<p><strong><pre style='display: inline;'>{self._result.name}</pre></strong>: {FORMAT_OK}</p>"


def report(result: Any) -> Any:
    """``result`` as ``grader.check`` shows it: format-only passes say :data:`FORMAT_OK`."""
    if getattr(result, "passed_all", False) and format_only(result):
        return FormatChecked(result)
    return result
