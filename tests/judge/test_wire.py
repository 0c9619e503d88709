"""The message format and the network codec at the trust boundary: values make the round trip
whole, and whatever the sandbox sends that is malformed or too large is refused with a clear
error, in bounded time and memory, before it is built into objects."""

from __future__ import annotations

import io
import json
import struct

import pytest
import torch
from torch import nn

from dlcourse.grading import module_codec
from dlcourse.grading.wire import (MAX_DEPTH, MAX_HEADER_BYTES, MAX_VALUES, Decoder, Encoder, WireError, read_message,
                                   write_message)


def round_trip(value):
    encoder = Encoder()
    stream = io.BytesIO()
    write_message(stream, encoder.encode(value), encoder.blobs)
    stream.seek(0)
    body, blobs = read_message(stream)
    return Decoder(blobs).decode(body)


def framed(header: bytes) -> io.BytesIO:
    return io.BytesIO(struct.pack(">I", len(header)) + header)


def test_plain_values_and_tensors_make_the_round_trip():
    value = {"n": 3, "x": 0.5, "s": "é", "none": None, "t": (1, [2, 3]), "keys": {1: "a", (2, 3): "b"},
             "tensor": torch.arange(6, dtype=torch.float32).reshape(2, 3), "empty": torch.zeros(0, 4),
             "flags": torch.tensor([True, False])}
    back = round_trip(value)
    assert back["t"] == (1, [2, 3]) and back["keys"] == {1: "a", (2, 3): "b"} and back["s"] == "é"
    assert torch.equal(back["tensor"], value["tensor"]) and back["empty"].shape == (0, 4)
    assert back["flags"].dtype == torch.bool


