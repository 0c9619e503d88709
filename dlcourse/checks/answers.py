"""Checks on the values a notebook answers with: its functions, its numbers, its choices.

Tests call these first, so that the usual slips get a message that names them: a function
not yet defined, a function that prints its result instead of returning it, a count held
in a numpy integer or a 0-d tensor (a whole number all the same).

For questions answered with a value, a question's public test calls a ``*_answer`` reader:
it says whether the answer is well formed (letters among the options, a number, a shape)
and never whether it is right, so it tells a right answer from a wrong one no better than
chance. The hidden test holds the key and calls a ``check_*`` function, whose message names
the misconception behind a typical wrong answer. The key lives only in the hidden test: this
module is public, like the rest of the toolkit.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any, Callable, cast

SEPARATORS = " ,;"


def chosen_answer(answer: object, options: str, name: str) -> frozenset[str]:
    """The statements an answer such as ``"ac"`` (or ``"a, c"``) chooses among ``options``."""
    example = f'a string of letters among "{options}"'
    assert answer is not None, f"set `{name}` first (run its cell): {example}"
    assert isinstance(answer, str), f"`{name}` should be {example}, not {type(answer).__name__}"
    letters = [c for c in answer.lower() if c not in SEPARATORS]
    strange = [c for c in letters if c not in options]
    assert not strange, f"`{name}` may hold only the letters \"{options}\"; it holds {strange[0]!r}"
    assert len(set(letters)) == len(letters), f"`{name}` names a statement twice"
    assert letters, f"`{name}` chooses no statement: it should be {example}"
    return frozenset(letters)


def number_answer(answer: object, name: str, whole: bool = True) -> float:
    """A number the answer gives (a whole one when ``whole``), not negative."""
    kind = "a whole number" if whole else "a number"
    assert answer is not None, f"set `{name}` first (run its cell): {kind}"
    types = numbers.Integral if whole else numbers.Real
    assert isinstance(answer, types) and not isinstance(answer, bool), \
        f"`{name}` should be {kind}, not {type(answer).__name__}"
    number = cast(float, answer)   # a numbers.Real (or Integral): float's operations
    assert math.isfinite(number) and number >= 0, f"`{name}` should be {kind}, not negative; it is {number}"
    return number


def shape_answer(answer: object, name: str, dims: int) -> tuple[int, ...]:
    """A shape of ``dims`` sizes the answer gives, as a tuple."""
    assert answer is not None, f"set `{name}` first (run its cell): a tuple of {dims} whole numbers"
    assert isinstance(answer, Sequence) and not isinstance(answer, str), \
        f"`{name}` should be a tuple of {dims} whole numbers, not {type(answer).__name__}"
    assert len(answer) == dims, f"`{name}` should hold {dims} sizes; it holds {len(answer)}"
    assert all(isinstance(n, numbers.Integral) and not isinstance(n, bool) and int(n) > 0 for n in answer), \
        f"`{name}` should hold positive whole numbers"
    return tuple(int(n) for n in answer)


def check_choice(answer: object, options: str, key: str, why: Mapping[str, str], name: str) -> None:
    """``answer`` chooses exactly the statements of ``key``; otherwise the message gives, for
    each statement it got wrong, ``why[letter]``: the misconception that choice reveals."""
    chosen = chosen_answer(answer, options, name)
    wrong = sorted(chosen ^ frozenset(key))
    assert not wrong, f"`{name}`: " + " ".join(why[letter] for letter in wrong)


def check_number(answer: object, name: str, key: float, mistakes: Mapping[float, str], hint: str,
                 whole: bool = True, tolerance: float = 0.0) -> None:
    """``answer`` is ``key`` (within ``tolerance``); a typical wrong value is named by ``mistakes``,
    any other gets ``hint``."""
    value = number_answer(answer, name, whole)
    if abs(value - key) <= tolerance:
        return
    named = next((why for wrong, why in mistakes.items() if abs(value - wrong) <= tolerance), hint)
    raise AssertionError(f"`{name}` = {value:g} is not right: {named}")


def check_shape(answer: object, name: str, key: tuple[int, ...], mistakes: Mapping[tuple[int, ...], str],
                hint: str) -> None:
    """``answer`` is the shape ``key``; a typical wrong shape is named by ``mistakes``, any other gets ``hint``."""
    shape = shape_answer(answer, name, len(key))
    if shape != tuple(key):
        raise AssertionError(f"`{name}` = {shape} is not right: {mistakes.get(shape, hint)}")


def student_function(function: Any, name: str) -> Callable[..., Any]:
    """``function`` (the notebook's ``name``), wrapped so that calling it raises an
    AssertionError naming the slip when it returns None.

    Raises AssertionError when ``function`` is not callable (the cell was not run).
    """
    if not callable(function):
        raise AssertionError(f"define the function `{name}` first (run its cell)")

    def call(*args: Any, **kwargs: Any) -> Any:
        result = function(*args, **kwargs)
        if result is None:
            raise AssertionError(f"`{name}` returned nothing (None): end it with `return` and the value, "
                                 f"rather than printing it")
        return result

    return call


def whole_number(value: Any, name: str) -> int:
    """``value`` as an int when it is a whole number of any kind (int, numpy integer, a 0-d
    integer tensor), else an AssertionError that says what ``name`` holds instead."""
    if hasattr(value, "ndim") and getattr(value, "ndim") == 0 and hasattr(value, "item"):
        value = value.item()  # a 0-d numpy array or tensor
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        raise AssertionError(f"set `{name}` to a whole number: it holds the float {value!r}; "
                             f"write it without a decimal point, or wrap it in int()")
    held = "nothing (None)" if value is None else f"a {type(value).__name__}"
    raise AssertionError(f"set `{name}` to a whole number: it holds {held}")
