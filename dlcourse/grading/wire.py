"""The format values travel in between the judge and the student's kernel: data, never code.

A message is a JSON header followed by raw byte blobs (tensor storage)::

    4 bytes  big-endian length of the header
    header   UTF-8 JSON: {"body": ..., "blobs": [length, ...]}
    blobs    the bytes of each blob, in order

JSON can carry numbers, strings, lists and string-keyed mappings; everything else is a
mapping tagged with the key ``"$"``:

    {"$": "tuple", "items": [...]}                 a tuple
    {"$": "dict", "items": [[key, value], ...]}    a mapping whose keys are not all strings
    {"$": "tensor", "blob": i, "dtype": "float32", "shape": [...]}
    {"$": "ndarray", ...}                          a numpy array, as a tensor

Other tags (modules, callables, datasets...) are the business of the two ends, which pass
``encode_other``/``decode_other`` hooks. Decoding never imports, unpickles or evaluates
anything: a hostile sender can at worst make a message that fails to decode.

Every message from the sandbox is hostile data, so its size is bounded *before* it is parsed:
the header's bytes, the number of values in it (a header of millions of empty mappings fits in
a few megabytes and would parse to gigabytes), its depth, and the blobs' total.
"""

from __future__ import annotations

import functools
import json
import struct
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # the notebook runner frames messages without loading torch
    import torch

MAX_HEADER_BYTES = 8 * 2**20
MAX_VALUES = 500_000              # values in one header (an upper bound is counted before parsing)
MAX_MESSAGE_BYTES = 512 * 2**20   # a batch of 2,000 CIFAR images as float32 is ~25 MB
ANSWER_LIMIT = 128 * 2**20        # bytes of one answer from the kernel (the runner refuses more, the judge reads no more)
MAX_DEPTH = 32
DTYPE_NAMES = ("float16", "bfloat16", "float32", "float64", "uint8", "int8", "int16", "int32", "int64", "bool")


@functools.cache
def dtypes() -> dict[str, torch.dtype]:
    import torch

    return {name: getattr(torch, name) for name in DTYPE_NAMES}


class WireError(ValueError):
    """A message that is malformed, too large, or of a kind this end does not accept."""


