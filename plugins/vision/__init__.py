"""The vision plugin: image layers, batched image transforms, image datasets and CNN models.

``from plugins.vision import Conv2d, MaxPool2d, AvgPool2d, BatchNorm2d, Flatten`` (plus the
transforms and dataset loaders). Submodules load on first use, so discovering the plugin
(which imports this package) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from plugins.vision.datasets import load_cifar10, load_mnist, make_shapes
    from plugins.vision.layers import AvgPool2d, BatchNorm2d, Conv2d, Flatten, MaxPool2d
    from plugins.vision.transforms import Compose, Normalize, RandomCrop, RandomHorizontalFlip

_LAZY = {
    "Conv2d": "plugins.vision.layers",
    "MaxPool2d": "plugins.vision.layers",
    "AvgPool2d": "plugins.vision.layers",
    "BatchNorm2d": "plugins.vision.layers",
    "Flatten": "plugins.vision.layers",
    "Compose": "plugins.vision.transforms",
    "Normalize": "plugins.vision.transforms",
    "RandomCrop": "plugins.vision.transforms",
    "RandomHorizontalFlip": "plugins.vision.transforms",
    "make_shapes": "plugins.vision.datasets",
    "load_mnist": "plugins.vision.datasets",
    "load_cifar10": "plugins.vision.datasets",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'plugins.vision' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value
