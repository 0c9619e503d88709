"""Read submitted weights safely and compare them with a lesson's network.

Students save weights the ways tutorials teach, and all of them are read as what they are,
without running any code:

- ``torch.save(model.state_dict(), ...)``, in the current (zip) or the legacy format, with
  tensors saved on a GPU (mapped to the CPU) or in float16/bfloat16/float64 (made float32);
- names prefixed by ``module.`` (DataParallel, DistributedDataParallel) or ``_orig_mod.``
  (``torch.compile``);
- a training checkpoint: a dictionary holding the state_dict under ``model_state_dict``,
  ``state_dict``, ``model``... next to the optimizer's state, the epoch and numpy scalars;
- a safetensors file, recognised by its content whatever its name.

Pickles are loaded with ``torch.load(..., weights_only=True)`` (numpy scalars and arrays
allow-listed): a file crafted to run code when unpickled is refused instead of executed. A
whole model saved with ``torch.save(model)`` is refused too, with a message saying to save
its state_dict; only a file that imports something a network never needs is "unsafe". Any
other file torch cannot read safely is named for what it is (a TorchScript archive, a pickle
of another protocol or written by ``pickle.dump``, a NumPy or Keras file, a file cut short:
:mod:`.file_kind`), with the one thing to do.

This is the one definition of a readable weights file: the grader's clean room, the
notebook's checks, the course's evaluation cell (:func:`load_weights`) and ``grader.export()``
all read weights through :func:`read_weights`.
"""

from __future__ import annotations

import io
import json
import pickle
import pickletools
import re
import struct
import sys
import zipfile
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from ..spec import ArchSpec
from .file_kind import is_torchscript, unreadable_weights, zip_members

MAX_WEIGHTS_MB = 200  # the largest network in the course needs ~5 MB
PREFIXES = ("module.", "_orig_mod.")  # DataParallel / DistributedDataParallel, torch.compile
CHECKPOINT_KEYS = ("model_state_dict", "state_dict", "model_state", "model", "net", "network", "weights")


class WeightsProblem(AssertionError):
    """The weights file is missing, unreadable, unsafe or of the wrong shape."""


class UnsafeWeights(WeightsProblem):
    """The file is a pickle that asks to import something a network never needs when loaded."""


class WholeModel(WeightsProblem):
    """The file holds a pickled model object (``torch.save(model)``), not its state_dict."""


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
    return weights_from_bytes(path.read_bytes(), path.name)


def load_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """Load the weights file at ``path`` into ``model`` (on the model's device) and return it.

    Accepts every file the grader accepts (see the module docstring): a state_dict saved on
    any device, a DataParallel or ``torch.compile`` prefix, a training checkpoint, safetensors.
    Raises :class:`WeightsProblem` with one line saying what is wrong with the file, and
    torch's own ``RuntimeError`` when the names or shapes are not ``model``'s.
    """
    state = read_weights(path)
    network = unwrapped(model)
    device = next((p.device for p in network.parameters()), torch.device("cpu"))
    network.load_state_dict({name: tensor.to(device) for name, tensor in state.items()})
    return model


def weights_from_bytes(data: bytes, name: str) -> dict[str, torch.Tensor]:
    """The state_dict in a weights file's bytes (see the module docstring), names and dtypes normalised."""
    if is_safetensors(data):
        from safetensors.torch import load as load_safetensors

        try:
            found = load_safetensors(data)
            header = json.loads(data[8:8 + struct.unpack("<Q", data[:8])[0]])
            found = {k: found[k] for k in sorted(found, key=lambda k: header[k]["data_offsets"][0])}
        except Exception as error:
            raise WeightsProblem(f"{name} is a safetensors file that safetensors could not read "
                                 f"({_first_line(error)}): the save or the upload may not have finished; save "
                                 f"it again.") from None
    elif is_torchscript(zip_members(data)):  # torch.load would hand it to torch.jit.load
        raise WeightsProblem(unreadable_weights(data, name))
    else:
        try:
            with torch.serialization.safe_globals(_numpy_globals()):
                found = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as error:
            if "Unsupported operand" in str(error):  # an opcode of another pickle protocol than torch's
                raise WeightsProblem(unreadable_weights(data, name, unsupported_opcode=True)) from None
            raise _refusal(name, str(error), data) from None
        except Exception:  # torch's text would advise turning weights_only off: say what the file is instead
            raise WeightsProblem(unreadable_weights(data, name)) from None
    return _normalised(_state_dict_in(found, name))


