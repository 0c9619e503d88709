"""Plots students look at: learning curves, test images with predicted vs true labels, and
what a network does inside (filters, feature maps, a confusion matrix)."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .data import ImageDataset
from .training import History, Prepare, predict


def plot_history(history: History):
    """Loss and accuracy per epoch, training against validation; returns the figure."""
    import matplotlib.pyplot as plt

    epochs = range(1, history.epochs + 1)
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 3.5))
    for ax, name in ((loss_ax, "loss"), (acc_ax, "accuracy")):
        ax.plot(epochs, getattr(history, name), "o-", label="training")
        if getattr(history, f"val_{name}"):
            ax.plot(epochs, getattr(history, f"val_{name}"), "o-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def show_predictions(model: nn.Module, data: ImageDataset, *, prepare: Prepare | None = None,
                     n: int = 16, classes: Sequence[str] | None = None, seed: int = 0):
    """A grid of ``n`` random images titled "predicted (true)"; wrong predictions in red."""
    import matplotlib.pyplot as plt

    classes = list(classes or data.classes)
    index = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
    images, labels = data.take(index), data.labels[index]
    predicted = predict(model, images, prepare=prepare)
    cols = min(n, 8)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.9 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, truth, guess in zip(axes.flat, images, labels, predicted):
        picture = image.permute(1, 2, 0).squeeze(-1).numpy()
        ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None)
        ax.set_title(f"{classes[guess]}\n({classes[truth]})", fontsize=8,
                     color="black" if guess == truth else "red")
    fig.tight_layout()
    return fig


def show_images(pictures: Sequence[torch.Tensor], titles: Sequence[str] | None = None, *, cols: int = 8,
                size: float = 1.6):
    """A grid of pictures, each a ``(H, W)`` grey or ``(3, H, W)`` colour tensor (any scale:
    each is shown from its own darkest to its brightest value); returns the figure."""
    import matplotlib.pyplot as plt

    cols = max(1, min(cols, len(pictures)))
    rows = max(1, math.ceil(len(pictures) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, (size + 0.3) * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for k, (ax, picture) in enumerate(zip(axes.flat, pictures)):
        picture = picture.detach().float().cpu()
        if picture.ndim == 3:  # colour: stretched to [0, 1] as a whole, so hues keep their balance
            low, high = picture.min(), picture.max()
            ax.imshow(((picture - low) / (high - low + 1e-12)).permute(1, 2, 0).numpy())
        else:
            ax.imshow(picture.numpy(), cmap="gray")
        if titles is not None and k < len(titles):
            ax.set_title(titles[k], fontsize=8)
    fig.tight_layout()
    return fig


def show_filters(conv: nn.Conv2d, *, n: int = 32):
    """The first ``n`` filters of a network's first convolution, one picture each: grey for
    one input channel, colour for three (bright: a large positive weight); returns the figure."""
    weight = conv.weight.detach()[:n]
    if weight.shape[1] not in (1, 3):
        raise ValueError(f"show_filters draws filters over 1 or 3 input channels (a first layer); "
                         f"this one reads {weight.shape[1]}")
    pictures = [w[0] if len(w) == 1 else w for w in weight]
    return show_images(pictures, [f"filter {k}" for k in range(len(pictures))], size=1.1)


@torch.no_grad()
def show_feature_maps(layers: nn.Module, image: torch.Tensor, *, prepare: Prepare | None = None, n: int = 15):
    """What ``layers`` (e.g. ``model[:2]``, the first convolution and its ReLU) make of one
    stored ``image``: the image, then its first ``n`` feature maps; returns the figure."""
    was_training = layers.training
    layers.eval()
    try:
        x = image.unsqueeze(0)
        maps = layers(prepare(x) if prepare is not None else x.float())[0]
    finally:
        layers.train(was_training)
    picture = image if image.shape[0] == 3 else image[0]
    return show_images([picture, *maps[:n]], ["image", *(f"map {k}" for k in range(min(n, len(maps))))])


def plot_confusion_matrix(matrix: torch.Tensor, classes: Sequence[str]):
    """A confusion matrix (rows: true class, columns: predicted class) as a heat map with
    the counts written in; returns the figure."""
    import matplotlib.pyplot as plt

    counts = matrix.detach().cpu().numpy()
    fig, ax = plt.subplots(figsize=(0.6 * len(classes) + 2, 0.6 * len(classes) + 1.5))
    ax.imshow(counts, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for (row, col), count in np.ndenumerate(counts):
        ax.text(col, row, str(int(count)), ha="center", va="center", fontsize=7,
                color="white" if count > counts.max() / 2 else "black")
    fig.tight_layout()
    return fig
