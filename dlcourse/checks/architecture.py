"""Compare a student's network with a lesson's stated architecture, in the student's terms.

A lesson states its network once (``architecture`` in lesson.yaml)::

    input: [1, 28, 28]
    layers: [Flatten, {Linear: 512}, ReLU, {Linear: 256}, ReLU, {Linear: 10}]

What is judged is the computation, not how the Python is written: the check takes the
student's layers in the order ``forward`` uses them, loads their tensors into the lesson's
network, and compares the two networks' outputs on random images. A class that flattens
with ``x.view`` or applies ``F.relu`` in ``forward`` computes the lesson's network and
passes. Only when the computations differ does the check compare the layer calls one by one
to explain how, e.g. "layer 4 (Linear) should map 512 features to 256; yours maps 512 to
128". Messages speak only of what the lesson text states (layer kinds and sizes), never of
hidden expected values such as parameter counts.

Outputs are compared in a state where order matters. A freshly built BatchNorm in eval mode
is the identity, so Conv -> ReLU -> BatchNorm would compute the same as Conv -> BatchNorm ->
ReLU: both networks get the same random, non-trivial statistics and scales first
(``_distinct_batchnorm``), and the student's own are put back afterwards. Dropout is the
identity in eval mode too, so its place is compared as a place: what it receives (the number
of layers with tensors before it, and the shape), which is the same wherever dropout would
compute the same (it commutes with ReLU) and differs before or after a pooling or a layer.

Why one module of ~450 lines: the comparison and the messages that explain it walk the same
traces (:class:`LayerCall`, :class:`Trace`); about half of it is those messages, one small
function per kind of mistake.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import torch
from torch import nn

from ..device import device_of
from ..spec import ArchSpec
from .weights import unwrapped

TRAINING_ONLY = {"Dropout", "Dropout2d"}  # identity in eval mode: checked by their settings
ACTIVATIONS = {"ReLU", "ELU", "LeakyReLU", "GELU", "Sigmoid", "Tanh", "SiLU"}
# Attributes worth naming when two layers of the same kind differ in a way shapes don't show.
SETTINGS = {"Conv2d": ("kernel_size", "stride", "padding"), "MaxPool2d": ("kernel_size", "stride"),
            "AvgPool2d": ("kernel_size", "stride"), "Dropout": ("p",), "Dropout2d": ("p",)}


class ArchitectureMismatch(AssertionError):
    """The student's network differs from the lesson's; the message says where and how."""


@dataclass
class LayerCall:
    """One call of a leaf module during a forward pass."""

    module: nn.Module
    in_shape: tuple[int, ...] | None = None
    out_shape: tuple[int, ...] | None = None

    @property
    def kind(self) -> str:
        return type(self.module).__name__

    def describe(self) -> str:
        return describe(self.module)


@dataclass
class Trace:
    calls: list[LayerCall]
    output_shape: tuple[int, ...] | None = None
    error: Exception | None = None  # raised by the last call, if the forward pass failed


def trace(model: nn.Module, input_shape: tuple[int, ...], batch_size: int = 2) -> Trace:
    """Run ``model`` on zeros and record each leaf-module call in order, in eval mode.

    A network that runs elsewhere (the grader's stand-in for a student's own class) is
    traced where it runs.
    """
    remote = getattr(model, "trace_remotely", None)
    if callable(remote):
        return remote(input_shape, batch_size)
    calls: list[LayerCall] = []

    def before(module, args):
        first = args[0] if args else None
        calls.append(LayerCall(module, tuple(first.shape) if torch.is_tensor(first) else None))

    def after(module, args, output):
        if torch.is_tensor(output):
            calls[-1].out_shape = tuple(output.shape)

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [h for m in leaves for h in (m.register_forward_pre_hook(before),
                                             m.register_forward_hook(after))]
    was_training = model.training
    model.eval()
    result = Trace(calls)
    try:
        with torch.no_grad():
            output = model(torch.zeros(batch_size, *input_shape, device=device_of(model)))
        result.output_shape = tuple(output.shape) if torch.is_tensor(output) else None
    except Exception as exc:  # a student's network may fail in any way; report, don't crash
        result.error = exc
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return result


def _holds_tensors(module: nn.Module) -> bool:
    return bool(list(module.parameters(recurse=False)) or list(module.buffers(recurse=False)))


def used_layers(model: nn.Module, got: Trace) -> list[nn.Module]:
    """The layers holding tensors, in the order the traced forward pass first called them."""
    seen, layers = set(), []
    for call in got.calls:
        module = call.module
        if id(module) not in seen and _holds_tensors(module):
            seen.add(id(module))
            layers.append(module)
    return layers


def parameter_order(model: nn.Module, spec: ArchSpec) -> list[str] | None:
    """``model``'s state_dict names in the order its forward pass uses their layers (None if
    it cannot run): how a state_dict saved from it lines up with the lesson's network."""
    model = unwrapped(model)  # torch.compile, DataParallel: judge the network inside
    got = trace(model, spec.input_shape)
    if got.error is not None:
        return None
    names = {id(m): name for name, m in model.named_modules()}
    order = []
    for layer in used_layers(model, got):
        prefix = names.get(id(layer), "")
        order += [f"{prefix}.{key}" if prefix else key for key in layer.state_dict()]
    return order