def unwrapped(model: Any) -> Any:
    """The network inside ``torch.compile``'s wrapper (``_orig_mod``) or DataParallel's
    (``module``), as often as it is wrapped; anything else as it is. Their state_dict names
    carry those prefixes, which :func:`read_weights` removes: the network inside is the one
    the weights fit."""
    while isinstance(model, nn.Module):
        inner = model._modules.get("_orig_mod") if type(model).__name__ == "OptimizedModule" else None
        if inner is None and isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            inner = model.module
        if not isinstance(inner, nn.Module):
            return model
        model = inner
    return model


def is_safetensors(data: bytes) -> bool:
    """Whether ``data`` is a safetensors file: an 8-byte header length, then a JSON header."""
    if len(data) < 10:
        return False
    (length,) = struct.unpack("<Q", data[:8])
    if not 2 <= length <= len(data) - 8 or data[8:9] != b"{":
        return False
    try:
        return isinstance(json.loads(data[8:8 + length]), dict)
    except ValueError:
        return False


def _state_dict_in(found: object, name: str) -> dict[str, torch.Tensor]:
    """The mapping of names to tensors in what the file held: itself, or a checkpoint's entry."""
    if _is_state_dict(found):
        return dict(cast(dict, found))
    if isinstance(found, dict) and found:
        for key in CHECKPOINT_KEYS:
            if _is_state_dict(found.get(key)):
                return dict(found[key])
        candidates = [key for key, value in found.items() if _is_state_dict(value)]
        if len(candidates) == 1:
            return dict(found[candidates[0]])
        keys = ", ".join(repr(k) for k in list(found)[:6]) + (", ..." if len(found) > 6 else "")
        if len(candidates) > 1:
            raise WeightsProblem(f"{name} holds several state_dicts ({', '.join(map(repr, candidates))}), so it is "
                                 f"not clear which is your network's: save it with "
                                 f"torch.save(model.state_dict(), \"{name}\").")
        raise WeightsProblem(f"{name} holds a dictionary ({keys}) without your network's state_dict in it: "
                             f"save it with torch.save(model.state_dict(), \"{name}\").")
    raise WeightsProblem(f"{name} should hold model.state_dict(), a mapping of names to tensors; it holds "
                         f"{type(found).__name__ if found is not None else 'None'}.")


def _is_state_dict(value: object) -> bool:
    return (isinstance(value, dict) and bool(value) and all(isinstance(k, str) for k in value)
            and all(torch.is_tensor(v) for v in value.values()))


