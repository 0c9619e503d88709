"""MNIST and CIFAR-10 as uint8 tensors, read from one data directory.

The data directory is ``$DLCOURSE_DATA`` (default: a per-user cache directory) and holds
the datasets in the layouts torchvision uses::

    MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte   (or the .gz originals)
    cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}

A missing dataset is downloaded with torchvision when the machine is online. The files
are then read directly rather than through torchvision's classes: importing torchvision
costs ~1.5 s and ~170 MB, which a grading run cannot afford, and torchvision's CIFAR10
rejects any copy whose MD5 differs from the original (such as a re-encoded offline copy).

Large sets are memory-mapped rather than read: uncompressed MNIST files as they are, and
CIFAR-10 through a raw copy of its pixels that the first load writes beside the batches
(``cifar-10-batches-py/dlcourse-cache/``). A mapped set costs no private memory: its pages
are the kernel's file cache, shared by every process that reads the set and reclaimable
under pressure. That is what lets a grading run fit Gradescope's 768 MB. Where the data
directory is read-only and no cache exists yet, the set is read into memory instead.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import pickle
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .atomic import atomic_file
from .datasets import CIFAR10Info, DatasetInfo, MNISTInfo
from .settings import DATA_ENV, SAMPLE_DIR, data_dir  # noqa: F401  (re-exported for students)

CIFAR_CACHE = "dlcourse-cache"
CACHE_MIN_BYTES = 16 * 2**20  # smaller sets (the bundled sample) are simply read


class DataNotFoundError(RuntimeError):
    """A dataset is neither on disk nor downloadable. The message is a single line."""

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of printing a traceback: students see one clear line.
        return [f"{type(self).__name__}: {self}"]


class ImageDataset(torch.utils.data.Dataset):
    """Images as one uint8 tensor ``(N, C, H, W)`` (often memory-mapped) and labels as one
    int64 tensor ``(N,)``.

    ``transform``, if given, is applied to each image (a uint8 ``(C, H, W)`` tensor) when
    it is read, e.g. random augmentation for training data. The parts made by :meth:`split`
    share the full set's storage (``indices`` says which images are theirs), so splitting
    costs no memory: a grader's 768 MB have no room for a second copy of CIFAR-10.
    """

    classes: list[str] = []

    def __init__(self, images: torch.Tensor, labels: torch.Tensor,
                 classes: list[str] | None = None,
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 indices: torch.Tensor | None = None,
                 source: tuple[str, bool] | None = None) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError("images must be a uint8 tensor of shape (N, C, H, W)")
        count = len(images) if indices is None else len(indices)
        if count != len(labels):
            raise ValueError(f"{count} images but {len(labels)} labels")
        self._storage, self._indices = images, indices
        self.labels = labels.long()
        if classes is not None:
            self.classes = list(classes)
        self.transform = transform
        # (registered dataset name, train?) of the set the images come from: how a grader that
        # holds its own copy of the data rebuilds this set without being sent its pixels.
        self.source = source

    @property
    def indices(self) -> torch.Tensor | None:
        """Positions of this set's images in the full set (None: all of them, in order)."""
        return self._indices

    @property
    def images(self) -> torch.Tensor:
        """All of this dataset's images as one tensor (a split part gathers a copy)."""
        return self._storage if self._indices is None else self._storage[self._indices]

    def take(self, index: torch.Tensor | int) -> torch.Tensor:
        """The images at positions ``index``, without gathering the others."""
        return self._storage[index] if self._indices is None else self._storage[self._indices[index]]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.take(index)
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.labels[index])

    def split(self, n_val: int, seed: int = 0) -> tuple[ImageDataset, ImageDataset]:
        """Hold out ``n_val`` random images for validation; returns ``(train, val)``.

        The training part keeps this dataset's ``transform``; the validation part has none.
        """
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        positions = order if self._indices is None else self._indices[order]
        train = ImageDataset(self._storage, self.labels[order[n_val:]], self.classes, self.transform,
                             indices=positions[n_val:], source=self.source)
        val = ImageDataset(self._storage, self.labels[order[:n_val]], self.classes, indices=positions[:n_val],
                           source=self.source)
        return train, val

    def __repr__(self) -> str:
        c, h, w = self._storage.shape[1:]
        extra = f", transform={self.transform}" if self.transform is not None else ""
        return f"{type(self).__name__}({len(self)} images of {c}x{h}x{w}, {len(self.classes)} classes{extra})"


