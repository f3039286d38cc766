"""CNN classifiers built from the vision layers and the core's ``Linear`` / ``ReLU`` / ``Sequential``."""

from __future__ import annotations

from collections.abc import Sequence

from plugins.vision.layers import BatchNorm2d, Conv2d, Flatten, MaxPool2d
from tinytorch_core.nn import Linear, Module, ReLU, Sequential

__all__ = ["lenet", "simple_cnn"]


def _check_common(name: str, in_channels: int, num_classes: int, image_size: int) -> None:
    if in_channels < 1 or num_classes < 2 or image_size < 1:
        raise ValueError(
            f"{name}: need in_channels >= 1, num_classes >= 2 and image_size >= 1, got in_channels={in_channels}, "
            f"num_classes={num_classes}, image_size={image_size}"
        )


def lenet(in_channels: int = 1, num_classes: int = 10, image_size: int = 28) -> Sequential:
    """LeNet-5-like: conv5(6, pad 2) - pool - conv5(16) - pool - 120 - 84 - classes, with ReLU and max pooling.

    For 28x28 input this is the classic 32x32 LeNet-5 geometry (the padding stands in for the
    border); ``image_size`` sets the flattened size, so 1- and 3-channel images of any size >= 12 work.
    """
    _check_common("lenet", in_channels, num_classes, image_size)
    after_conv2 = image_size // 2 - 4
    if after_conv2 < 2:
        raise ValueError(f"lenet: image_size must be at least 12 pixels (two 5x5 convs and two 2x2 pools), got {image_size}")
    side = after_conv2 // 2
    return Sequential(
        Conv2d(in_channels, 6, 5, padding=2), ReLU(), MaxPool2d(2),
        Conv2d(6, 16, 5), ReLU(), MaxPool2d(2),
        Flatten(),
        Linear(16 * side * side, 120), ReLU(),
        Linear(120, 84), ReLU(),
        Linear(84, num_classes),
    )


def simple_cnn(
    in_channels: int = 1,
    num_classes: int = 10,
    image_size: int = 28,
    channels: Sequence[int] = (16, 32),
    hidden: int = 64,
    batch_norm: bool = True,
) -> Sequential:
    """``[conv3x3 (pad 1) - BatchNorm - ReLU - maxpool 2] x len(channels)``, then ``hidden`` units and the classes."""
    _check_common("simple_cnn", in_channels, num_classes, image_size)
    widths = [int(c) for c in channels]
    if not widths or min(widths) < 1 or hidden < 1:
        raise ValueError(f"simple_cnn: channels must be a non-empty list of positive ints and hidden >= 1, "
                         f"got channels={list(channels)}, hidden={hidden}")
    side = image_size
    layers: list[Module] = []
    previous = in_channels
    for width in widths:
        if side < 2:
            raise ValueError(f"simple_cnn: image_size {image_size} is too small for {len(widths)} pooling stages "
                             f"(each halves it); use fewer channels entries or larger images")
        layers += [Conv2d(previous, width, 3, padding=1, bias=not batch_norm)]
        if batch_norm:
            layers.append(BatchNorm2d(width))
        layers += [ReLU(), MaxPool2d(2)]
        previous, side = width, side // 2
    layers += [Flatten(), Linear(previous * side * side, hidden), ReLU(), Linear(hidden, num_classes)]
    return Sequential(*layers)
