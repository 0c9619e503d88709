"""In the graded kernel only: code written for a GPU runs on the grader's CPU.

Students on Colab write ``.to("cuda")``, ``.cuda()``, ``device="cuda"``, ``torch.device("cuda")``
or ``torch.load(..., map_location="cuda")``; the grader has no GPU, so each of those would raise
"Found no NVIDIA driver" and take every later answer with it. :func:`install` runs in the
student's own kernel before the first cell (the kernel is the student's environment: nothing
here is trusted or decides anything) and serves every CUDA request with the CPU:

- a torch function mode rewrites a CUDA device (``"cuda"``, ``"cuda:0"``, ``torch.device("cuda")``,
  a bare device index) to the CPU wherever torch receives one: ``Tensor.to``, ``Tensor.cuda``,
  ``Module.to``/``Module.cuda`` (which call them), and ``device=`` of every factory function;
- ``torch.load`` maps CUDA storages to the CPU; ``torch.cuda.synchronize`` waits for nothing.

``torch.cuda.is_available()`` stays False, so ``"cuda" if torch.cuda.is_available() else "cpu"``
takes its CPU branch as written. The first request served touches a flag file, from which the
runner adds a note to the row (:mod:`.notebook_run`).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

CPU = torch.device("cpu")


class CudaOnCpu(TorchFunctionMode):
    """Rewrites CUDA devices in torch calls to the CPU; touches ``flag`` the first time."""

    def __init__(self, flag: Path) -> None:
        super().__init__()
        self.flag = flag
        self.served = False

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func in (torch.Tensor.cuda, torch.Tensor.pin_memory):  # already on the CPU: the tensor itself
            self._note()
            return args[0]
        if "device" in kwargs and _is_cuda(kwargs["device"]):
            kwargs["device"] = CPU
            self._note()
        if func is torch.Tensor.to and len(args) > 1 and _is_cuda(args[1], index_is_device=True):
            args = (args[0], CPU, *args[2:])
            self._note()
        return func(*args, **kwargs)

    def _note(self) -> None:
        if not self.served:
            self.served = True
            try:
                self.flag.touch()
            except OSError:  # only a note is lost
                pass


def _is_cuda(device: Any, index_is_device: bool = False) -> bool:
    """Whether ``device`` names a CUDA device (an int is one only where torch reads it as a
    device index, as in ``tensor.to(0)``)."""
    if isinstance(device, torch.device):
        return device.type == "cuda"
    if isinstance(device, str):
        return device.split(":")[0].strip() == "cuda"
    return index_is_device and isinstance(device, int) and not isinstance(device, bool)


def install(flag: str) -> None:
    """Serve CUDA requests with the CPU from now on, in this (the kernel's) thread."""
    if torch.cuda.is_available():  # a grader with a GPU runs the notebook as written
        return
    mode = CudaOnCpu(Path(flag))
    mode.__enter__()  # left on for the kernel's life: every later cell runs under it
    load = torch.load

    @functools.wraps(load)
    def load_on_cpu(*args, **kwargs):
        where = kwargs.get("map_location")
        if where is None or _is_cuda(where) or isinstance(where, dict):
            kwargs["map_location"] = CPU
            if where is not None:
                mode._note()
        return load(*args, **kwargs)

    torch.load = load_on_cpu
    torch.cuda.synchronize = lambda *args, **kwargs: None
