"""Checks on the plain values a notebook answers with: its functions and its numbers.

Tests call these first, so that the usual slips get a message that names them: a function
not yet defined, a function that prints its result instead of returning it, a count held
in a numpy integer or a 0-d tensor (a whole number all the same).
"""

from __future__ import annotations

import numbers
from typing import Any, Callable


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
