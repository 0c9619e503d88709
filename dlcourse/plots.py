"""Plots students look at: learning curves, and test images with predicted vs true labels."""

from __future__ import annotations

import math
from typing import Sequence

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