def in_use_order(state: dict, order: list[str] | None) -> dict:
    """``state`` with the tensors ``order`` names first, in that order (see parameter_order);
    as it is when ``order`` is unknown or names tensors it lacks."""
    if not order or not set(order) <= set(state):
        return state
    return {**{name: state[name] for name in order}, **state}


def computes_the_lesson_network(model: nn.Module, spec: ArchSpec, got: Trace | None = None) -> bool:
    """Whether ``model`` computes the lesson's network: its layers, taken in the order its
    forward pass uses them, loaded into the lesson's network give the same outputs on random
    images (in eval mode)."""
    got = got or trace(model, spec.input_shape)
    if got.error is not None:
        return False
    reference = spec.build()
    theirs = used_layers(model, got)
    ours = [m for m in reference.modules() if not list(m.children()) and _holds_tensors(m)]
    if len(theirs) != len(ours) or any(type(a).__name__ != type(b).__name__ for a, b in zip(theirs, ours)):
        return False
    try:
        for mine, lesson_layer in zip(theirs, ours):
            lesson_layer.load_state_dict(mine.state_dict())
    except (RuntimeError, KeyError):
        return False
    images = torch.randn(4, *spec.input_shape, generator=torch.Generator().manual_seed(0))  # both signs: an activation moved past a BatchNorm shows
    was_training = model.training
    model.eval()
    reference.eval()
    try:
        with _distinct_batchnorm(model, theirs, ours):
            with torch.no_grad():
                output, expected = model(images.to(device_of(model))), reference(images)
                output = output.cpu() if torch.is_tensor(output) else output
    except Exception:  # a student's network may fail in any way
        return False
    finally:
        model.train(was_training)
    return (torch.is_tensor(output) and output.shape == expected.shape
            and torch.allclose(output.float(), expected, rtol=1e-4, atol=1e-5))


BATCHNORM_TENSORS = ("weight", "bias", "running_mean", "running_var")


@contextmanager
def _distinct_batchnorm(model: nn.Module, theirs: list[nn.Module], ours: list[nn.Module]) -> Iterator[None]:
    """Give each pair of matched BatchNorm layers the same random scales, shifts and running
    statistics, so that where a BatchNorm sits changes the output; put ``model``'s own back.

    Loaded through ``model.load_state_dict``, so a network that runs elsewhere (the grader's
    stand-in for a student's class) gets them where it runs.
    """
    names = {id(m): name for name, m in model.named_modules()}
    pairs = [(names.get(id(mine)), lesson_layer) for mine, lesson_layer in zip(theirs, ours)
             if isinstance(lesson_layer, nn.modules.batchnorm._BatchNorm)]
    if not pairs:
        yield
        return
    own = {key: value.detach().clone() for key, value in model.state_dict().items()}
    changed = dict(own)
    generator = torch.Generator().manual_seed(1)
    for prefix, lesson_layer in pairs:
        if prefix is None:
            raise RuntimeError("a BatchNorm layer outside the network")  # read as: not the lesson's network
        features = lesson_layer.num_features
        values = {"weight": 0.5 + torch.rand(features, generator=generator),
                  "bias": torch.randn(features, generator=generator),
                  "running_mean": torch.randn(features, generator=generator),
                  "running_var": 0.5 + torch.rand(features, generator=generator)}
        for key in BATCHNORM_TENSORS:
            name = f"{prefix}.{key}" if prefix else key
            if name in changed:
                changed[name] = values[key].to(own[name].device, own[name].dtype)
            getattr(lesson_layer, key).data.copy_(values[key])
    model.load_state_dict(changed)
    try:
        yield
    finally:
        model.load_state_dict(own)


