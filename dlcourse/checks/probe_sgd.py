"""The ``torch.optim.SGD`` that a loop check hands to a student's training loop (loops.py),
and that the grading kernel rebuilds when the judge sends one (grading/oracle.py).

It is torch's own SGD, of that very class (``type(optimizer) is torch.optim.SGD`` holds, as a
student's loop may ask), with the same state, settings, hooks and update; only three of its
methods are its own, set on the instance, which Python looks up before the class: torch's
functions without the ``torch._disable_dynamo`` and ``graph_break`` wrappers that torch puts
around them for ``torch.compile``. Why: the first call of any wrapped method imports
``torch._dynamo``, about 1.5 s of CPU (measured on torch 2.14, 2-core machine; about a quarter
of a lesson-1 submission's grading) that an eager loop never uses. Under ``torch.compile``
nothing here changes what is computed: the wrappers only stop tracing at the optimizer.
(A subclass did the same, but then ``type(optimizer) is torch.optim.SGD`` failed a right loop.)
"""

from __future__ import annotations

import inspect
import types
from typing import Any, Callable

import torch

# torch's functions inside their wrappers (functools.wraps keeps each one's ``__wrapped__``).
_ADD_PARAM_GROUP = inspect.unwrap(torch.optim.Optimizer.add_param_group)
_ZERO_GRAD = inspect.unwrap(torch.optim.Optimizer.zero_grad)
_STEP = inspect.unwrap(torch.optim.SGD.step)


def _step(optimizer: torch.optim.SGD, closure: Callable[[], float] | None = None) -> float | None:
    # what torch's wrapper does around the update, besides its graph breaks
    with torch.set_grad_enabled(optimizer.defaults["differentiable"]):
        return _STEP(optimizer, closure)


# torch's own step hooks (register_step_pre_hook, the global ones, the profiler's record), as its
# class's step has them
_HOOKED_STEP = torch.optim.Optimizer.profile_hook_step(_step)


def sgd(params: Any, **settings: Any) -> torch.optim.SGD:
    """``torch.optim.SGD(params, **settings)``, as a student's loop uses it: ``zero_grad()``,
    ``step()``, ``param_groups``. Same constructor arguments and errors as torch's."""
    optimizer = torch.optim.SGD.__new__(torch.optim.SGD)
    # before __init__, which calls add_param_group
    vars(optimizer).update({name: types.MethodType(function, optimizer) for name, function in
                            (("add_param_group", _ADD_PARAM_GROUP), ("zero_grad", _ZERO_GRAD), ("step", _HOOKED_STEP))})
    torch.optim.SGD.__init__(optimizer, params, **settings)
    return optimizer