class Encoder:
    """Turns a value into a JSON body plus blobs; ``other`` handles values JSON can't hold
    (return ``None`` to refuse them)."""

    def __init__(self, other: Callable[[Any, Encoder], Any] | None = None) -> None:
        self.other = other
        self.blobs: list[bytes] = []

    def encode(self, value: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise WireError("the value is nested too deeply")
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            return float(value)
        if isinstance(value, tuple):
            return {"$": "tuple", "items": [self.encode(v, depth + 1) for v in value]}
        if isinstance(value, list):
            return [self.encode(v, depth + 1) for v in value]
        if isinstance(value, dict):
            if all(isinstance(k, str) for k in value) and "$" not in value:
                return {k: self.encode(v, depth + 1) for k, v in value.items()}
            return {"$": "dict", "items": [[self.encode(k, depth + 1), self.encode(v, depth + 1)]
                                          for k, v in value.items()]}
        if _is_tensor(value):
            return self.tensor(value)
        if self.other is not None:
            encoded = self.other(value, self)
            if encoded is not None:
                return encoded
        raise WireError(f"a value of type {type(value).__name__} cannot be sent")

    def tensor(self, value: torch.Tensor, tag: str = "tensor") -> dict:
        import torch

        value = value.detach().to("cpu").contiguous()
        if str(value.dtype).removeprefix("torch.") not in DTYPE_NAMES:
            value = value.float()
        data = value.reshape(-1).view(torch.uint8).numpy().tobytes() if value.numel() else b""
        self.blobs.append(data)
        return {"$": tag, "blob": len(self.blobs) - 1, "dtype": str(value.dtype).removeprefix("torch."),
                "shape": list(value.shape)}


class Decoder:
    """The inverse of :class:`Encoder`; ``other`` decodes the tags it does not know."""

    def __init__(self, blobs: list[bytes], other: Callable[[dict, Decoder], Any] | None = None) -> None:
        self.blobs, self.other = blobs, other

    def decode(self, body: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise WireError("the value is nested too deeply")
        if body is None or isinstance(body, (bool, int, float, str)):
            return body
        if isinstance(body, list):
            return [self.decode(v, depth + 1) for v in body]
        if not isinstance(body, dict):
            raise WireError(f"unexpected {type(body).__name__} in a message")
        tag = body.get("$")
        if tag is None:
            return {k: self.decode(v, depth + 1) for k, v in body.items()}
        if tag == "tuple":
            return tuple(self.decode(v, depth + 1) for v in _list(body, "items"))
        if tag == "dict":
            pairs = [(self.decode(k, depth + 1), self.decode(v, depth + 1)) for k, v in _list(body, "items")]
            try:
                return dict(pairs)
            except TypeError:
                raise WireError("a mapping with unhashable keys") from None
        if tag in ("tensor", "ndarray"):
            tensor = self.tensor(body)
            return tensor.numpy() if tag == "ndarray" else tensor
        if self.other is not None:
            return self.other(body, self)
        raise WireError(f"unknown value kind {tag!r}")

    def tensor(self, body: dict) -> torch.Tensor:
        import torch

        dtype = dtypes().get(str(body.get("dtype")))
        shape = body.get("shape")
        index = body.get("blob")
        if dtype is None or not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
            raise WireError("a malformed tensor")
        if not isinstance(index, int) or not 0 <= index < len(self.blobs):
            raise WireError("a tensor without its data")
        data = self.blobs[index]
        numel = 1
        for n in shape:
            numel *= n
        if numel * torch.empty((), dtype=dtype).element_size() != len(data):
            raise WireError("a tensor whose data does not match its shape")
        if not numel:
            return torch.empty(shape, dtype=dtype)
        return torch.frombuffer(bytearray(data), dtype=dtype).reshape(shape)


def _is_tensor(value: Any) -> bool:
    import sys

    torch = sys.modules.get("torch")  # a tensor exists only where torch is loaded already
    return torch is not None and torch.is_tensor(value)


def _list(body: dict, key: str) -> list:
    value = body.get(key)
    if not isinstance(value, list):
        raise WireError(f"a malformed {body.get('$')}")
    return value


def write_message(stream: IO[bytes], body: Any, blobs: Sequence[bytes] = ()) -> None:
    header = json.dumps({"body": body, "blobs": [len(b) for b in blobs]}).encode()
    stream.write(struct.pack(">I", len(header)) + header)
    for blob in blobs:
        stream.write(blob)
    stream.flush()


def read_message(stream: IO[bytes], max_bytes: int = MAX_MESSAGE_BYTES) -> tuple[Any, list[bytes]]:
    """One message from ``stream``; :class:`WireError` if it is malformed or too large,
    EOFError if the stream ends first."""
    size = _header_size(_read_exactly(stream, 4))
    body, lengths = _parse_header(_read_exactly(stream, size), max_bytes)
    return body, [_read_exactly(stream, n) for n in lengths]


def message_size(data: bytes | bytearray, max_bytes: int = MAX_MESSAGE_BYTES) -> int | None:
    """Bytes of the whole message at the start of ``data`` once its header has arrived, None
    before: a reader that must not block reads until it has that many. :class:`WireError` as
    :func:`read_message`."""
    if len(data) < 4:
        return None
    size = _header_size(bytes(data[:4]))
    if len(data) < 4 + size:
        return None
    _, lengths = _parse_header(bytes(data[4:4 + size]), max_bytes)
    return 4 + size + sum(lengths)


def _header_size(prefix: bytes) -> int:
    size = struct.unpack(">I", prefix)[0]
    if size > MAX_HEADER_BYTES:
        raise WireError(f"a message header of {size:,} bytes, over the {MAX_HEADER_BYTES:,} allowed")
    return size


def _parse_header(raw: bytes, max_bytes: int) -> tuple[Any, list[int]]:
    # Each value past the first follows a comma, and each mapping or list opens with a bracket
    # (brackets inside strings only make this bound looser): parsing cannot make more values.
    values = raw.count(b",") + raw.count(b"[") + raw.count(b"{") + 1
    if values > MAX_VALUES:
        raise WireError(f"a message of about {values:,} values, over the {MAX_VALUES:,} allowed")
    try:
        header = json.loads(raw)
        lengths = header["blobs"]
        body = header["body"]
    except RecursionError:
        raise WireError("a message nested too deeply") from None
    except (ValueError, KeyError, TypeError):
        raise WireError("a message header that is not the expected JSON") from None
    if not (isinstance(lengths, list) and all(type(n) is int and n >= 0 for n in lengths)):
        raise WireError("a message with malformed blob lengths")
    if sum(lengths) > max_bytes:
        raise WireError(f"a message of {sum(lengths) / 2**20:.0f} MB, over the {max_bytes / 2**20:.0f} MB allowed")
    return body, lengths


def _read_exactly(stream: IO[bytes], n: int) -> bytes:
    parts, remaining = [], n
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            raise EOFError("the other end closed the channel")
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)
