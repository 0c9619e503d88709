"""Checks of a layer students write from scratch (lesson 2: a convolution's forward pass),
against PyTorch's own on inputs drawn from a seed.

A wrong answer is compared with the usual slips (no bias, a flipped filter as in the
textbook definition of convolution, a stride ignored, height and width swapped) so that the
message names the one made.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F


def conv_case(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """(images, weight, bias, stride) drawn from ``seed``: a few images of 1-3 channels, not
    square, and 1-4 filters of 1-4 rows and columns, not square either."""
    generator = torch.Generator().manual_seed(seed)

    def between(low: int, high: int) -> int:
        return int(torch.randint(low, high + 1, (), generator=generator))

    channels, filters = between(1, 3), between(1, 4)
    rows, columns = between(1, 4), between(1, 4)
    images = torch.randn(between(1, 3), channels, rows + between(2, 8), columns + between(3, 9), generator=generator)
    weight = torch.randn(filters, channels, rows, columns, generator=generator)
    return images, weight, torch.randn(filters, generator=generator), between(1, 2)


def check_conv2d_forward(conv2d_forward: Callable, seed: int) -> None:
    """``conv2d_forward(images, weight, bias, stride)`` computes what ``F.conv2d`` does (no
    padding) on the case :func:`conv_case` draws from ``seed``. Raises AssertionError naming
    the slip."""
    from .answers import student_function

    conv2d_forward = student_function(conv2d_forward, "conv2d_forward")
    images, weight, bias, stride = conv_case(seed)
    expected = F.conv2d(images, weight, bias, stride=stride)
    yours = conv2d_forward(images.clone(), weight.clone(), bias.clone(), stride)
    assert torch.is_tensor(yours), f"conv2d_forward should return a tensor, not {type(yours).__name__}"
    yours = yours.detach().float()
    stride_slip = "it ignores the stride: the window moves `stride` pixels at a time, down and across"
    one_step = F.conv2d(images, weight, bias)
    slips = [
        ("it leaves out the bias: add bias[m] to every output of filter m",
         F.conv2d(images, weight, None, stride=stride)),
        ("it flips the filter (the textbook convolution); nn.Conv2d does not: output[i, j] multiplies the "
         "window starting at row i*stride, column j*stride by weight[..., u, v] at the same offsets u, v",
         F.conv2d(images, weight.flip(2, 3), bias, stride=stride)),
        (stride_slip, one_step),
        (stride_slip, one_step[:, :, :expected.shape[2], :expected.shape[3]]),  # the right size, windows 1 apart
    ]
    if yours.shape == expected.shape and torch.allclose(yours, expected, atol=1e-4, rtol=1e-4):
        return
    for slip, output in slips:
        if yours.shape == output.shape and torch.allclose(yours, output, atol=1e-4, rtol=1e-4):
            raise AssertionError(f"conv2d_forward differs from nn.Conv2d: {slip}")
    assert yours.shape == expected.shape, (
        f"conv2d_forward should return shape {tuple(expected.shape)} (images, filters, rows, columns) for images "
        f"{tuple(images.shape)}, weight {tuple(weight.shape)} and stride {stride}; it returned {tuple(yours.shape)}")
    raise AssertionError(
        "conv2d_forward differs from nn.Conv2d: each output is bias[m] plus the sum, over every input channel and "
        "every position of the filter, of the window's pixels times the filter's weights")