def architecture_problem(model: Any, spec: ArchSpec) -> str | None:
    """The first way ``model`` differs from ``spec``, as a sentence; None if it computes the
    lesson's network (see the module docstring)."""
    model = unwrapped(model)  # torch.compile, DataParallel: judge the network inside
    if not isinstance(model, nn.Module):
        return _not_a_module(model)
    got = trace(model, spec.input_shape)
    expected = trace(spec.build(), spec.input_shape).calls
    if computes_the_lesson_network(model, spec, got):
        # Only what eval mode ignores can differ; naming layers one by one would mislead a
        # forward written with functions.
        return _dropout_problem(got.calls, expected)
    if got.error is None and got.calls and all(_holds_tensors(c.module) for c in got.calls) \
            and parameter_layers_problem(model, spec) is None:
        # Flattening and activations written as functions in forward: layer-by-layer
        # comparison would name missing layers the student did write, so say what differs.
        steps = ", ".join(c.describe() for c in expected)
        return (f"your layers with parameters match the lesson's, but your network computes something else "
                f"from them. The lesson's network is: {steps}. Check the steps forward takes between them "
                f"(flattening, activations, pooling).")
    # Layers that ran to completion are compared first: a wrong early layer is the real
    # cause of a later layer's failure, and the student should hear about it first.
    completed = got.calls[:-1] if got.error is not None else got.calls
    for number, (want, have) in enumerate(zip(expected, completed), start=1):
        problem = _layer_problem(number, want, have, expected)
        if problem:
            return problem
    if got.error is not None:
        return _forward_failure(got, spec.input_shape)
    if len(got.calls) > len(expected):
        extra = got.calls[len(expected)]
        hint = (" nn.CrossEntropyLoss expects raw scores, so leave the softmax out."
                if extra.kind in {"Softmax", "LogSoftmax"} else "")
        return f"your network has an extra layer {len(expected) + 1} ({extra.describe()}) after the last one the lesson asks for.{hint}"
    if len(got.calls) < len(expected):
        missing = expected[len(got.calls)]
        return f"your network stops after layer {len(got.calls)}; layer {len(got.calls) + 1} should be {missing.describe()}."
    return ("your network's layers match the lesson's, but it computes something else from them: check the "
            "order of the steps in forward (flattening, activations, pooling).")


@dataclass(frozen=True)
class DropoutPlace:
    """Where a dropout acts, in terms that do not depend on how forward is written."""

    kind: str
    p: float
    after: int                      # layers with tensors called before it
    shape: tuple[int, ...] | None   # what it receives, without the batch dimension


def _dropout_places(calls: list[LayerCall]) -> list[DropoutPlace]:
    """Each training-only layer's rate and place, in call order (identity in eval mode, so the
    outputs compared cannot show them)."""
    places: list[DropoutPlace] = []
    seen: set[int] = set()
    for call in calls:
        if call.kind in TRAINING_ONLY:
            places.append(DropoutPlace(call.kind, float(getattr(call.module, "p")), len(seen),
                                       call.in_shape and call.in_shape[1:]))
        elif _holds_tensors(call.module):
            seen.add(id(call.module))
    return places


