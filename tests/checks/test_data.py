"""Datasets: readers, the bundled sample, and the one-line error when data is missing offline."""

import gzip
import os
import shutil
import subprocess
import sys

import pytest
import torch

import dlcourse.data
from dlcourse.data import CIFAR10, CIFAR_CACHE, MNIST, SAMPLE_DIR, DataNotFoundError, channel_stats
from dlcourse.datasets import DATASETS, dataset_class

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


@pytest.mark.parametrize("name", DATASETS)
def test_each_registered_dataset_reads_its_bundled_sample_as_its_facts_state(name):
    info = DATASETS[name]
    for train in (True, False):
        ds = dataset_class(name)(SAMPLE_DIR, train=train, download=False)
        assert isinstance(ds, info) and ds.source == (name, train)
        assert ds.images.shape == (info.sample_sizes[train], *info.shape)
        assert len(ds.classes) == len(info.classes) and int(ds.labels.max()) < len(info.classes)


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


def test_uncompressed_mnist_is_mapped_and_writes_stay_private(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for gz in (SAMPLE_DIR / "MNIST" / "raw").glob("t10k-*.gz"):
        (raw / gz.stem).write_bytes(gzip.decompress(gz.read_bytes()))
    mapped, read = MNIST(tmp_path, train=False), MNIST(SAMPLE_DIR, train=False)
    assert torch.equal(mapped.images, read.images) and torch.equal(mapped.labels, read.labels)
    before = (raw / "t10k-images-idx3-ubyte").read_bytes()
    mapped.images[0] = 255  # copy-on-write: the student's tensor changes, the file does not
    assert (raw / "t10k-images-idx3-ubyte").read_bytes() == before


@pytest.fixture
def cifar_copy(tmp_path, monkeypatch):
    """A copy of the CIFAR sample, treated as large enough to be cached."""
    shutil.copytree(SAMPLE_DIR / "cifar-10-batches-py", tmp_path / "cifar-10-batches-py",
                    ignore=shutil.ignore_patterns(CIFAR_CACHE))
    monkeypatch.setattr(dlcourse.data, "CACHE_MIN_BYTES", 0)
    return tmp_path


@pytest.fixture(scope="module")
def cifar_sample():
    """The sample as read without a cache: what every other way of loading must equal."""
    return {split: CIFAR10(SAMPLE_DIR, train=split == "train") for split in ("train", "test")}


def test_cifar_is_mapped_from_a_cache_written_beside_the_batches(cifar_sample, cifar_copy):
    first = CIFAR10(cifar_copy, train=True)
    cache = sorted((cifar_copy / "cifar-10-batches-py" / CIFAR_CACHE).iterdir())
    assert [f.name.split(".", 1)[1] for f in cache] == ["labels.npy", "uint8"]
    assert all(f.stat().st_mode & 0o777 == 0o644 for f in cache)  # readable by a grader running as nobody
    again, read = CIFAR10(cifar_copy, train=True), cifar_sample["train"]
    for data in (first, again):
        assert torch.equal(data.images, read.images) and torch.equal(data.labels, read.labels)
    os.utime(cifar_copy / "cifar-10-batches-py" / "data_batch_1", ns=(0, 0))  # a new copy of the data
    CIFAR10(cifar_copy, train=True)
    renewed = sorted((cifar_copy / "cifar-10-batches-py" / CIFAR_CACHE).iterdir())
    assert len(renewed) == 2 and renewed != cache  # the stale cache is gone


def test_cifar_without_a_writable_data_directory_is_read_into_memory(cifar_sample, cifar_copy, monkeypatch):
    def read_only(*args):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(dlcourse.data, "_write_cifar_cache", read_only)
    test = CIFAR10(cifar_copy, train=False)
    assert torch.equal(test.images, cifar_sample["test"].images)
    assert not (cifar_copy / "cifar-10-batches-py" / CIFAR_CACHE).exists()


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
    assert (len(train), len(test)) == (MNIST.sizes[True], MNIST.sizes[False])
