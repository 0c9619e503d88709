"""Failure messages grouped by what went wrong, not by their exact text.

Hidden tests draw random inputs, so at 300 students every message is different
("expected shape (7, 10), got (7, 5)", "... (13, 10), got (13, 5)"). A message's *cause* is
its text with the parts that vary between submissions replaced: numbers, quoted strings,
bracketed values (shapes, lists, tensors). Failures are grouped by (question, test, cause),
each group with how many submissions it holds and one real message as an example.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from .result import GradeResult

_VARYING = [
    (re.compile(r"tensor\(\[.*?\]\)|\[[^\[\]]*\]|\([\d\s,.\-eE+]*\)"), "[…]"),   # shapes, lists, tensors
    (re.compile(r"'[^']*'|\"[^\"]*\""), "'…'"),                                  # quoted values
    (re.compile(r"0x[0-9a-fA-F]+|[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?%?"), "N"),   # numbers, addresses
]


def cause(message: str) -> str:
    """``message`` with the parts that vary between submissions replaced (see module docstring)."""
    text = " ".join(message.split())
    for pattern, stand_in in _VARYING:
        text = pattern.sub(stand_in, text)
    return text


@dataclass
class FailureGroup:
    question: str
    test: str
    cause: str
    submissions: list[str] = field(default_factory=list)
    example: str = ""


def group_failures(results: Iterable[GradeResult]) -> list[FailureGroup]:
    """Every failed test with a message, grouped; most common first. A submission counts once per group."""
    groups: dict[tuple[str, str, str], FailureGroup] = {}
    for result in results:
        for question in result.questions.values():
            for test in question.tests:
                if test.passed or not test.message:
                    continue
                key = (question.name, test.name, cause(test.message))
                group = groups.setdefault(key, FailureGroup(*key, example=test.message))
                if result.submission not in group.submissions:
                    group.submissions.append(result.submission)
    return sorted(groups.values(), key=lambda g: (-len(g.submissions), g.question, g.test, g.cause))
