"""A lesson's network written as data: layer kinds and the sizes the lesson text states.

    input: [1, 28, 28]
    layers: [Flatten, {Linear: 512}, ReLU, {Linear: 256}, ReLU, {Linear: 10}]

A bare number after a layer kind stands for its main size (``SHORTHAND``); other arguments
are spelled out, e.g. ``{Conv2d: {out_channels: 32, kernel_size: 3}}``. Input sizes follow
from the previous layer, so ``build()`` can make the network without being told them.
Parsing needs no torch; only ``build()`` imports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The constructor argument a bare number stands for, e.g. {Linear: 512} or {Dropout: 0.3}.
SHORTHAND = {"Linear": "out_features", "Conv2d": "out_channels", "MaxPool2d": "kernel_size",
             "AvgPool2d": "kernel_size", "Dropout": "p", "Dropout2d": "p",
             "AdaptiveAvgPool2d": "output_size", "AdaptiveMaxPool2d": "output_size", "LeakyReLU": "negative_slope"}
# The constructor argument that the previous layer's output decides.
INFERRED_INPUT = {"Linear": ("in_features", lambda shape: shape[-1]),
                  "Conv2d": ("in_channels", lambda shape: shape[1]),
                  "BatchNorm2d": ("num_features", lambda shape: shape[1]),
                  "BatchNorm1d": ("num_features", lambda shape: shape[1])}


@dataclass(frozen=True)
class LayerSpec:
    kind: str
    args: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, entry: str | dict) -> LayerSpec:
        if isinstance(entry, str):
            return cls(entry)
        if not (isinstance(entry, dict) and len(entry) == 1):
            raise ValueError(f"a layer is a name or a one-key mapping, not {entry!r}")
        (kind, args), = entry.items()
        if isinstance(args, dict):
            return cls(kind, dict(args))
        if kind not in SHORTHAND:
            raise ValueError(f"{kind} needs its arguments spelled out as a mapping")
        return cls(kind, {SHORTHAND[kind]: args})


@dataclass(frozen=True)
class ArchSpec:
    input_shape: tuple[int, ...]
    layers: tuple[LayerSpec, ...]

    @classmethod
    def from_config(cls, config: dict) -> ArchSpec:
        return cls(tuple(config["input"]), tuple(LayerSpec.parse(e) for e in config["layers"]))

    def build(self):
        """The lesson's network as a freshly initialised ``torch.nn.Sequential``."""
        import torch
        from torch import nn

        modules, x = [], torch.zeros(2, *self.input_shape)
        for layer in self.layers:
            args = dict(layer.args)
            if layer.kind in INFERRED_INPUT:
                name, from_shape = INFERRED_INPUT[layer.kind]
                args[name] = from_shape(x.shape)
            module = getattr(nn, layer.kind)(**args)
            module.eval()
            with torch.no_grad():
                x = module(x)
            modules.append(module)
        return nn.Sequential(*modules)
