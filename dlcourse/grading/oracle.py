"""The student's kernel as an oracle: it answers the judge's questions, and decides nothing.

Once every cell of a submitted notebook has run, the notebook runner executes one more cell,
``serve(...)``, which reads the judge's requests from a pipe and writes each answer to another,
until the runner closes the first:

    {"op": "get", "name": "model"}                    the notebook's value of a name
    {"op": "call", "ref": 3, "args": [...], "kwargs": {...}}   call a function it defined
    {"op": "forward", "ref": 3, "x": <tensor>, "training": false}   run a network on x
    {"op": "trace", "ref": 3, "shape": [1, 28, 28], "batch": 2}     which layers a forward pass calls
    {"op": "load", "ref": 3, "state": {...}}          load a state_dict into a network

Values go back as data (:mod:`.wire`): numbers, strings, tensors, and descriptions of
networks, datasets and optimizers; a function is sent as a reference the judge may call.

A call may pass networks the judge made (rebuilt here from their description) and an
optimizer over their parameters (rebuilt here as the same ``torch.optim`` class with the same
settings). As in a call within one process, the function may change them: the answer carries
each such network again after the call (its tensors and modes), and, for each, how its
forward passes ran (with gradients recorded or not, in training mode or not), so that a test
sees what a training or evaluation loop did to the network it was given.
Whatever this module answers is the student's answer, never a verdict: student code may
replace any of it and gain nothing but a different answer.
"""

from __future__ import annotations

import contextlib
import numbers
import os
import signal
from typing import Any

import torch
from torch import nn

from . import module_codec
from .trim import release_freed_memory
from .wire import Decoder, Encoder, WireError, read_message, write_message

MISSING = {"$": "missing"}
_objects: dict[int, Any] = {}     # reference -> object, kept alive for the judge's later calls
_references: dict[int, int] = {}  # id(object) -> reference


def serve(namespace: dict, requests_path: str, answers_path: str) -> None:
    """Answer each request read from the pipe at ``requests_path`` (``{"seq": n, "request": ...}``)
    into the pipe at ``answers_path`` (``{"seq": n, "answer": ...}``), until the runner closes
    its end. One cell serves every request: a cell per request cost each of them several ms of
    CPU in the kernel and in the runner (IPython's and nbclient's machinery), about 60 times
    per submission.

    A request whose time runs out is interrupted by the runner (SIGINT): it is answered
    ``{"interrupted": true}`` and serving goes on. An interrupt that lands between requests
    (the answer crossed it) is ignored. What student code prints meanwhile goes nowhere."""
    answering = False

    def on_interrupt(signum, frame) -> None:
        if answering:
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        with open(requests_path, "rb", buffering=0) as requests, open(answers_path, "wb") as answers, \
                open(os.devnull, "w") as nowhere, contextlib.redirect_stdout(nowhere), contextlib.redirect_stderr(nowhere):
            while True:
                try:
                    message, blobs = read_message(requests)
                except EOFError:
                    return
                body: dict[str, Any] = {"interrupted": True}
                answer_blobs: list[bytes] = []
                try:
                    answering = True
                    body, answer_blobs = respond(namespace, message.get("request"), blobs)
                except KeyboardInterrupt:
                    pass
                finally:
                    answering = False
                write_message(answers, {"seq": message.get("seq"), "answer": body}, answer_blobs)
                release_freed_memory()  # what answering took, while the judge holds its own (trim.py)
    finally:
        signal.signal(signal.SIGINT, previous)


def respond(namespace: dict, request: Any, blobs: list[bytes]) -> tuple[dict, list[bytes]]:
    """The answer to one request, and its blobs: the value, or the error the student's code raised."""
    encoder = _KernelEncoder()
    try:
        if not isinstance(request, dict):
            raise WireError("a request that is not a mapping")
        value = _dispatch(namespace, request, blobs, encoder)
        if isinstance(value, _Called):
            body = {"value": encoder.encode(value.value),
                    "arguments": [module_codec.describe(m, encoder) for m in value.networks],
                    "forwards": value.forwards}
        else:
            body = {"value": encoder.encode(value)}
    except (Exception, SystemExit) as error:  # the student's code failed (or called exit()): that is an answer too
        encoder.blobs.clear()
        body = {"error": type(error).__name__, "message": _first_lines(error),
                "builtin": type(error).__module__ == "builtins"}
    return body, encoder.blobs


