"""A network on another device than the CPU: the helpers and checks follow it.

No GPU here, so: the device choice with torch's answers patched; the ``meta`` device (shapes
without data) for the checks that only trace shapes; a network that reports another device
for the helpers that compute, to see where their batches go; and weights files tagged for a
GPU, as torch.save writes them there, loaded on this CPU."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dlcourse import MNIST, best_device, device_of, evaluate, fit, predict, summary
from dlcourse import training
from dlcourse.checks import check_output_shape
from dlcourse.checks.architecture import trace
from dlcourse.data import SAMPLE_DIR
from helpers.weights import saved_on_a_gpu


@pytest.mark.parametrize("cuda, mps, expected", [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_best_device_is_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert best_device() == torch.device(expected)


def test_device_of_is_the_networks():
    assert device_of(nn.Linear(2, 2).to("meta")) == torch.device("meta")
    assert device_of(nn.BatchNorm1d(2, affine=False).to("meta")) == torch.device("meta")  # buffers only
    assert device_of(nn.ReLU()) == torch.device("cpu")


def meta_network():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10)).to("meta")


def test_shape_checks_and_the_summary_run_on_the_networks_device():
    model = meta_network()
    check_output_shape(model, (1, 28, 28), classes=10)   # fed CPU zeros, it would raise
    assert trace(model, (1, 28, 28)).error is None
    assert "Linear" in str(summary(model, (1, 28, 28)))
    assert device_of(model) == torch.device("meta")     # and it stayed there


class Probe(nn.Module):
    """Computes on the CPU but records the device of every batch it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(784, 10)
        self.seen: set[str] = set()

    def forward(self, x):
        self.seen.add(x.device.type)
        return self.linear(x.to("cpu").flatten(1))


def test_fit_evaluate_and_predict_send_batches_to_the_networks_device(monkeypatch):
    moved = []
    real_to = torch.Tensor.to

    def to(self, *args, **kwargs):  # a stand-in GPU: tensors sent to it stay on the CPU, the move is recorded
        if args and args[0] == torch.device("cuda"):
            moved.append(tuple(self.shape))
            return self
        return real_to(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "to", to)
    monkeypatch.setattr(training, "device_of", lambda model: torch.device("cuda"))
    data = MNIST(SAMPLE_DIR, train=False)
    model = Probe()
    scale = lambda images: images.float() / 255  # noqa: E731
    fit(model, data, optimizer=torch.optim.SGD(model.parameters(), lr=0.01), batch_size=500, prepare=scale,
        progress=False)
    batches = -(-len(data) // 500)
    assert len(moved) == 2 * batches    # images and labels of every training batch
    evaluate(model, data, prepare=scale, batch_size=500)
    assert len(moved) == 4 * batches
    assert predict(model, data.images[:10], prepare=scale).device.type == "cpu"   # answers come back
    assert len(moved) == 4 * batches + 1


def test_weights_saved_on_a_gpu_load_on_this_cpu(tmp_path):
    """The lessons load weights with map_location="cpu"; load_state_dict puts them on the network's device."""
    model = nn.Linear(3, 2)
    path = tmp_path / "w.pt"
    path.write_bytes(saved_on_a_gpu(model.state_dict()))
    with pytest.raises(RuntimeError):
        torch.load(path, weights_only=True)                    # as the lessons loaded them before
    copy = nn.Linear(3, 2)
    copy.load_state_dict(torch.load(path, weights_only=True, map_location="cpu"))
    assert torch.equal(copy.weight, model.weight)