class MNIST(MNISTInfo, ImageDataset):
    """The MNIST digits: 60,000 training and 10,000 test images of 1x28x28."""

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True,
                 download: bool = True,
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        root = Path(root) if root is not None else data_dir()
        raw = root / self.folder
        names = self.files[train]
        found = [_find_idx(raw, name) for name in names]
        if None in found:
            _fetch(self, raw, root, train, download)
            found = [_find_idx(raw, name) for name in names]
        image_file, label_file = found
        if image_file is None or label_file is None:
            raise DataNotFoundError(f"{self.title} is not in {raw}")
        images = _read_idx(image_file).unsqueeze(1)
        labels = _read_idx(label_file)
        super().__init__(images, labels, transform=transform, source=(self.name, train))


class CIFAR10(CIFAR10Info, ImageDataset):
    """CIFAR-10: 50,000 training and 10,000 test colour images of 3x32x32 in 10 classes.

    Reads every ``data_batch_*`` file (or ``test_batch``) of the official python layout,
    so a partial or re-encoded copy works as well as the original.
    """

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True,
                 download: bool = True,
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        root = Path(root) if root is not None else data_dir()
        folder = root / self.folder
        files = sorted(folder.glob("data_batch_*")) if train else [folder / "test_batch"]
        if not files or not all(f.is_file() for f in files):
            _fetch(self, folder, root, train, download)
            files = sorted(folder.glob("data_batch_*")) if train else [folder / "test_batch"]
        pixels, label_array = _cifar_pixels(folder, files, "train" if train else "test")
        images, labels = torch.from_numpy(pixels).view(-1, 3, 32, 32), torch.from_numpy(label_array)
        super().__init__(images, labels, classes=_cifar_class_names(folder), transform=transform,
                         source=(self.name, train))


def _fetch(info: type[DatasetInfo] | DatasetInfo, where: Path, root: Path, train: bool, download: bool) -> None:
    """Download a missing dataset's split with torchvision, or raise a one-line DataNotFoundError."""
    hint = f"put it there, or set {DATA_ENV} to a directory that holds it"
    if not download:
        raise DataNotFoundError(f"{info.title} is not in {where}; {hint}.")
    try:
        import torchvision.datasets

        # torchvision prints each failed mirror; keep that noise out of the student's view.
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            getattr(torchvision.datasets, info.torchvision_name)(root=str(root), train=train, download=True)
    except Exception as error:  # any network or archive failure means "not available"
        raise DataNotFoundError(
            f"{info.title} is not in {where} and could not be downloaded ({_root_cause(error)}); {hint}.") from None


def _root_cause(error: BaseException) -> str:
    """The innermost exception's first line: "Name or service not known" beats a wrapper's text."""
    while (inner := error.__cause__ or error.__context__) is not None:
        error = inner
    text = str(error).strip().splitlines()
    return text[0].rstrip(" :") if text else type(error).__name__


