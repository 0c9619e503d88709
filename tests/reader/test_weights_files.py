"""What a weights file is, said in one line with the one thing to do (checks/file_kind.py), never
"is it corrupt?" nor torch's advice to turn weights_only off; torch.compile's and DataParallel's
wrappers understood wherever a network is read; grader.export() reads weights by the grader's
own rule; and, in a kernel of its own, CUDA requests served by the CPU (grading/cuda_on_cpu.py).
Every file is made here, by the tools students use."""

from __future__ import annotations

import io
import pickle
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
import torch
from torch import nn

from dlcourse import load_weights
from dlcourse.checks.architecture import architecture_problem
from dlcourse.checks.weights import WeightsProblem, WholeModel, unwrapped, weights_from_bytes
from dlcourse.course import Course
from dlcourse.export import lesson_files
from helpers.paths import ROOT

COURSE = Course(ROOT)
DENSE = COURSE.lesson("dense-mnist")
NAME = "net.pt"


def network() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))


def saved(obj, **kwargs) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer, **kwargs)
    return buffer.getvalue()


def torchscript() -> bytes:
    buffer = io.BytesIO()
    with pytest.warns(FutureWarning) if torch.__version__ >= "2.10" else _nothing():
        torch.jit.save(torch.jit.script(network()), buffer)
    return buffer.getvalue()


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def numpy_file(**arrays) -> bytes:
    buffer = io.BytesIO()
    (np.savez(buffer, **arrays) if len(arrays) > 1 else np.save(buffer, next(iter(arrays.values()))))
    return buffer.getvalue()


def a_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "epoch 5")
    return buffer.getvalue()


STATE = network().state_dict()
KINDS = {  # what the file is -> (its bytes, a phrase the message must hold)
    "TorchScript archive": (torchscript, "TorchScript archive (torch.jit.save)"),
    "torch.save with pickle protocol 4": (lambda: saved(STATE, pickle_protocol=4), "protocol 4"),
    "torch.save with pickle protocol 5": (lambda: saved(STATE, pickle_protocol=5), "protocol 5"),
    "legacy torch.save with protocol 1": (lambda: saved(STATE, pickle_protocol=1, _use_new_zipfile_serialization=False),
                                          "protocol 0 or 1"),
    "pickle.dump of a state_dict": (lambda: pickle.dumps(STATE, protocol=2), "pickle.dump"),
    "a whole pickled model": (lambda: saved(network()), "whole model object"),
    "numpy.save": (lambda: numpy_file(w=np.zeros(3)), "NumPy array file"),
    "numpy.savez": (lambda: numpy_file(w=np.zeros(3), b=np.ones(2)), "NumPy archive"),
    "an empty file": (lambda: b"", "is empty"),
    "a file cut short": (lambda: saved(STATE)[:300], "cut short"),
    "a Keras file": (lambda: b"\x89HDF\r\n\x1a\n" + bytes(64), "HDF5"),
    "a zip of something else": (a_zip, "zip archive (notes.txt)"),
    "a text file": (lambda: b"accuracy: 98%\n", "text file"),
}


@pytest.mark.parametrize("kind", KINDS)
def test_a_weights_file_torch_cannot_read_safely_is_named_for_what_it_is(kind):
    make, phrase = KINDS[kind]
    with pytest.raises(WeightsProblem) as raised:
        weights_from_bytes(make(), NAME)
    message = str(raised.value)
    assert phrase in message, message
    assert f'torch.save(model.state_dict(), "{NAME}")' in message  # the one thing to do
    assert "corrupt" not in message and "weights_only" not in message and "\n" not in message
    assert type(raised.value) in (WeightsProblem, WholeModel)  # not "unsafe": nothing here is an attack


@pytest.mark.slow  # torch.compile: dynamo's import alone takes a while
def test_what_the_grader_reads_the_courses_cell_and_the_export_read_too(tmp_path, monkeypatch):
    """A training checkpoint of a compiled network on the GPU's names: load_weights (the
    lesson's evaluation cell) and the export both take it, as the grader does."""
    trained = network()
    compiled = torch.compile(trained)
    checkpoint = {"epoch": 5, "model_state_dict": compiled.state_dict(), "loss": np.float32(0.1),
                  "optimizer_state_dict": torch.optim.Adam(trained.parameters()).state_dict()}
    (tmp_path / NAME).write_bytes(saved(checkpoint))
    fresh = torch.compile(network())
    assert load_weights(fresh, tmp_path / NAME) is fresh
    assert all(torch.equal(a, b) for a, b in zip(unwrapped(fresh).state_dict().values(), trained.state_dict().values()))
    (tmp_path / DENSE.weights).write_bytes(saved({"epoch": 5, "state_dict": torch.load(COURSE.reference_weights(DENSE))}))
    assert DENSE.weights in lesson_files(DENSE, tmp_path)


def test_the_export_refuses_what_the_grader_cannot_read_with_the_graders_words(tmp_path):
    from dlcourse.export import ExportRefused

    (tmp_path / DENSE.weights).write_bytes(torchscript())
    with pytest.raises(ExportRefused, match="TorchScript archive") as raised:
        lesson_files(DENSE, tmp_path)
    assert "weights_only" not in str(raised.value)


@pytest.mark.slow  # torch.compile
def test_wrappers_are_understood_wherever_a_network_is_read():
    spec = DENSE.architecture
    built = spec.build()
    for wrapped in (torch.compile(built), nn.DataParallel(built), torch.compile(nn.DataParallel(built))):
        assert unwrapped(wrapped) is built
        assert architecture_problem(wrapped, spec) is None
    assert unwrapped(built) is built and unwrapped(None) is None


CUDA_NOTEBOOK_CODE = textwrap.dedent("""
    import io, os, sys, torch
    from torch import nn
    from dlcourse.grading.cuda_on_cpu import install
    install(sys.argv[1])
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert device.type == "cpu"                       # an is_available() branch takes its CPU side
    assert not os.path.exists(sys.argv[1])
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10)).to("cuda")
    model = model.cuda()
    model.to(torch.device("cuda:0"))
    x = torch.zeros(2, 1, 28, 28, device="cuda").to(0, non_blocking=True).cuda()
    assert model(x).shape == (2, 10) and x.device.type == "cpu"
    buffer = io.BytesIO(); torch.save(model.state_dict(), buffer); buffer.seek(0)
    torch.load(buffer, map_location="cuda")
    torch.cuda.synchronize()
    assert os.path.exists(sys.argv[1])
    print("served")
""")


@pytest.mark.slow  # a process of its own: torch imported again
def test_cuda_requests_are_served_by_the_cpu_in_the_kernel(tmp_path):
    """Run as the graded kernel runs it: in a process of its own (the shim stays on for life)."""
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the shim leaves CUDA as it is")
    done = subprocess.run([sys.executable, "-c", CUDA_NOTEBOOK_CODE, str(tmp_path / "flag")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "served" in done.stdout, done.stderr[-2000:]