def _dispatch(namespace: dict, request: dict, blobs: list[bytes], encoder: _KernelEncoder) -> Any:
    op = request.get("op")
    if op == "get":
        name = request.get("name")
        return namespace[name] if name in namespace else _Missing()
    rebuilt: list[nn.Module] = []  # networks the judge described, in the order they arrive
    decoder = Decoder(blobs, lambda body, d: _decode_from_judge(body, d, rebuilt))
    ref = request.get("ref")
    target = _objects.get(ref) if isinstance(ref, int) else None
    if target is None:
        raise WireError("the judge asked about an object this kernel does not hold")
    if op == "call":
        args = decoder.decode(request.get("args", []))
        kwargs = decoder.decode(request.get("kwargs", {}))
        encoder.argument_modules = [a for a in args if isinstance(a, nn.Module)]
        args = [_optimizer(a, encoder.argument_modules) if isinstance(a, _OptimizerRequest) else a for a in args]
        kwargs = {k: _optimizer(v, encoder.argument_modules) if isinstance(v, _OptimizerRequest) else v
                  for k, v in kwargs.items()}
        networks = [a for a in args if isinstance(a, nn.Module) and any(a is r for r in rebuilt)]
        forwards: list[list[list[bool]]] = [[] for _ in networks]
        hooks = [m.register_forward_pre_hook(
            lambda module, inputs, seen=seen: seen.append([torch.is_grad_enabled(), module.training]))
            for m, seen in zip(networks, forwards)]
        try:
            value = target(*args, **kwargs)
        finally:
            for hook in hooks:
                hook.remove()
        return _Called(value, networks, forwards) if networks else value
    if op == "forward":
        x = decoder.decode(request.get("x"))
        was_training = target.training
        target.train(bool(request.get("training")))
        try:
            with torch.no_grad():
                return target(x)
        finally:
            target.train(was_training)
    if op == "load":  # the judge loaded weights into its copy: the network itself follows
        target.load_state_dict(decoder.decode(request.get("state")))
        return None
    if op == "trace":
        return _trace(target, tuple(request.get("shape", ())), int(request.get("batch", 2)))
    raise WireError(f"unknown request {op!r}")


def _trace(model: nn.Module, shape: tuple[int, ...], batch: int) -> dict:
    from ..checks.architecture import trace

    paths = {id(m): name for name, m in model.named_modules()}
    got = trace(model, shape, batch_size=batch)
    return {"calls": [[paths.get(id(c.module)), c.kind, c.in_shape, c.out_shape] for c in got.calls],
            "output_shape": got.output_shape,
            "error": None if got.error is None else [type(got.error).__name__, _first_lines(got.error),
                                                     type(got.error).__module__ == "builtins"]}


class _Missing:
    pass


class _Called:
    """A call's result, with the judge's networks it was given, and how their forward passes ran."""

    def __init__(self, value: Any, networks: list[nn.Module], forwards: list[list[list[bool]]]) -> None:
        self.value, self.networks, self.forwards = value, networks, forwards


class _OptimizerRequest:
    """An optimizer the judge described, built once the networks it optimizes are rebuilt."""

    def __init__(self, body: dict, decoder: Decoder) -> None:
        self.name = str(body.get("class", ""))
        self.defaults = decoder.decode(body.get("defaults") or {})
        self.groups = [(decoder.decode(g.get("settings") or {}), g.get("params") or [])
                       for g in body.get("groups") or []]


