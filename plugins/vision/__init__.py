"""The vision plugin: image layers, batched image transforms, image datasets and CNN models.

``from plugins.vision import Conv2d, MaxPool2d, AvgPool2d, BatchNorm2d, Flatten`` (plus the
transforms and dataset loaders). Submodules load on first use, so discovering the plugin
(which imports this package) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from plugins.vision.datasets import load_cifar10 as load_cifar10
    from plugins.vision.datasets import load_mnist as load_mnist
    from plugins.vision.datasets import load_shapes as load_shapes
    from plugins.vision.datasets import make_shapes as make_shapes
    from plugins.vision.layers import AvgPool2d as AvgPool2d
    from plugins.vision.layers import BatchNorm2d as BatchNorm2d
    from plugins.vision.layers import Conv2d as Conv2d
    from plugins.vision.layers import Flatten as Flatten
    from plugins.vision.layers import MaxPool2d as MaxPool2d
    from plugins.vision.transforms import Compose as Compose
    from plugins.vision.transforms import Normalize as Normalize
    from plugins.vision.transforms import RandomCrop as RandomCrop
    from plugins.vision.transforms import RandomHorizontalFlip as RandomHorizontalFlip

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
    "load_shapes": "plugins.vision.datasets",
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
