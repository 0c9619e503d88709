"""Where a network computes: the fastest device this machine has, and the device a network is on.

Lessons move their network to :func:`best_device` before training; every helper and check then
follows the network (:func:`device_of`): batches are built on the CPU and moved to it, and
results come back to the CPU. Weights saved from a GPU load anywhere with
``torch.load(..., map_location="cpu")``; ``load_state_dict`` then copies them onto the network's device.
"""

from __future__ import annotations

import torch
from torch import nn


def best_device() -> torch.device:
    """A CUDA GPU if there is one (Colab's GPU runtimes), else Apple's GPU (MPS), else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def device_of(model: nn.Module) -> torch.device:
    """The device of ``model``'s first parameter (or buffer); the CPU for a network without any."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")