def _find_idx(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _read_idx(path: Path) -> torch.Tensor:
    """An IDX file of unsigned bytes (the MNIST format) as a uint8 tensor: mapped, or read
    when it is gzipped."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        magic = int.from_bytes(f.read(4), "big")
        if magic >> 8 != 0x08:  # 0x08 = unsigned byte; the low byte is the number of dimensions
            raise DataNotFoundError(f"{path} is not an IDX file of unsigned bytes")
        shape = tuple(int.from_bytes(f.read(4), "big") for _ in range(magic & 0xFF))
        if path.suffix == ".gz":
            return torch.from_numpy(np.frombuffer(f.read(), dtype=np.uint8).reshape(shape).copy())
    return torch.from_numpy(np.memmap(path, dtype=np.uint8, mode="c", offset=4 + 4 * len(shape), shape=shape))


def _cifar_pixels(folder: Path, files: list[Path], split: str) -> tuple[np.ndarray, np.ndarray]:
    """The pixels ``(N, 3072)`` and labels of the CIFAR batches ``files``: mapped from the
    cache (written now if missing), or read into memory where the cache cannot be written."""
    stats = [f.stat() for f in files]
    if sum(st.st_size for st in stats) < CACHE_MIN_BYTES:
        return _read_cifar_batches(files)
    stamp = hashlib.sha1("".join(f"{f.name}:{st.st_size}:{st.st_mtime_ns};" for f, st in zip(files, stats)).encode())
    pixels = folder / CIFAR_CACHE / f"{split}-{stamp.hexdigest()[:12]}.uint8"
    labels = pixels.with_suffix(".labels.npy")
    try:
        if not labels.is_file():
            _write_cifar_cache(files, pixels, labels)
        label_array = np.load(labels)
        return np.memmap(pixels, dtype=np.uint8, mode="c", shape=(len(label_array), 3072)), label_array
    except (OSError, ValueError):  # a read-only data directory, or a cache cut short
        return _read_cifar_batches(files)


def _write_cifar_cache(files: list[Path], pixels: Path, labels: Path) -> None:
    """Stream each batch's pixels into ``pixels``, one batch in memory at a time. The labels
    file is written last: its presence says the cache is complete."""
    pixels.parent.mkdir(mode=0o755, exist_ok=True)
    all_labels = []
    with atomic_file(pixels) as out:
        for f in files:
            data, batch_labels = _read_cifar_batch(f)
            out.write(data.tobytes())
            all_labels.append(batch_labels)
    with atomic_file(labels) as out:
        np.save(out, np.concatenate(all_labels))
    for stale in pixels.parent.glob(pixels.name.split("-")[0] + "-*"):  # caches of older copies
        if stale not in (pixels, labels):
            stale.unlink(missing_ok=True)


def _read_cifar_batches(files: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    batches = [_read_cifar_batch(f) for f in files]
    # One batch (the test set) is used as read: a copy would cost 30 MB for nothing.
    if len(batches) == 1:
        return batches[0]
    images, labels = zip(*batches)
    return np.concatenate(images), np.concatenate(labels)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    return data, labels


def _cifar_class_names(folder: Path) -> list[str]:
    meta = folder / "batches.meta"
    if not meta.is_file():
        return list(CIFAR10Info.classes)
    with open(meta, "rb") as f:
        names = pickle.load(f, encoding="bytes").get(b"label_names")
    return [n.decode() for n in names] if names else list(CIFAR10Info.classes)


def channel_stats(images: torch.Tensor | ImageDataset, chunk: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of uint8 images scaled to [0, 1], computed chunk by chunk.

    ``images`` is a tensor or a dataset; a dataset's images are read a chunk at a time, so
    a split part (whose images are scattered through the full set) is never gathered whole.
    Each chunk is one float64 copy, squared in place: 12 MB for 500 CIFAR-10 images. (Three
    copies of 2,000 images, 150 MB, were the judge's largest allocation, made while the
    student's kernel still held its own memory: benchmarks/README.md, "Gradescope emulation".)
    """
    if isinstance(images, ImageDataset):
        parts = (images.take(index) for index in torch.arange(len(images)).split(chunk))
        shape = (len(images), *images.take(0).shape)
    else:
        parts, shape = images.split(chunk), tuple(images.shape)
    total = torch.zeros(shape[1], dtype=torch.float64)
    squares = torch.zeros_like(total)
    for part in parts:
        x = part.to(torch.float64).div_(255)
        total += x.sum(dim=(0, 2, 3))
        squares += x.square_().sum(dim=(0, 2, 3))
    count = shape[0] * shape[2] * shape[3]
    mean = total / count
    std = (squares / count - mean**2).sqrt()
    return mean.float(), std.float()
