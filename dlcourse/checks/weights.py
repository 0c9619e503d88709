"""Read submitted weights safely and compare them with a lesson's network.

Weights are loaded with ``torch.load(..., weights_only=True)``: a file crafted to run code
when unpickled is refused instead of executed.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import torch
from torch import nn

from ..spec import ArchSpec

MAX_WEIGHTS_MB = 200  # the largest network in the course needs ~5 MB


class WeightsProblem(AssertionError):
    """The weights file is missing, unreadable, unsafe or of the wrong shape."""


class UnsafeWeights(WeightsProblem):
    """The file is a pickle that asks to import something other than torch when loaded."""


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The state_dict stored in ``path``, or a :class:`WeightsProblem` saying what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise WeightsProblem(
            f"{path.name} is missing: run the training cell (it saves the file), then export with "
            f"grader.export() so that the file is part of your submission.")
    size_mb = path.stat().st_size / 2**20
    if size_mb > MAX_WEIGHTS_MB:
        raise WeightsProblem(f"{path.name} is {size_mb:.0f} MB, far more than this course's networks need.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise _refusal(path.name, str(error)) from None
    except Exception as error:
        raise WeightsProblem(f"{path.name} could not be read ({_first_line(error)}); is it corrupt?") from None
    if not (isinstance(state, dict) and state and all(torch.is_tensor(v) for v in state.values())):
        raise WeightsProblem(f"{path.name} should hold model.state_dict(), a mapping of names to tensors.")
    return state


def state_dict_problem(state: dict[str, torch.Tensor], spec: ArchSpec) -> str | None:
    """How ``state`` fails to fit the lesson's network, as a sentence; None if it fits.

    Tensors are matched by name when the names agree, otherwise in order, so that a network
    written as its own nn.Module class fits as well as an nn.Sequential.
    """
    expected = spec.build().state_dict()
    if set(state) == set(expected):
        pairs = [(name, state[name], expected[name]) for name in expected]
    else:
        if len(state) != len(expected):
            return f"it holds {len(state)} tensors where the lesson's network has {len(expected)}."
        pairs = [(name, tensor, wanted) for (name, tensor), wanted in zip(state.items(), expected.values())]
    for name, tensor, wanted in pairs:
        if tuple(tensor.shape) != tuple(wanted.shape):
            return (f"tensor '{name}' has shape {tuple(tensor.shape)} where the lesson's network "
                    f"needs {tuple(wanted.shape)}.")
    return None


def spec_model_with(state: dict[str, torch.Tensor], spec: ArchSpec) -> nn.Module:
    """The lesson's network holding ``state`` (which must fit: see :func:`state_dict_problem`)."""
    model = spec.build()
    names = list(model.state_dict())
    if set(state) != set(names):
        state = dict(zip(names, state.values()))
    model.load_state_dict(state)
    return model


def _refusal(name: str, message: str) -> WeightsProblem:
    """Explain why torch.load's safe mode refused a file; only a non-torch import is unsafe."""
    wanted = re.search(r"GLOBAL ([\w.]+)", message)
    if wanted and wanted.group(1).startswith("torch."):
        return WeightsProblem(
            f"{name} holds a whole model object ({wanted.group(1)}), not its state_dict: "
            f"save it with torch.save(model.state_dict(), \"{name}\").")
    if wanted:
        return UnsafeWeights(f"{name} asks to import {wanted.group(1)} when loaded, which could run code; "
                             f"it was not loaded.")
    return WeightsProblem(f"{name} is not a file written by torch.save, so it was not loaded.")


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
