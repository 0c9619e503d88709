"""Lesson 1's training-loop check (dlcourse/checks/loops.py) on loops as students write them:
a right one passes, whatever it asks of the optimizer it is handed; each usual slip fails with
a message that names it."""

from __future__ import annotations

import pytest
import torch

from dlcourse.checks.loops import check_train_epoch


def right(model, optimizer, loss_fn, batches):
    model.train()
    losses = []
    for x, y in batches:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)


def exact_type(model, optimizer, loss_fn, batches):
    # honest code that compares the optimizer's type exactly (a reviewer's F5)
    assert type(optimizer) in (torch.optim.SGD, torch.optim.Adam), type(optimizer)
    assert type(optimizer) is torch.optim.SGD
    return right(model, optimizer, loss_fn, batches)


def with_a_scheduler(model, optimizer, loss_fn, batches):
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=100000)   # patches optimizer.step
    model.train()
    losses = []
    for x, y in batches:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)


def step_after_the_loop(model, optimizer, loss_fn, batches):
    model.train()
    losses = []
    for x, y in batches:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        losses.append(loss.item())
    optimizer.step()
    return sum(losses) / len(losses)


def accumulate_then_step(model, optimizer, loss_fn, batches):
    model.train()
    losses = []
    optimizer.zero_grad()
    for x, y in batches:
        loss = loss_fn(model(x), y)
        loss.backward()
        losses.append(loss.item())
    optimizer.step()
    return sum(losses) / len(losses)


def step_after_the_first_batch(model, optimizer, loss_fn, batches):
    model.train()
    losses = []
    for index, (x, y) in enumerate(batches):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        if index == 0:
            optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)


def no_zero_grad(model, optimizer, loss_fn, batches):
    model.train()
    losses = []
    for x, y in batches:
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)


@pytest.mark.parametrize("loop", [right, exact_type, with_a_scheduler])
@pytest.mark.parametrize("seed, sizes", [(0, (5, 5, 3)), (7, (2, 8, 4))])
def test_a_right_loop_passes(loop, seed, sizes):
    check_train_epoch(loop, seed, sizes)


@pytest.mark.parametrize("loop, named", [
    (step_after_the_loop, "one optimizer step for the whole epoch"),
    (accumulate_then_step, "one optimizer step for the whole epoch"),
    (step_after_the_first_batch, "one optimizer step for the whole epoch"),
    (no_zero_grad, "gradients pile up"),
])
@pytest.mark.parametrize("seed, sizes", [(0, (5, 5, 3)), (7, (2, 8, 4))])
def test_each_usual_slip_is_named(loop, named, seed, sizes):
    with pytest.raises(AssertionError, match=named):
        check_train_epoch(loop, seed, sizes)