def _dropout_problem(calls: list[LayerCall], expected: list[LayerCall]) -> str | None:
    """The first dropout whose rate or place differs from the lesson's, as a sentence naming it."""
    have, want = _dropout_places(calls), _dropout_places(expected)
    numbers = [n for n, c in enumerate(calls, start=1) if c.kind in TRAINING_ONLY]
    wanted_numbers = [n for n, c in enumerate(expected, start=1) if c.kind in TRAINING_ONLY]
    for k, (mine, lesson, number, wanted) in enumerate(zip(have, want, numbers, wanted_numbers), start=1):
        if mine.p != lesson.p:
            return f"layer {number} ({mine.kind}) should use p={lesson.p}; yours uses p={mine.p}."
        if mine != lesson:
            before = expected[wanted - 2].describe() if wanted > 1 else "the input"
            return (f"layer {number} ({mine.kind}) is in the wrong place: it receives {_per_image(mine.shape)}; "
                    f"the lesson's dropout {k} receives {_per_image(lesson.shape)}, right after layer "
                    f"{wanted - 1} ({before}).")
    if len(have) != len(want):
        return f"your network has {len(have)} dropout layers; the lesson's has {len(want)}."
    return None


def check_architecture(model: Any, spec: ArchSpec) -> None:
    """Raise :class:`ArchitectureMismatch` naming the first difference from ``spec``."""
    _raise_if(architecture_problem(model, spec))


def parameter_layers_problem(model: Any, spec: ArchSpec) -> str | None:
    """Compare only the layers that hold parameters, in order, without running ``model``.

    A network that cannot run (say, it never flattens its input) still gets its layer sizes
    checked, so one early mistake does not hide everything else that is right.
    """
    model = unwrapped(model)
    if not isinstance(model, nn.Module):
        return _not_a_module(model)
    expected, got = _parameter_layers(spec.build()), _parameter_layers(model, spec)
    for number, (want, have) in enumerate(zip(expected, got), start=1):
        where = f"the {_ordinal(number)} layer with parameters"
        if type(want) is type(have) and getattr(want, "bias", None) is not None and getattr(have, "bias", None) is None:
            return f"{where} ({describe(have)}) has no bias, unlike the lesson's network."
        if type(want) is not type(have) or _sizes(want) != _sizes(have):
            return f"{where} should be {describe(want)}; yours is {describe(have)}."
    if len(got) != len(expected):
        return f"your network has {len(got)} layers with parameters; the lesson's has {len(expected)}."
    return None


def check_parameter_layers(model: Any, spec: ArchSpec) -> None:
    """Raise :class:`ArchitectureMismatch` unless the parameter-holding layers match ``spec``."""
    _raise_if(parameter_layers_problem(model, spec))


def _parameter_layers(model: nn.Module, spec: ArchSpec | None = None) -> list[nn.Module]:
    """Layers holding parameters: in the order forward uses them when it runs, else as declared."""
    got = trace(model, spec.input_shape) if spec is not None else None
    layers = used_layers(model, got) if got is not None and got.error is None else list(model.modules())
    return [m for m in layers if not list(m.children()) and list(m.parameters(recurse=False))]


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _sizes(module: nn.Module) -> tuple:
    return tuple(tuple(p.shape) for p in module.parameters(recurse=False))


def describe(module: nn.Module) -> str:
    """A layer as the lesson text names it: "Linear 784->512", "Conv2d 1->32 with 3x3 kernels"."""
    if isinstance(module, nn.Linear):
        return f"Linear {module.in_features}->{module.out_features}"
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return f"Conv2d {module.in_channels}->{module.out_channels} with {kh}x{kw} kernels"
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return f"{type(module).__name__} of {module.num_features} features"
    return type(module).__name__


def output_problem(model: Any, input_shape: tuple[int, ...], classes: int) -> str | None:
    """Whether ``model`` turns a batch of images into one score per class, as a sentence."""
    model = unwrapped(model)  # torch.compile, DataParallel: judge the network inside
    if not isinstance(model, nn.Module):
        return _not_a_module(model)
    got = trace(model, input_shape, batch_size=3)
    if got.error is not None:
        return _forward_failure(got, input_shape)
    shape = got.output_shape
    if shape != (3, classes):
        return (f"for a batch of 3 images your network outputs shape {shape}; it should output "
                f"(3, {classes}): one score per class for each image.")
    return None