@pytest.mark.parametrize("header, error", [
    (b"not json", "not the expected JSON"),
    (json.dumps({"body": 1}).encode(), "not the expected JSON"),
    (json.dumps({"body": 1, "blobs": [-1]}).encode(), "malformed blob lengths"),
    (json.dumps({"body": 1, "blobs": [True]}).encode(), "malformed blob lengths"),
    (b'{"body": ' + b"[" * 100_000 + b"]" * 100_000 + b', "blobs": []}', "nested too deeply"),
    (b'{"body": [' + b"{}," * (MAX_VALUES // 2) + b'{}], "blobs": []}', "values, over the"),
])
def test_malformed_or_oversized_headers_are_refused(header, error):
    with pytest.raises(WireError, match=error):
        read_message(framed(header))


def test_a_header_over_its_limit_is_refused_before_it_is_read():
    stream = io.BytesIO(struct.pack(">I", MAX_HEADER_BYTES + 1))
    with pytest.raises(WireError, match="header of"):
        read_message(stream)


def test_blobs_over_the_limit_are_refused_before_they_are_read():
    with pytest.raises(WireError, match="over the 1 MB allowed"):
        read_message(framed(json.dumps({"body": 1, "blobs": [2**30]}).encode()), max_bytes=2**20)


def test_a_stream_that_ends_early_is_eof():
    with pytest.raises(EOFError):
        read_message(framed(json.dumps({"body": 1, "blobs": [10]}).encode()))


@pytest.mark.parametrize("body, error", [
    ({"$": "nonsense"}, "unknown value kind"),
    ({"$": "tensor", "blob": 0, "dtype": "float32", "shape": [3]}, "without its data"),
    ({"$": "tensor", "blob": 0, "dtype": "object", "shape": [1]}, "malformed tensor"),
    ({"$": "tensor", "blob": 0, "dtype": "float32", "shape": [-1]}, "malformed tensor"),
    ({"$": "dict", "items": [[[1], 2]]}, "unhashable"),
    ({"$": "tuple", "items": 3}, "malformed tuple"),
])
def test_malformed_bodies_are_refused(body, error):
    with pytest.raises(WireError, match=error):
        Decoder([]).decode(body)


def test_a_tensor_whose_data_does_not_match_its_shape_is_refused():
    with pytest.raises(WireError, match="does not match its shape"):
        Decoder([b"\0" * 8]).decode({"$": "tensor", "blob": 0, "dtype": "float32", "shape": [3]})


def test_values_nested_past_the_limit_are_refused_both_ways():
    nested = []
    for _ in range(MAX_DEPTH + 2):
        nested = [nested]
    with pytest.raises(WireError, match="nested too deeply"):
        Encoder().encode(nested)
    with pytest.raises(WireError, match="nested too deeply"):
        Decoder([]).decode(json.loads(json.dumps(nested)))


# ---------------------------------------------------------------- networks


def network_round_trip(module: nn.Module) -> nn.Module:
    encoder = Encoder()
    tree = module_codec.describe(module, encoder)
    return module_codec.rebuild(json.loads(json.dumps(tree)), Decoder(encoder.blobs))


def test_a_network_makes_the_round_trip_with_its_settings_and_tensors():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(4))
            self.head = nn.Linear(4, 2)

    net = Net().eval()
    copy = network_round_trip(net)
    assert type(copy).__name__ == "Net" and isinstance(copy, module_codec.OpaqueModule)
    assert type(copy.body[0]) is nn.Conv2d and copy.body[0].padding == (1, 1) and not copy.training
    for (name, a), (_, b) in zip(net.state_dict().items(), copy.state_dict().items()):
        assert torch.equal(a, b), name
    with pytest.raises(RuntimeError, match="runs only in the notebook"):
        copy(torch.zeros(1, 1, 2, 2))


def leaf(name: str = "Identity") -> dict:
    return {"class": name, "torch": True, "attrs": {}, "params": {}, "buffers": {}, "children": [], "training": True}


def test_a_description_of_a_million_layers_is_refused_at_its_limit():
    """The kernel checks its own descriptions, but the judge must not believe it: a forged one
    is refused when rebuilt, after MAX_NODES layers, not after a million."""
    wide = {**leaf("Sequential"), "children": [[str(i), leaf()] for i in range(module_codec.MAX_NODES + 1)]}
    with pytest.raises(WireError, match="more than"):
        module_codec.rebuild(wide, Decoder([]))
    deep = leaf()
    for _ in range(module_codec.MAX_DEPTH + 2):
        deep = {**leaf("Sequential"), "children": [["0", deep]]}
    with pytest.raises(WireError, match="nested more than"):
        module_codec.rebuild(deep, Decoder([]))


@pytest.mark.parametrize("node", [
    "not a node", {**leaf(), "class": "os.system"}, {**leaf(), "params": [1]}, {**leaf(), "children": [["0"]]},
    {**leaf(), "attrs": [1, 2]},
])
def test_malformed_network_descriptions_are_refused(node):
    with pytest.raises(WireError):
        module_codec.rebuild(node, Decoder([]))


def test_a_class_name_that_is_not_torchs_becomes_an_opaque_layer():
    module = module_codec.rebuild({**leaf("Linear"), "torch": False}, Decoder([]))
    assert isinstance(module, module_codec.OpaqueModule) and not isinstance(module, nn.Linear)


def test_the_saved_notebook_keeps_its_output_small_and_whole():
    """Printed text is cut per cell; displayed values (images, HTML) count against the whole
    notebook's budget and are kept or left out whole, so the notebook stays valid JSON."""
    import nbformat

    from dlcourse.grading.notebook_run import NOTEBOOK_OUTPUTS, OUTPUT_LIMIT, _cap_outputs

    nb = nbformat.v4.new_notebook()
    for _ in range(40):
        cell = nbformat.v4.new_code_cell("show()")
        cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": "x" * 400_000}),
                        nbformat.v4.new_output("stream", name="stdout", text="y" * (OUTPUT_LIMIT + 5))]
        nb.cells.append(cell)
    _cap_outputs(nb)
    text = nbformat.writes(nb)
    assert len(text) < NOTEBOOK_OUTPUTS + 2**20
    nbformat.reads(text, as_version=4)
    first, last = nb.cells[0].outputs, nb.cells[-1].outputs
    assert first[0]["data"]["text/html"] == "x" * 400_000 and len(first[1]["text"]) == OUTPUT_LIMIT
    assert "cut by the grader" in first[-1]["text"] and len(last) == 1 and "cut by the grader" in last[0]["text"]
