"""Cut the small bundled dataset sample (dlcourse/sample_data) out of a full data directory.

    python scripts/make_sample_data.py FULL_DATA_DIR

Writes the same layouts the full data uses, so the sample goes through the same readers:
MNIST as gzipped IDX files, CIFAR-10 as official python-layout batches.
"""

import gzip
import pickle
import sys
from pathlib import Path

import numpy as np

from dlcourse.data import CIFAR10, MNIST, SAMPLE_DIR
from dlcourse.datasets import DATASETS


def pick(n_total: int, n: int, seed: int) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).choice(n_total, size=n, replace=False))


def write_idx(path: Path, array: np.ndarray) -> None:
    header = (0x0800 | array.ndim).to_bytes(4, "big")
    header += b"".join(d.to_bytes(4, "big") for d in array.shape)
    # mtime=0 keeps the gzip bytes identical from run to run.
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(header + array.astype(np.uint8).tobytes())


def write_mnist(full: Path) -> None:
    raw = SAMPLE_DIR / MNIST.folder
    raw.mkdir(parents=True, exist_ok=True)
    for train in (True, False):
        ds = MNIST(full, train=train, download=False)
        idx = pick(len(ds), MNIST.sample_sizes[train], seed=int(train))
        images, labels = MNIST.files[train]
        write_idx(raw / f"{images}.gz", ds.images[idx, 0].numpy())
        write_idx(raw / f"{labels}.gz", ds.labels[idx].numpy())


def write_cifar10(full: Path) -> None:
    folder = SAMPLE_DIR / CIFAR10.folder
    folder.mkdir(parents=True, exist_ok=True)
    for train in (True, False):
        (name,) = CIFAR10.sample_files[train]  # the sample's training images fit in one batch
        ds = CIFAR10(full, train=train, download=False)
        idx = pick(len(ds), CIFAR10.sample_sizes[train], seed=int(train))
        batch = {b"batch_label": f"dlcourse sample ({name})".encode(),
                 b"labels": ds.labels[idx].tolist(),
                 b"data": ds.images[idx].reshape(len(idx), -1).numpy(),
                 b"filenames": [f"sample_{i}.png".encode() for i in idx]}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=4)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [c.encode() for c in CIFAR10.classes]}, f, protocol=4)


WRITERS = {"mnist": write_mnist, "cifar10": write_cifar10}  # each registered dataset's own format


def main(full: Path) -> None:
    missing = set(DATASETS) - set(WRITERS)
    if missing:
        raise SystemExit(f"no sample writer for dataset(s) {', '.join(sorted(missing))}")
    for name in DATASETS:
        WRITERS[name](full)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
