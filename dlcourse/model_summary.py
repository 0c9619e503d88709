"""A Keras-like model summary (layer, output shape, parameter count), drawn by torchinfo."""

from __future__ import annotations

from torch import nn


def summary(model: nn.Module, input_shape: tuple[int, ...], batch_size: int = 1):
    """torchinfo's summary of ``model`` for inputs of ``input_shape`` (without the batch dimension).

    The model runs one forward pass on zeros to find every layer's output shape. The returned
    table prints itself when it is the last line of a notebook cell (or pass it to ``print``).
    """
    import torchinfo

    from .device import device_of

    return torchinfo.summary(
        model, input_size=(batch_size, *input_shape),
        col_names=("output_size", "num_params"), row_settings=("var_names",),
        depth=4, verbose=0, device=device_of(model),  # torchinfo would move the network to its device
    )
