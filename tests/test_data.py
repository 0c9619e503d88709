"""Datasets: readers, the bundled sample, and the one-line error when data is missing offline."""

import os
import subprocess
import sys

import pytest
import torch

from dlcourse.data import CIFAR10, MNIST, SAMPLE_DIR, DataNotFoundError, channel_stats

OFFLINE = {"https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9"}  # every download fails fast


def test_mnist_sample_is_uint8_images_with_labels():
    test = MNIST(SAMPLE_DIR, train=False)
    assert test.images.shape == (1000, 1, 28, 28) and test.images.dtype == torch.uint8
    assert test.labels.dtype == torch.int64 and set(test.labels.tolist()) == set(range(10))
    image, label = test[3]
    assert image.shape == (1, 28, 28) and label == int(test.labels[3])


def test_cifar_sample_reads_the_official_python_layout():
    train = CIFAR10(SAMPLE_DIR, train=True)
    assert train.images.shape == (200, 3, 32, 32) and train.images.dtype == torch.uint8
    assert train.classes[:3] == ["airplane", "automobile", "bird"]


def test_split_holds_out_a_validation_set_and_keeps_the_transform():
    flip = torch.nn.Identity()
    data = MNIST(SAMPLE_DIR, train=False, transform=flip)
    train, val = data.split(100, seed=1)
    assert len(train) == 900 and len(val) == 100
    assert train.transform is flip and val.transform is None
    assert not set(map(tuple, train.images.flatten(1)[:50].tolist())) & set(map(tuple, val.images.flatten(1).tolist()))


def test_channel_stats_match_a_direct_computation():
    images = CIFAR10(SAMPLE_DIR, train=True).images
    mean, std = channel_stats(images, chunk=64)
    x = images.double() / 255
    assert torch.allclose(mean.double(), x.mean(dim=(0, 2, 3)), atol=1e-6)
    assert torch.allclose(std.double(), x.std(dim=(0, 2, 3), unbiased=False), atol=1e-6)


def test_missing_data_without_download_is_one_clear_line(tmp_path):
    with pytest.raises(DataNotFoundError) as caught:
        CIFAR10(tmp_path, train=False, download=False)
    message = str(caught.value)
    assert "\n" not in message and str(tmp_path) in message and "DLCOURSE_DATA" in message
    # In a notebook, IPython shows this instead of a traceback.
    assert caught.value._render_traceback_() == [f"DataNotFoundError: {message}"]


def test_offline_and_missing_gives_one_line_from_the_command_line(tmp_path):
    env = {**os.environ, **OFFLINE, "DLCOURSE_DATA": str(tmp_path / "empty")}
    done = subprocess.run([sys.executable, "-m", "dlcourse", "data", "fetch", "mnist"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    error_lines = done.stderr.strip().splitlines()
    assert len(error_lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert str(tmp_path / "empty") in error_lines[0] and "DLCOURSE_DATA" in error_lines[0]
    assert "could not be downloaded" in error_lines[0]


def test_cifar_reader_loads_the_unpacked_offline_copy(real_data):
    """The JPEG-degraded copy unpacked by ../shared/data/prepare.py, which torchvision's
    CIFAR10 would reject for its MD5 sums."""
    train, test = CIFAR10(real_data, train=True), CIFAR10(real_data, train=False)
    assert train.images.shape == (50000, 3, 32, 32) and test.images.shape == (10000, 3, 32, 32)
    assert torch.bincount(test.labels).tolist() == [1000] * 10
    assert test.classes == ["airplane", "automobile", "bird", "cat", "deer",
                            "dog", "frog", "horse", "ship", "truck"]


def test_mnist_reader_loads_the_full_dataset(real_data):
    train, test = MNIST(real_data, train=True), MNIST(real_data, train=False)
    assert len(train) == 60000 and len(test) == 10000