def _normalised(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Wrapper prefixes removed (when every name has one); floating tensors as float32."""
    changed = True
    while changed:
        changed = False
        for prefix in PREFIXES:
            if all(k.startswith(prefix) and len(k) > len(prefix) for k in state):
                state = {k[len(prefix):]: v for k, v in state.items()}
                changed = True
    return {k: (v.float() if v.is_floating_point() and v.dtype != torch.float32 else v).detach()
            for k, v in state.items()}


def _numpy_globals() -> list:
    """What numpy scalars and arrays in a checkpoint (the loss, the epoch) need to be rebuilt:
    data only, no code. Files written with numpy 1 name them ``numpy.core``, numpy 2 ``numpy._core``."""
    try:
        import numpy as np
    except ImportError:
        return []
    import importlib

    try:
        multiarray = importlib.import_module("numpy._core.multiarray")
    except ImportError:  # numpy 1
        multiarray = importlib.import_module("numpy.core.multiarray")
    allowed: list = [np.dtype, np.ndarray]
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed += [(multiarray.scalar, f"{module}.scalar"), (multiarray._reconstruct, f"{module}._reconstruct")]
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        allowed += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith("DType") and isinstance(getattr(dtypes, n), type)]
    return allowed

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


def _refusal(name: str, message: str, data: bytes) -> WeightsProblem:
    """Explain why torch.load's safe mode refused a file, from the imports its pickle asks for
    (read, never run): a network's classes mean a whole model; anything else is unsafe."""
    imports = pickle_imports(data)
    if "torch.storage._load_from_bytes" in imports:  # tensors pickled by pickle.dump, not torch.save
        return WeightsProblem(f"{name} was written with pickle.dump (or joblib), not torch.save, so it was not "
                              f"loaded: save the weights with torch.save(model.state_dict(), \"{name}\").")
    harmful = [g for g in imports if _harmful(g)]
    if harmful:
        return UnsafeWeights(f"{name} asks to import {harmful[0]} when loaded, which could run code; "
                             f"it was not loaded.")
    classes = [g for g in imports if _model_class(g)]
    if classes:
        return WholeModel(
            f"{name} holds a whole model object ({classes[0]}), not its state_dict, so it was not loaded "
            f"(loading it would run code): save the weights with torch.save(model.state_dict(), \"{name}\").")
    wanted = re.search(r"GLOBAL ([\w.]+)", message)
    if wanted:
        return UnsafeWeights(f"{name} asks to import {wanted.group(1)} when loaded, which could run code; "
                             f"it was not loaded.")
    return WeightsProblem(unreadable_weights(data, name))


SAFE_BUILTINS = {"set", "frozenset", "slice", "range", "complex", "bytearray", "bytes", "object", "tuple", "list",
                 "dict", "int", "float", "bool", "str"}
SAFE_STDLIB = {"collections.OrderedDict", "_codecs.encode", "copyreg._reconstructor", "builtins.object"}


def pickle_imports(data: bytes) -> list[str]:
    """The ``module.name`` globals the pickles in a torch file import, in order; read with
    pickletools, never loaded."""
    pickles = []
    if zipfile.is_zipfile(io.BytesIO(data)):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                pickles = [archive.read(n) for n in archive.namelist() if n.endswith(".pkl")]
        except (zipfile.BadZipFile, OSError, RuntimeError):
            return []
    else:
        pickles = [data]
    found: list[str] = []
    for blob in pickles:
        stream = io.BytesIO(blob)
        for _ in range(5):  # the legacy format is a few pickles in a row, then raw storage bytes
            strings: list[str] = []
            try:
                for opcode, arg, _pos in pickletools.genops(stream):
                    if opcode.name in ("GLOBAL", "INST"):
                        found.append(_python3_name(*str(arg).split(" ", 1)))
                    elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                        found.append(_python3_name(strings[-2], strings[-1]))
                    elif isinstance(arg, str):
                        strings.append(arg)
            except Exception:
                break
    return list(dict.fromkeys(found))


def _python3_name(module: str, name: str = "") -> str:
    """``module.name``, with protocol 2's Python 2 module names (``__builtin__``) as Python 3's."""
    module = {"__builtin__": "builtins", "copy_reg": "copyreg", "exceptions": "builtins"}.get(module, module)
    return f"{module}.{name}"


def _harmful(name: str) -> bool:
    """An import no saved network needs: the standard library's, beyond a few data types."""
    module, _, attribute = name.rpartition(".")
    root = module.split(".")[0]
    if name in SAFE_STDLIB or (module == "builtins" and attribute in SAFE_BUILTINS):
        return False
    return root in getattr(sys, "stdlib_module_names", ()) or root in {"os", "posix", "nt", "subprocess", "builtins"}


def _model_class(name: str) -> bool:
    """A network's class: one of torch.nn's, or one defined in the notebook or the student's files."""
    root = name.split(".")[0]
    return name.startswith("torch.nn.modules.") or root not in {"torch", "numpy", "collections", "_codecs", "copyreg"}


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def on_the_cpu(data: bytes) -> bytes:
    """A torch file's bytes with every tensor moved to the CPU, otherwise as saved (a checkpoint
    stays a checkpoint): what a notebook on a machine without a GPU can ``torch.load``. Read
    with ``weights_only=True``; raises :class:`WeightsProblem` for what cannot be read so."""
    legacy = not zipfile.is_zipfile(io.BytesIO(data))
    try:
        with torch.serialization.safe_globals(_numpy_globals()):
            found = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as error:
        raise WeightsProblem(_first_line(error)) from None
    out = io.BytesIO()
    torch.save(found, out, _use_new_zipfile_serialization=not legacy)
    return out.getvalue()


if __name__ == "__main__":  # python -I -m dlcourse.checks.weights < gpu.pt > cpu.pt (see grading.submission.stage)
    try:
        sys.stdout.buffer.write(on_the_cpu(sys.stdin.buffer.read(MAX_WEIGHTS_MB * 2**20 + 1)))
    except WeightsProblem as problem:
        sys.exit(f"not converted: {problem}")
