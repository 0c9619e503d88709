"""Keras-style training helpers: ``fit``, ``evaluate`` and ``predict`` over in-memory data.

Data is an :class:`~dlcourse.data.ImageDataset` or an ``(images, labels)`` pair of tensors.
``prepare`` turns a batch of stored images into model input (e.g. uint8 -> float in [0, 1]);
it runs batch by batch, so a float copy of a whole dataset never has to sit in memory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Union

import torch
from torch import nn

from .data import ImageDataset
from .device import device_of

Data = Union[ImageDataset, tuple[torch.Tensor, torch.Tensor]]
Prepare = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class History:
    """Per-epoch metrics recorded by :func:`fit` (validation lists stay empty without val_data)."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        return len(self.loss)


@dataclass(frozen=True)
class Evaluation:
    loss: float
    accuracy: float

    def __str__(self) -> str:
        return f"loss {self.loss:.4f} - accuracy {self.accuracy:.2%}"


def batches(data: Data, batch_size: int, *, shuffle: bool = False,
            prepare: Prepare | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(inputs, labels)`` batches; a dataset's per-image ``transform`` is applied here."""
    take: Callable[[torch.Tensor], torch.Tensor]
    if isinstance(data, ImageDataset):
        take, labels, transform = data.take, data.labels, data.transform
    else:
        (images, labels), transform = data, None
        take = images.__getitem__
    order = torch.randperm(len(labels)) if shuffle else torch.arange(len(labels))
    for index in order.split(batch_size):
        x = take(index)
        if transform is not None:
            x = torch.stack([transform(image) for image in x])
        if prepare is not None:
            x = prepare(x)
        if x.dim() == 4:  # convolutions run ~20% faster on CPU in this layout
            x = x.contiguous(memory_format=torch.channels_last)
        yield x, labels[index]


def fit(model: nn.Module, train_data: Data, *, optimizer: torch.optim.Optimizer, epochs: int = 1,
        batch_size: int = 64, prepare: Prepare | None = None, val_data: Data | None = None,
        loss_fn: nn.Module | None = None, scheduler=None, progress: bool = True) -> History:
    """Train ``model`` for ``epochs`` passes over shuffled ``train_data``; return the history.

    Each epoch starts with ``model.train()``, and the network is left in training mode (as a
    PyTorch loop leaves it): call ``model.eval()`` before using it yourself; :func:`evaluate`
    and :func:`predict` do, and restore the mode they found.
    ``scheduler``, if given, is stepped after every batch (e.g. ``OneCycleLR``). With
    ``progress``, each epoch shows a progress bar and ends with one printed line of its
    metrics: a notebook saves printed text, but not the bars (widgets), so the line is what
    the submitted notebook keeps of the training.
    """
    from tqdm.auto import tqdm

    loss_fn = loss_fn or nn.CrossEntropyLoss()
    device = device_of(model)
    model.to(memory_format=torch.channels_last)  # matches the batches; the state_dict is unchanged
    history = History()
    n_batches = -(-len(_labels(train_data)) // batch_size)
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        model.train()
        total_loss, correct, seen = 0.0, 0, 0
        bar = tqdm(total=n_batches, desc=f"epoch {epoch}/{epochs}", unit="batch",
                   disable=not progress, leave=True)
        for step, (x, y) in enumerate(batches(train_data, batch_size, shuffle=True, prepare=prepare)):
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            logits = model(x)
            loss = loss_fn(logits, y)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total_loss += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
            bar.update()
            if step % 20 == 0:
                bar.set_postfix(loss=f"{total_loss / seen:.4f}", accuracy=f"{correct / seen:.2%}")
        history.loss.append(total_loss / seen)
        history.accuracy.append(correct / seen)
        metrics = {"loss": f"{history.loss[-1]:.4f}", "accuracy": f"{history.accuracy[-1]:.2%}"}
        if val_data is not None:
            val = evaluate(model, val_data, prepare=prepare, loss_fn=loss_fn)
            history.val_loss.append(val.loss)
            history.val_accuracy.append(val.accuracy)
            metrics.update(val_loss=f"{val.loss:.4f}", val_accuracy=f"{val.accuracy:.2%}")
        history.seconds.append(time.perf_counter() - start)
        bar.set_postfix(metrics)
        bar.close()
        if progress:
            print(epoch_line(history, epochs), flush=True)
    return history


def epoch_line(history: History, epochs: int) -> str:
    """``epoch 2/5 - 2.1 s - loss 0.1234 - accuracy 96.12% - val_loss ... - val_accuracy ...``"""
    i = history.epochs - 1
    parts = [f"epoch {history.epochs}/{epochs}", f"{history.seconds[i]:.1f} s", f"loss {history.loss[i]:.4f}",
             f"accuracy {history.accuracy[i]:.2%}"]
    if history.val_loss:
        parts += [f"val_loss {history.val_loss[i]:.4f}", f"val_accuracy {history.val_accuracy[i]:.2%}"]
    return " - ".join(parts)


@torch.no_grad()
def evaluate(model: nn.Module, data: Data, *, prepare: Prepare | None = None,
             batch_size: int = 100, loss_fn: nn.Module | None = None) -> Evaluation:
    """Mean loss and accuracy of ``model`` on ``data``, in eval mode, batch by batch."""
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    device = device_of(model)
    was_training = model.training
    model.eval()
    try:
        total_loss, correct, seen = 0.0, 0, 0
        for x, y in batches(data, batch_size, prepare=prepare):
            x, y = x.to(device), y.to(device)
            logits = model(x)
            total_loss += loss_fn(logits, y).item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
    finally:
        model.train(was_training)
    return Evaluation(loss=total_loss / seen, accuracy=correct / seen)


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, *, prepare: Prepare | None = None,
            batch_size: int = 100) -> torch.Tensor:
    """The predicted class of each image in ``images`` (a batch of stored images)."""
    labels = torch.zeros(len(images), dtype=torch.long)
    device = device_of(model)
    was_training = model.training
    model.eval()
    try:
        predictions = [model(x.to(device)).argmax(1).cpu()
                       for x, _ in batches((images, labels), batch_size, prepare=prepare)]
    finally:
        model.train(was_training)
    return torch.cat(predictions) if predictions else labels


@torch.no_grad()
def confusion_matrix(model: nn.Module, data: Data, *, prepare: Prepare | None = None,
                     classes: int = 10) -> torch.Tensor:
    """How often each class is predicted as each other: ``matrix[true, predicted]`` counts images."""
    labels = _labels(data)
    images = data.images if isinstance(data, ImageDataset) else data[0]
    predicted = predict(model, images, prepare=prepare)
    return torch.bincount(labels * classes + predicted, minlength=classes * classes).view(classes, classes)


def _labels(data: Data) -> torch.Tensor:
    return data.labels if isinstance(data, ImageDataset) else data[1]
