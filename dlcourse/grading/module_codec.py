"""A torch ``nn.Module`` as data: its tree of layers, their settings and their tensors.

Both ends of the judge's channel use this. The student's kernel describes a network it
holds; the judge rebuilds a local copy to inspect (layer kinds, sizes, parameters). The
judge also describes networks its tests make (probes) for the kernel to rebuild.

A node::

    {"class": "Linear", "torch": true, "attrs": {"in_features": 784, ...},
     "params": {"weight": <tensor>, "bias": <tensor>}, "buffers": {...},
     "children": [["0", <node>], ...], "training": true}

Only classes of ``torch.nn`` itself are rebuilt as what they are (a ``Linear`` is made a
``Linear``, with the settings and tensors it arrived with). Any other class becomes an
:class:`OpaqueModule` of the same name: its layers and tensors can be inspected, but its
``forward`` exists only where it was written.
"""

from __future__ import annotations

import re
from typing import Any

from torch import nn

from .wire import Decoder, Encoder, WireError

PLAIN = (bool, int, float, str, type(None))
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
MAX_NODES = 2000     # layers in one network, checked where a description is made and where it is rebuilt
MAX_DEPTH = 64       # layers nested in layers
MAX_ENTRIES = 1000   # tensors, or settings, of one layer


class OpaqueModule(nn.Module):
    """A layer of a class the judge does not have: inspectable, not callable here."""

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"{type(self).__name__} runs only in the notebook that defined it")


def torch_class(module: nn.Module) -> bool:
    """Whether ``module`` is exactly a class of ``torch.nn`` (not a subclass written elsewhere)."""
    cls = type(module)
    return cls.__module__.startswith("torch.nn.modules.") and getattr(nn, cls.__name__, None) is cls


def describe(module: nn.Module, encoder: Encoder) -> dict:
    """``module``'s tree as a node (see the module docstring); tensors go to ``encoder``."""
    count = [0]

    def node(m: nn.Module) -> dict:
        count[0] += 1
        if count[0] > MAX_NODES:
            raise WireError(f"a network of more than {MAX_NODES} layers")
        attrs = {k: v for k, v in vars(m).items() if _plain_setting(k, v)}
        return {
            "class": type(m).__name__, "torch": torch_class(m),
            "attrs": encoder.encode(attrs),
            "params": {k: None if p is None else encoder.tensor(p) for k, p in m._parameters.items()},
            "buffers": {k: None if b is None else encoder.tensor(b) for k, b in m._buffers.items()},
            "children": [[k, node(c)] for k, c in m._modules.items() if c is not None],
            "training": bool(m.training),
        }

    return node(module)


def rebuild(node: Any, decoder: Decoder, depth: int = 0, count: list[int] | None = None) -> nn.Module:
    """The module a node describes (see the module docstring); :class:`WireError` if it is
    malformed, or larger than the limits above (the description comes from the sandbox)."""
    count = [0] if count is None else count
    count[0] += 1
    if count[0] > MAX_NODES:
        raise WireError(f"a network of more than {MAX_NODES} layers")
    if depth > MAX_DEPTH:
        raise WireError(f"a network nested more than {MAX_DEPTH} layers deep")
    if not isinstance(node, dict):
        raise WireError("a malformed network description")
    name = node.get("class")
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise WireError("a network layer without a proper class name")
    cls = getattr(nn, name, None) if node.get("torch") is True else None
    if not (isinstance(cls, type) and issubclass(cls, nn.Module) and cls.__module__.startswith("torch.nn.modules.")):
        cls = type(name, (OpaqueModule,), {"__module__": "student"})
    module: nn.Module = nn.Module.__new__(cls)
    nn.Module.__init__(module)
    tensors = {}
    for kind in ("params", "buffers"):
        entries = node.get(kind) or {}
        if not isinstance(entries, dict) or len(entries) > MAX_ENTRIES:
            raise WireError("a malformed network description")
        for key, value in entries.items():
            tensors[key] = (kind, None if value is None else decoder.tensor(value))
    children = node.get("children") or []
    if not isinstance(children, list):
        raise WireError("a malformed network description")
    if len(children) > MAX_NODES:
        raise WireError(f"a network of more than {MAX_NODES} layers")
    taken = set(tensors)
    for entry in children:
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
            raise WireError("a malformed network description")
        taken.add(entry[0])
    attrs = decoder.decode(node.get("attrs") or {})
    if not isinstance(attrs, dict) or len(attrs) > MAX_ENTRIES:
        raise WireError("a malformed network description")
    internals = set(vars(module))  # what nn.Module keeps for itself (_parameters, hooks...)
    for key, value in attrs.items():
        if isinstance(key, str) and key not in taken and key not in internals and _plain_setting(key, value):
            object.__setattr__(module, key, value)
    for key, (kind, tensor) in tensors.items():
        if kind == "params":
            module.register_parameter(key, None if tensor is None else nn.Parameter(tensor, requires_grad=tensor.is_floating_point()))
        else:
            module.register_buffer(key, tensor)
    for key, child in children:
        module.add_module(key, rebuild(child, decoder, depth + 1, count))
    module.training = bool(node.get("training", True))
    return module


def _plain_setting(key: str, value: Any) -> bool:
    """A constructor setting worth carrying: a plain value (or a tuple or list of them)
    under an ordinary attribute name."""
    if not IDENTIFIER.match(key) or key.startswith("__") or key == "training":
        return False
    if isinstance(value, (tuple, list)):
        return len(value) <= 16 and all(isinstance(v, PLAIN) for v in value)
    return isinstance(value, PLAIN)
