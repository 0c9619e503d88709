"""The design task's network as data: a student's own ``nn.Sequential``, written in the layer
grammar of lesson.yaml's ``architecture`` (:mod:`dlcourse.spec`), so that the grader can
build it without running a line of the student's code.

The notebook turns its network into a description (:func:`describe`) and saves it beside the
weights (:func:`save_design`). The grader reads that description as hostile data
(:func:`read_description`): its size bounded, its layers from a short list of torch.nn kinds,
every argument's type and range checked, and the shapes, parameters and multiply-adds worked
out by arithmetic (:func:`footprint`) before anything is built, so that a Linear of 10**12
weights is refused as a number, never allocated. Reading a description needs no torch.

The grammar is a sequence of layers: a network with a module of its own, or a residual
connection (a sum of two paths), cannot be written as one and is refused with a message that
names the layer.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .datasets import DATASETS
from .spec import SHORTHAND, ArchSpec, LayerSpec

if TYPE_CHECKING:
    from torch import nn

    from .lesson import Lesson

DESCRIPTION_BYTES = 64 * 1024   # a description of MAX_LAYERS layers is a few kilobytes
MAX_LAYERS = 64
# Safety bounds, far above what the task needs (its own budget is in lesson.yaml): past
# them the network is not built, whatever its weights. The lesson's graded network has
# 1.2 M parameters and needs 53 M multiply-adds per image, its first layer 32,768 values.
MAX_PARAMETERS = 5_000_000
MAX_MULT_ADDS = 150_000_000     # per image: bounds the clean room's time on 10,000 test images
MAX_VALUES = 2**17              # one layer's output per image (128 channels of 32 x 32): bounds memory

# kind -> argument -> (type, lowest, highest). Sizes are whole numbers; a kernel is square.
_SIZE = (int, 1, 4096)
ARGUMENTS: dict[str, dict[str, tuple[type, float, float]]] = {
    "Conv2d": {"out_channels": (int, 1, 1024), "kernel_size": (int, 1, 11), "stride": (int, 1, 4),
               "padding": (int, 0, 5), "bias": (bool, 0, 1)},
    "Linear": {"out_features": _SIZE, "bias": (bool, 0, 1)},
    "BatchNorm2d": {"eps": (float, 1e-12, 1.0)},
    "BatchNorm1d": {"eps": (float, 1e-12, 1.0)},
    "ReLU": {}, "GELU": {}, "SiLU": {}, "Tanh": {}, "LeakyReLU": {"negative_slope": (float, 0.0, 1.0)},
    "MaxPool2d": {"kernel_size": (int, 1, 8), "stride": (int, 1, 8), "padding": (int, 0, 4)},
    "AvgPool2d": {"kernel_size": (int, 1, 8), "stride": (int, 1, 8), "padding": (int, 0, 4)},
    "AdaptiveAvgPool2d": {"output_size": (int, 1, 8)},
    "AdaptiveMaxPool2d": {"output_size": (int, 1, 8)},
    "Dropout": {"p": (float, 0.0, 1.0)}, "Dropout2d": {"p": (float, 0.0, 1.0)},
    "Flatten": {},
}
REQUIRED = {"Conv2d": ("out_channels", "kernel_size"), "Linear": ("out_features",),
            "MaxPool2d": ("kernel_size",), "AvgPool2d": ("kernel_size",),
            "AdaptiveAvgPool2d": ("output_size",), "AdaptiveMaxPool2d": ("output_size",)}
_IMAGES = {"Conv2d", "BatchNorm2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "Dropout2d"}
_FLAT = {"Linear", "BatchNorm1d"}


class DesignProblem(ValueError):
    """A description the grader will not build, or a network the grammar cannot write (one line)."""

    def _render_traceback_(self) -> list[str]:  # IPython shows this line instead of a traceback
        return [f"{type(self).__name__}: {self}"]


@dataclass(frozen=True)
class Footprint:
    """What a described network costs, by arithmetic: per image, without a batch dimension."""

    output: tuple[int, ...]   # the last layer's output shape
    parameters: int           # trainable values (what ``sum(p.numel() for p in model.parameters())`` counts)
    mult_adds: int            # multiply-adds of the convolutions and linear layers for one image
    largest: int              # the most values one layer outputs for one image


def footprint(spec: ArchSpec) -> Footprint:
    """Shapes, parameters and multiply-adds of ``spec`` (validated arguments), layer by layer,
    as torch would make them. Raises DesignProblem naming the first layer that cannot take its
    input, or the bound it breaks."""
    shape, parameters, mult_adds, largest = tuple(spec.input_shape), 0, 0, math.prod(spec.input_shape)
    for number, layer in enumerate(spec.layers, 1):
        name, args = f"layer {number} ({layer.kind})", layer.args
        if layer.kind in _IMAGES and len(shape) != 3:
            raise DesignProblem(f"{name} needs images (channels, height, width), but it receives {_shown(shape)}")
        if layer.kind in _FLAT and len(shape) != 1:
            raise DesignProblem(f"{name} needs one value per feature, but it receives {_shown(shape)}: "
                                f"put nn.Flatten() before it")
        if layer.kind == "Conv2d":
            k, stride, padding = args["kernel_size"], args.get("stride", 1), args.get("padding", 0)
            (c, h, w), out = shape, args["out_channels"]
            shape = (out, _slide(name, h, k, stride, padding), _slide(name, w, k, stride, padding))
            parameters += c * out * k * k + (out if args.get("bias", True) else 0)
            mult_adds += c * out * k * k * shape[1] * shape[2]
        elif layer.kind in ("MaxPool2d", "AvgPool2d"):
            k = args["kernel_size"]
            stride, padding = args.get("stride", k), args.get("padding", 0)
            if 2 * padding > k:
                raise DesignProblem(f"{name}: padding {padding} is more than half the kernel ({k})")
            shape = (shape[0], _slide(name, shape[1], k, stride, padding), _slide(name, shape[2], k, stride, padding))
        elif layer.kind.startswith("Adaptive"):
            shape = (shape[0], args["output_size"], args["output_size"])
        elif layer.kind in ("BatchNorm2d", "BatchNorm1d"):
            parameters += 2 * shape[0]
        elif layer.kind == "Flatten":
            shape = (math.prod(shape),)
        elif layer.kind == "Linear":
            out = args["out_features"]
            parameters += shape[0] * out + (out if args.get("bias", True) else 0)
            mult_adds += shape[0] * out
            shape = (out,)
        largest = max(largest, math.prod(shape))
        if math.prod(shape) > MAX_VALUES:
            raise DesignProblem(f"{name} outputs {math.prod(shape):,} values per image ({_shown(shape)}); "
                                f"the grader builds networks of at most {MAX_VALUES:,} per layer")
        if parameters > MAX_PARAMETERS:
            raise DesignProblem(f"the network has {parameters:,} parameters by {name}; the grader builds "
                                f"networks of at most {MAX_PARAMETERS:,}")
        if mult_adds > MAX_MULT_ADDS:
            raise DesignProblem(f"the network needs {mult_adds:,} multiply-adds per image by {name}; the grader "
                                f"measures networks of at most {MAX_MULT_ADDS:,}")
    return Footprint(shape, parameters, mult_adds, largest)


def _slide(name: str, size: int, kernel: int, stride: int, padding: int) -> int:
    """Positions of a kernel sliding over ``size`` pixels (torch's floor rule)."""
    span = size + 2 * padding - kernel
    if span < 0:
        raise DesignProblem(f"{name}: a kernel of {kernel} does not fit an input of {size} pixels padded by {padding}")
    return span // stride + 1


def _shown(shape: tuple[int, ...]) -> str:
    return "(N, " + ", ".join(str(s) for s in shape) + ")"


def read_description(data: bytes, input_shape: tuple[int, ...], classes: int,
                     name: str = "the description") -> tuple[ArchSpec, Footprint]:
    """The network described by ``data`` (a description file's bytes, from a student) and its
    footprint, checked before anything is built: at most DESCRIPTION_BYTES, JSON of the form
    ``{"input": [...], "layers": [...]}`` with the lesson's ``input_shape``, at most MAX_LAYERS
    layers of the kinds in ARGUMENTS with arguments of their type and range, and ending in one
    value per class. Raises DesignProblem, one line that names ``name`` and the layer."""
    if len(data) > DESCRIPTION_BYTES:
        raise DesignProblem(f"{name} is {len(data) / 1024:,.0f} KB; a description is at most "
                            f"{DESCRIPTION_BYTES // 1024} KB")
    try:
        found = json.loads(data.decode("utf-8"))
    except RecursionError:
        raise DesignProblem(f"{name} is nested too deeply to be a network description") from None
    except (UnicodeDecodeError, ValueError) as error:
        raise DesignProblem(f"{name} is not JSON ({str(error)[:80]}): save it with dlcourse.save_design") from None
    if not isinstance(found, dict) or set(found) != {"input", "layers"}:
        raise DesignProblem(f'{name} is not a network description: a mapping of "input" and "layers"')
    if found["input"] != list(input_shape):
        raise DesignProblem(f"{name} takes input {str(found['input'])[:40]}, not this lesson's images "
                            f"{list(input_shape)}")
    layers = found["layers"]
    if not isinstance(layers, list) or not 1 <= len(layers) <= MAX_LAYERS:
        raise DesignProblem(f"{name} needs a list of 1 to {MAX_LAYERS} layers")
    spec = ArchSpec(tuple(input_shape), tuple(_layer(number, entry) for number, entry in enumerate(layers, 1)))
    cost = footprint(spec)
    if cost.output != (classes,):
        raise DesignProblem(f"{name}'s network ends in {_shown(cost.output)}, not one value per class "
                            f"(N, {classes})")
    return spec, cost


def _layer(number: int, entry: Any) -> LayerSpec:
    """One layer of a description, its kind and every argument checked (see ARGUMENTS)."""
    args: Any
    if isinstance(entry, str):
        kind, args = entry, {}
    elif isinstance(entry, dict) and len(entry) == 1:
        (kind, args), = entry.items()
    else:
        raise DesignProblem(f"layer {number} is neither a layer name nor a one-key mapping")
    if kind not in ARGUMENTS:
        raise DesignProblem(f"layer {number} is {str(kind)[:40]!r}, which the design grammar does not have "
                            f"(it has {', '.join(ARGUMENTS)})")
    if not isinstance(args, dict):
        if kind not in SHORTHAND:
            raise DesignProblem(f"layer {number} ({kind}) takes its arguments as a mapping")
        args = {SHORTHAND[kind]: args}
    allowed = ARGUMENTS[kind]
    for key, value in args.items():
        if key not in allowed:
            raise DesignProblem(f"layer {number} ({kind}) has an argument {str(key)[:40]!r} the grammar does not "
                                f"have" + (f" (it has {', '.join(allowed)})" if allowed else ""))
        wanted, low, high = allowed[key]
        if not _of_type(value, wanted) or not low <= value <= high:
            raise DesignProblem(f"layer {number} ({kind}): {key} must be {wanted.__name__ if wanted is not float else 'a number'}"
                                + ("" if wanted is bool else f" from {low:g} to {high:g}")
                                + f", not {str(value)[:40]}")
    missing = [key for key in REQUIRED.get(kind, ()) if key not in args]
    if missing:
        raise DesignProblem(f"layer {number} ({kind}) needs {', '.join(missing)}")
    return LayerSpec(kind, dict(args))


def _of_type(value: Any, wanted: type) -> bool:
    if wanted is bool or isinstance(value, bool):  # True is an int to Python, not a size to us
        return type(value) is wanted
    if wanted is int:
        return type(value) is int
    return type(value) in (int, float) and math.isfinite(value)


def describe(model: nn.Module, input_shape: tuple[int, ...]) -> dict:
    """``model`` (an ``nn.Sequential`` of torch.nn's own layers, nested Sequentials flattened)
    as a description: ``{"input": [...], "layers": [...]}``, what :func:`read_description`
    reads. Raises DesignProblem naming the first layer the grammar cannot write (a module of
    your own, a residual block, an argument it does not have)."""
    return {"input": list(input_shape), "layers": [_describe_layer(n, m) for n, m in enumerate(_leaves(model), 1)]}


def _leaves(model: nn.Module) -> list[nn.Module]:
    from torch import nn

    from .checks.weights import unwrapped

    model = unwrapped(model)
    if type(model) is not nn.Sequential:
        raise DesignProblem(f"the network is a {type(model).__name__}, not an nn.Sequential: the design task's "
                            f"network is a sequence of torch.nn layers (write it as nn.Sequential(...))")
    leaves = []
    for module in model:
        leaves += _leaves(module) if type(module) is nn.Sequential else [module]
    return leaves


def _describe_layer(number: int, module: nn.Module) -> str | dict:
    from torch import nn

    kind = type(module).__name__
    if kind not in ARGUMENTS or type(module) is not getattr(nn, kind):
        what = "a module of your own" if type(module).__module__.split(".")[0] != "torch" else "a layer"
        raise DesignProblem(f"layer {number} is {kind}, {what} that the design grammar does not have: the design "
                            f"task's network is an nn.Sequential of {', '.join(ARGUMENTS)} (a residual connection "
                            f"cannot be written as a sequence of layers)")
    args = _arguments(number, kind, module)
    return {kind: args} if args else kind


def _arguments(number: int, kind: str, m: nn.Module) -> dict:
    """The arguments of layer ``m`` the grammar records; DesignProblem for settings it cannot."""
    def square(value: Any, what: str) -> Any:
        if isinstance(value, tuple):
            if len(set(value)) != 1:
                raise DesignProblem(f"layer {number} ({kind}): {what} {value} is not square; the grammar has "
                                    f"square ones only")
            return value[0]
        return value

    def default(condition: Any, what: str) -> None:
        if not condition:
            raise DesignProblem(f"layer {number} ({kind}) sets {what}, which the design grammar does not have")

    if kind == "Conv2d":
        default(m.groups == 1 and square(m.dilation, "dilation") == 1 and m.padding_mode == "zeros"
                and not isinstance(m.padding, str), "groups, dilation, a padding mode or a padding by name")
        args = {"out_channels": m.out_channels, "kernel_size": square(m.kernel_size, "kernel_size"),
                "stride": square(m.stride, "stride"), "padding": square(m.padding, "padding")}
        return {**args, **({} if m.bias is not None else {"bias": False})}
    if kind == "Linear":
        return {"out_features": m.out_features, **({} if m.bias is not None else {"bias": False})}
    if kind.startswith("BatchNorm"):
        default(m.affine and m.track_running_stats, "affine=False or track_running_stats=False")
        return {} if m.eps == 1e-5 else {"eps": m.eps}
    if kind in ("MaxPool2d", "AvgPool2d"):
        default(not m.ceil_mode and getattr(m, "dilation", 1) in (1, (1, 1)) and getattr(m, "count_include_pad", True)
                and getattr(m, "divisor_override", None) is None and not getattr(m, "return_indices", False),
                "ceil_mode, dilation, return_indices or a divisor")
        return {"kernel_size": square(m.kernel_size, "kernel_size"), "stride": square(m.stride, "stride"),
                "padding": square(m.padding, "padding")}
    if kind.startswith("Adaptive"):
        default(not getattr(m, "return_indices", False), "return_indices")
        return {"output_size": square(m.output_size, "output_size")}
    if kind.startswith("Dropout"):
        return {"p": m.p}
    if kind == "LeakyReLU":
        return {"negative_slope": m.negative_slope}
    if kind == "GELU":
        default(m.approximate == "none", "approximate")
    if kind == "Flatten":
        default(m.start_dim == 1 and m.end_dim == -1, "start_dim or end_dim")
    return {}


def save_design(model: nn.Module, lesson: Lesson | None = None, folder: str | Path = ".") -> Footprint:
    """Save ``model`` for the design task: its description and its weights, under the names the
    lesson's ``design`` settings give (e.g. design.json and design.pt), in ``folder``. The
    description is checked as the grader will read it. Prints what was saved; returns the
    network's footprint. Raises DesignProblem for a network the grammar cannot write."""
    import torch
    from torch import nn

    from .lesson import current_lesson

    lesson = lesson or current_lesson()
    assert lesson.design is not None and lesson.architecture is not None, f"lesson {lesson.id} has no design task"
    leaves = _leaves(model)
    description = describe(model, lesson.architecture.input_shape)
    data = json.dumps(description, indent=1).encode()
    _, cost = read_description(data, lesson.architecture.input_shape, len(DATASETS[lesson.dataset].classes),
                               "your network")
    folder = Path(folder)
    (folder / lesson.design.description).write_bytes(data)
    # the flat network's names (0.weight, 1.weight...): the ones the grader's build uses
    torch.save(nn.Sequential(*leaves).state_dict(), folder / lesson.design.weights)
    budget = "within" if cost.parameters <= lesson.design.max_parameters else "OVER"
    print(f"Saved {lesson.design.description} ({len(leaves)} layers) and {lesson.design.weights}: "
          f"{cost.parameters:,} parameters, {budget} the budget of {lesson.design.max_parameters:,}.")
    return cost
