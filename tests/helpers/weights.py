"""Weights files as torch writes them, here and on a machine with a GPU."""

from __future__ import annotations

import io

import torch
import torch.serialization


def saved(obj, **kwargs) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer, **kwargs)
    return buffer.getvalue()


def saved_on_a_gpu(obj) -> bytes:
    """What torch.save writes on a machine with a GPU: every storage tagged cuda:0."""
    tag = torch.serialization.location_tag
    torch.serialization.location_tag = lambda storage: "cuda:0"
    try:
        return saved(obj)
    finally:
        torch.serialization.location_tag = tag
