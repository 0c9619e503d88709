"""The datasets lessons use, registered in one place: ``DATASETS``.

Each dataset is a class whose facts are class attributes, as torchvision's are (its
folder, files, sizes, classes, the bundled sample's sizes). ``dlcourse.data`` reads the
images with a subclass of each (``dlcourse.data.MNIST`` is an ``MNISTInfo``); this module
needs no torch, so lesson.yaml's schema and the grader's own process can use it. The
``dlcourse data`` command, the autograder's set-up script (through the lesson's dataset)
and ``scripts/make_sample_data.py`` all read ``DATASETS``.

A new dataset is a new class here, its entry in ``DATASETS``, and a reader in ``dlcourse.data``
that subclasses it, named by the class's ``reader``: this module names its readers rather than
importing them, so the data layer depends on it and not the other way round.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from .data import ImageDataset


class DatasetInfo:
    """What is known about a dataset before it is read."""

    name: ClassVar[str]                         # as lesson.yaml and `dlcourse data` name it
    title: ClassVar[str]                        # as messages name it
    torchvision_name: ClassVar[str]             # the torchvision.datasets class that downloads it
    folder: ClassVar[str]                       # its folder under the data directory (torchvision's layout)
    files: ClassVar[dict[bool, tuple[str, ...]]]  # train? -> the split's files in ``folder``
    sizes: ClassVar[dict[bool, int]]            # train? -> images in the full split
    sample_sizes: ClassVar[dict[bool, int]]     # train? -> images in the bundled sample (dlcourse/sample_data)
    sample_files: ClassVar[dict[bool, tuple[str, ...]]]  # train? -> the split's files in the bundled sample
    shape: ClassVar[tuple[int, int, int]]       # one image: channels, height, width
    classes: ClassVar[list[str]]
    reader_class: ClassVar[str]                 # the dlcourse.data class that reads it (and subclasses this one)

    @classmethod
    def reader(cls) -> type[ImageDataset]:
        """The ``dlcourse.data`` class that reads this dataset (importing it loads torch)."""
        return getattr(importlib.import_module("dlcourse.data"), cls.reader_class)


class MNISTInfo(DatasetInfo):
    name = "mnist"
    title = "MNIST"
    torchvision_name = "MNIST"
    folder = "MNIST/raw"  # IDX files, as they are or gzipped
    files = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
    sizes = {True: 60_000, False: 10_000}
    sample_sizes = {True: 500, False: 1000}
    sample_files = files
    shape = (1, 28, 28)
    classes = [str(digit) for digit in range(10)]
    reader_class = "MNIST"


class CIFAR10Info(DatasetInfo):
    name = "cifar10"
    title = "CIFAR-10"
    torchvision_name = "CIFAR10"
    folder = "cifar-10-batches-py"  # the official python batches; any number of data_batch_* is read
    files = {True: tuple(f"data_batch_{i}" for i in range(1, 6)), False: ("test_batch",)}
    sizes = {True: 50_000, False: 10_000}
    sample_sizes = {True: 200, False: 500}
    sample_files = {True: ("data_batch_1",), False: ("test_batch",)}  # the sample's 200 fit one batch
    shape = (3, 32, 32)
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    reader_class = "CIFAR10"


DATASETS: dict[str, type[DatasetInfo]] = {info.name: info for info in (MNISTInfo, CIFAR10Info)}


def dataset_class(name: str) -> Callable[..., ImageDataset]:
    """The reader of the registered dataset ``name``: ``(root=None, train=True, download=True,
    transform=None)`` (a KeyError names the known ones)."""
    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r} (known: {', '.join(DATASETS)})")
    return DATASETS[name].reader()
