"""Checks of a training loop and an evaluation loop that students write (lesson 1).

Each check runs the student's function on a small network and batches it makes from a seed,
beside the loop the lesson teaches, and names the usual slips by what they do to the network:
no ``optimizer.step()`` (nothing changes), no ``optimizer.zero_grad()`` (gradients pile up
from batch to batch), one step for the whole epoch, ``model.train()`` or ``model.eval()``
forgotten (the mode the forward passes ran in), no ``torch.no_grad()`` (gradients recorded
while evaluating), batch accuracies averaged (a smaller last batch counts as much as a full one).

While grading, the student's function runs in the notebook's kernel: the network and the
optimizer travel there and come back changed, and the network's forward pre-hooks see each
forward pass as it ran (:mod:`dlcourse.grading.proxies`), so these checks read the same there
as in the notebook.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any, Callable

import torch
from torch import nn

from .probe_sgd import sgd

Batches = list[tuple[torch.Tensor, torch.Tensor]]
FEATURES, CLASSES = 6, 3


def probe_network(seed: int, dropout: bool = False) -> nn.Module:
    """A small network of the lesson's kind (Linear, ReLU, Linear), made from ``seed``."""
    torch.manual_seed(seed)
    layers = [nn.Linear(FEATURES, 8), nn.ReLU(), nn.Linear(8, CLASSES)]
    if dropout:
        layers.insert(2, nn.Dropout(0.5))
    return nn.Sequential(*layers)