def check_output_shape(model: Any, input_shape: tuple[int, ...], classes: int) -> None:
    """Raise :class:`ArchitectureMismatch` unless ``model`` maps images to ``classes`` scores."""
    _raise_if(output_problem(model, input_shape, classes))


def _raise_if(problem: str | None) -> None:
    if problem:
        raise ArchitectureMismatch(problem)


def _not_a_module(model: Any) -> str:
    return f"`model` should be a torch.nn.Module, not {type(model).__name__}; run the cell that builds it."


def _forward_failure(got: Trace, input_shape: tuple[int, ...]) -> str:
    batch = f"a batch of shape {_no_batch((1, *input_shape))}"
    if not got.calls:
        return f"your network fails on {batch}: {_first_line(got.error)}"
    number, call = len(got.calls), got.calls[-1]
    shape = call.in_shape
    if isinstance(call.module, nn.Linear) and shape is not None:
        if len(shape) > 2:
            return (f"layer {number} (Linear) received images of shape {_no_batch(shape)}: flatten them to "
                    f"(N, {call.module.in_features}) with nn.Flatten() before the first Linear layer.")
        return (f"layer {number} (Linear) expects {call.module.in_features} input features but receives "
                f"{shape[-1]}: check the sizes of consecutive layers.")
    if isinstance(call.module, nn.Conv2d) and shape is not None and len(shape) == 4:
        return (f"layer {number} (Conv2d) expects {call.module.in_channels} input channels but receives "
                f"{shape[1]}: check the channels of consecutive layers.")
    return f"layer {number} ({call.kind}) fails on input of shape {shape}: {_first_line(got.error)}"


def _layer_problem(number: int, want: LayerCall, have: LayerCall, expected: list[LayerCall]) -> str | None:
    if want.kind != have.kind:
        if want.kind in ACTIVATIONS and have.kind not in ACTIVATIONS:
            after = f" after layer {number - 1} ({expected[number - 2].describe()})" if number > 1 else ""
            return (f"layer {number} should be a {want.kind} activation{after}; yours is "
                    f"{have.describe()}. Is an activation missing?")
        return f"layer {number} should be {want.describe()}; yours is {have.describe()}."
    if want.out_shape != have.out_shape:
        return _shape_problem(number, want, have)
    for name in SETTINGS.get(want.kind, ()):
        wanted, actual = getattr(want.module, name), getattr(have.module, name)
        if wanted != actual:
            return f"layer {number} ({want.kind}) should use {name}={wanted}; yours uses {name}={actual}."
    return None


def _shape_problem(number: int, want: LayerCall, have: LayerCall) -> str:
    if want.kind == "Linear":
        return (f"layer {number} (Linear) should map {want.module.in_features} features to "
                f"{want.module.out_features}; yours maps {have.module.in_features} to {have.module.out_features}.")
    if want.kind == "Conv2d" and want.out_shape and have.out_shape and len(want.out_shape) == len(have.out_shape) == 4:
        (_, c, h, w), (_, c2, h2, w2) = want.out_shape, have.out_shape
        hint = " Check kernel_size and padding." if (h, w) != (h2, w2) else ""
        return f"layer {number} (Conv2d) should output {c} channels of {h}x{w}; yours outputs {c2} of {h2}x{w2}.{hint}"
    return f"layer {number} ({want.kind}) should output shape {_no_batch(want.out_shape)}; yours outputs {_no_batch(have.out_shape)}."


def _no_batch(shape: tuple[int, ...] | None) -> str:
    return "(N, " + ", ".join(map(str, shape[1:])) + ")" if shape else "nothing"


def _per_image(shape: tuple[int, ...] | None) -> str:
    return _no_batch((1, *shape)) if shape is not None else "nothing"


def _first_line(error: BaseException | None) -> str:
    text = str(error).strip().splitlines() if error else []
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