def _optimizer(request: _OptimizerRequest, networks: list[nn.Module]) -> torch.optim.Optimizer:
    """The ``torch.optim`` optimizer the judge described, over the parameters of the networks
    passed in the same call (each named by the network's position and the parameter's name).
    An SGD is the loop checks' own (checks/probe_sgd.py), as the judge's was."""
    import inspect

    from ..checks.probe_sgd import sgd

    cls = getattr(torch.optim, request.name, None) if module_codec.IDENTIFIER.match(request.name) else None
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        raise WireError(f"an optimizer of unknown kind {request.name!r}")
    groups = []
    for settings, params in request.groups:
        found = []
        for ref in params:
            at = ref.get("at") if isinstance(ref, dict) else None
            if not (isinstance(at, list) and len(at) == 2 and isinstance(at[0], int) and 0 <= at[0] < len(networks)):
                raise WireError("an optimizer over parameters of no network passed with it")
            named = dict(networks[at[0]].named_parameters())
            if at[1] not in named:
                raise WireError("an optimizer over parameters of no network passed with it")
            found.append(named[at[1]])
        groups.append({**settings, "params": found})
    accepted = inspect.signature(cls.__init__).parameters
    build = sgd if cls is torch.optim.SGD else cls
    return build(groups, **{k: v for k, v in request.defaults.items() if k in accepted})


class _KernelEncoder(Encoder):
    def __init__(self) -> None:
        super().__init__(other=_encode_kernel_value)  # type: ignore[arg-type]  # called with this encoder only
        self.argument_modules: list[nn.Module] = []


def _encode_kernel_value(value: Any, encoder: _KernelEncoder) -> Any:
    from ..data import ImageDataset

    if isinstance(value, _Missing):
        return MISSING
    if isinstance(value, (numbers.Integral, numbers.Real)) and type(value).__module__ == "numpy":
        return int(value) if isinstance(value, numbers.Integral) else float(value)
    if type(value).__module__ == "numpy" and type(value).__name__ == "ndarray":
        return encoder.tensor(torch.from_numpy(value.copy()), tag="ndarray")
    if isinstance(value, nn.Module):
        from ..checks.weights import unwrapped

        value = unwrapped(value)  # torch.compile's or DataParallel's wrapper: the network inside
        return {"$": "module", "ref": _reference(value), "tree": module_codec.describe(value, encoder)}
    if isinstance(value, torch.optim.Optimizer):
        return _describe_optimizer(value, encoder)
    if isinstance(value, ImageDataset):
        return {"$": "dataset", "source": encoder.encode(value.source), "ref": _reference(value),
                "indices": None if value.indices is None else encoder.tensor(value.indices),
                "transform": encoder.encode(value.transform)}
    if callable(value):
        return {"$": "callable", "ref": _reference(value), "name": getattr(value, "__name__", type(value).__name__)}
    return {"$": "object", "type": type(value).__name__, "repr": _short_repr(value)}


def _describe_optimizer(optimizer: torch.optim.Optimizer, encoder: _KernelEncoder) -> dict:
    """An optimizer's class, settings and parameter groups; each parameter named by where it
    sits in a network the judge passed in (else sent as a tensor)."""
    where = {id(p): [i, name] for i, m in enumerate(encoder.argument_modules) for name, p in m.named_parameters()}
    groups = []
    for group in optimizer.param_groups:
        settings = {k: v for k, v in group.items() if k != "params" and module_codec._plain_setting(k, v)}
        params = [{"$": "param", "at": where[id(p)]} if id(p) in where else encoder.tensor(p) for p in group["params"]]
        groups.append({"settings": encoder.encode(settings), "params": params})
    return {"$": "optimizer", "class": type(optimizer).__name__, "groups": groups,
            "defaults": encoder.encode({k: v for k, v in optimizer.defaults.items()
                                        if module_codec._plain_setting(k, v)})}


def _decode_from_judge(body: dict, decoder: Decoder, rebuilt: list[nn.Module]) -> Any:
    tag = body.get("$")
    if tag == "ref":
        if body.get("ref") not in _objects:
            raise WireError("the judge referred to an object this kernel does not hold")
        return _objects[body["ref"]]
    if tag == "module":
        rebuilt.append(module_codec.rebuild(body.get("tree"), decoder))
        return rebuilt[-1]
    if tag == "optimizer":
        return _OptimizerRequest(body, decoder)
    raise WireError(f"unknown value kind {tag!r}")


def _reference(value: Any) -> int:
    key = id(value)
    if key not in _references:
        _references[key] = len(_objects) + 1
        _objects[_references[key]] = value
    return _references[key]


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text[:200]


def _first_lines(error: BaseException) -> str:
    return str(error).strip()[:2000]