def probe_batches(seed: int, sizes: tuple[int, ...]) -> Batches:
    """``(inputs, labels)`` batches of the given sizes, made from ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    return [(torch.randn(n, FEATURES, generator=generator), torch.randint(0, CLASSES, (n,), generator=generator))
            for n in sizes]


def _reference_epoch(model: nn.Module, batches: Batches, lr: float, zero_grad: bool = True,
                     steps: Collection[int] | None = None) -> list[float]:
    """The lesson's loop on ``model`` (SGD at ``lr``); ``zero_grad=False`` and ``steps`` (the
    batches after which it steps; None: each) make the typical slips, to recognise them. Returns
    each batch's loss. Each step is plain SGD's update, ``p -= lr * p.grad``, written out (what
    ``torch.optim.SGD.step`` does with no momentum or weight decay), so the reference does not
    rest on the optimizer it checks."""
    loss_fn, losses = nn.CrossEntropyLoss(), []
    model.train()
    for index, (x, y) in enumerate(batches):
        if zero_grad:
            model.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        if steps is None or index in steps:
            with torch.no_grad():
                for parameter in model.parameters():
                    if parameter.grad is not None:
                        parameter.add_(parameter.grad, alpha=-lr)
        losses.append(loss.item())
    return losses


def _same(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.allclose(p, q, atol=1e-5) for p, q in zip(a.parameters(), b.parameters()))


def _number(value: Any, name: str) -> float:
    if torch.is_tensor(value) and value.numel() == 1:
        value = value.item()
    assert isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value), \
        f"`{name}` should return a number (use loss.item() for a float); it returned {type(value).__name__}"
    return float(value)


def check_train_epoch(train_epoch: Callable, seed: int, sizes: tuple[int, ...] = (5, 5, 3)) -> None:
    """``train_epoch(model, optimizer, loss_fn, batches)`` makes one SGD step per batch as the
    lesson's loop does, returns the mean of the batches' losses, and leaves ``model`` in
    training mode. Raises AssertionError naming the slip."""
    from .answers import student_function

    train_epoch = student_function(train_epoch, "train_epoch")
    lr, batches = 0.5, probe_batches(seed, sizes)
    model = probe_network(seed)
    model.eval()  # as an evaluation leaves it: the loop must switch training mode on itself
    before = probe_network(seed)
    returned = train_epoch(model, sgd(model.parameters(), lr=lr), nn.CrossEntropyLoss(), batches)

    expected = probe_network(seed)
    losses = _reference_epoch(expected, batches, lr)
    if not _same(model, expected):
        assert not _same(model, before), (
            "train_epoch changed no parameter: after loss.backward(), call optimizer.step(); and call "
            "optimizer.zero_grad() before the backward pass, not between it and the step")
        piled = probe_network(seed)
        _reference_epoch(piled, batches, lr, zero_grad=False)
        assert not any(_same(model, one_step) for one_step in _one_step_epochs(seed, batches, lr)), (
            "train_epoch made one optimizer step for the whole epoch: the steps zero_grad, forward, loss, "
            "backward, step belong inside the loop, once per batch")
        assert not _same(model, piled), (
            "train_epoch lets gradients pile up: PyTorch adds each backward pass's gradients to those already "
            "there, so call optimizer.zero_grad() at the start of every step")
        raise AssertionError(
            f"after an epoch of {len(batches)} batches, the parameters differ from those the steps zero_grad, "
            f"forward (model(images)), loss (loss_fn(scores, labels)), backward, step give, once per batch")
    assert model.training, (
        "train_epoch left the network in evaluation mode: call model.train() at its start (an evaluation "
        "before it switched training mode off, and dropout acts only in training mode)")
    loss = _number(returned, "train_epoch")
    mean = sum(losses) / len(losses)
    weighted = sum(l * len(y) for l, (_, y) in zip(losses, batches)) / sum(len(y) for _, y in batches)
    if not (math.isclose(loss, mean, rel_tol=1e-4) or math.isclose(loss, weighted, rel_tol=1e-4)):
        named = " (that is the last batch's loss)" if math.isclose(loss, losses[-1], rel_tol=1e-4) else ""
        raise AssertionError(f"train_epoch should return the mean of the batches' losses, {mean:.4f}; "
                             f"it returned {loss:.4f}{named}")


def _one_step_epochs(seed: int, batches: Batches, lr: float) -> list[nn.Module]:
    """The network after the ways students make one step for the whole epoch: a step after the
    first batch only, or one ``optimizer.step()`` after the loop, with the last batch's
    gradients (zero_grad inside the loop) or all of them summed (zero_grad never, or once
    before the loop: the probe network starts with none)."""
    made = []
    for zero_grad, step in ((True, 0), (True, len(batches) - 1), (False, len(batches) - 1)):
        network = probe_network(seed)
        _reference_epoch(network, batches, lr, zero_grad=zero_grad, steps={step})
        made.append(network)
    return made


def check_evaluate_accuracy(evaluate_accuracy: Callable, seed: int, sizes: tuple[int, ...] = (6, 6, 2)) -> None:
    """``evaluate_accuracy(model, batches)`` returns the fraction of all the batches' images whose
    largest score is their label, from forward passes in evaluation mode without gradients.
    Raises AssertionError naming the slip."""
    from .answers import student_function

    evaluate_accuracy = student_function(evaluate_accuracy, "evaluate_accuracy")
    batches = probe_batches(seed, sizes)
    model = probe_network(seed, dropout=True)
    model.train()  # as training leaves it: the evaluation must switch dropout off itself
    seen: list[tuple[bool, bool]] = []
    hook = model.register_forward_pre_hook(lambda m, args: seen.append((torch.is_grad_enabled(), m.training)))
    try:
        returned = evaluate_accuracy(model, batches)
    finally:
        hook.remove()
    assert seen, "evaluate_accuracy never ran the network on the batches"
    assert not any(training for _, training in seen), (
        "evaluate_accuracy ran the network in training mode, where dropout drops units at random: call "
        "model.eval() before the loop")
    assert not any(grad for grad, _ in seen), (
        "evaluate_accuracy recorded gradients: run the loop inside `with torch.no_grad():`, or PyTorch keeps "
        "every step of the computation for a backward pass that never comes (memory and time)")
    accuracy = _number(returned, "evaluate_accuracy")
    reference = probe_network(seed, dropout=True).eval()
    with torch.no_grad():
        right = [(reference(x).argmax(dim=1) == y).sum().item() for x, y in batches]
    expected = sum(right) / sum(len(y) for _, y in batches)
    if math.isclose(accuracy, expected, abs_tol=1e-6):
        return
    averaged = sum(r / len(y) for r, (_, y) in zip(right, batches)) / len(batches)
    assert not math.isclose(accuracy, averaged, abs_tol=1e-6) or math.isclose(averaged, expected), (
        "evaluate_accuracy averaged the batches' accuracies, so a smaller last batch counts as much as a full "
        "one: count the correct images over all batches and divide by the number of images")
    assert not math.isclose(accuracy, 100 * expected, abs_tol=1e-4), \
        "evaluate_accuracy should return a fraction between 0 and 1, not a percentage"
    raise AssertionError(f"evaluate_accuracy should return the fraction of images whose largest score is their "
                         f"label: {expected:.4f} here; it returned {accuracy:.4f}")
