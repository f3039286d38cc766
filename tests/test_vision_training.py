"""Vision models train with the shared core (Linear, ReLU, CrossEntropyLoss, Adam, Trainer, DataLoader):
a small CNN learns the shapes set, LeNet learns real MNIST digits, and the models' shapes are checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from plugins.vision.datasets import load_mnist, load_shapes
from plugins.vision.metrics import accuracy
from plugins.vision.models import lenet, simple_cnn
from tinytorch_core import Tensor, manual_seed
from tinytorch_core.data import DataLoader
from tinytorch_core.losses import CrossEntropyLoss
from tinytorch_core.nn import Linear, ReLU
from tinytorch_core.optim import Adam, WarmupCosineLR
from tinytorch_core.training import Trainer


@pytest.mark.parametrize("in_channels,image_size", [(1, 28), (3, 32), (1, 16)])
def test_lenet_shapes(in_channels: int, image_size: int) -> None:
    model = lenet(in_channels=in_channels, num_classes=7, image_size=image_size)
    x = Tensor(np.zeros((2, in_channels, image_size, image_size), dtype=np.float32))
    assert model(x).shape == (2, 7)
    assert any(isinstance(m, Linear) for m in model.modules()) and any(isinstance(m, ReLU) for m in model.modules())
    if (in_channels, image_size) == (1, 28):
        assert lenet().num_parameters() == 61_706  # the classic LeNet-5 parameter count


def test_simple_cnn_shapes_and_errors() -> None:
    model = simple_cnn(in_channels=3, num_classes=5, image_size=20, channels=[4, 8, 8], hidden=16)
    assert model(Tensor(np.zeros((2, 3, 20, 20), dtype=np.float32))).shape == (2, 5)
    with pytest.raises(ValueError, match="image_size must be at least 12"):
        lenet(image_size=10)
    with pytest.raises(ValueError, match="too small for 3 pooling stages"):
        simple_cnn(image_size=3, channels=[4, 4, 4])
    with pytest.raises(ValueError, match=r"expected input with 1 channels \(N, 1, H, W\), got shape \(2, 3, 20, 20\)"):
        simple_cnn(in_channels=1, image_size=20)(Tensor(np.zeros((2, 3, 20, 20), dtype=np.float32)))


def _fit(model: object, splits: object, steps: int, batch_size: int, lr: float) -> None:
    from tinytorch_core.nn import Module

    assert isinstance(model, Module)
    optimizer = Adam(model.parameters(), lr=lr)
    trainer = Trainer(model, optimizer, CrossEntropyLoss(), scheduler=WarmupCosineLR(optimizer, 0, steps),
                      progress=False, log_every=None)
    loader = DataLoader(splits.train, batch_size=batch_size, shuffle=True, seed=0, drop_last=True)  # type: ignore[attr-defined]
    history = trainer.fit(loader, max_steps=steps)
    assert history.steps == steps
    assert np.mean(history.train_loss[-20:]) < 0.5 * np.mean(history.train_loss[:20])


def test_small_cnn_learns_shapes_to_90_percent() -> None:
    """A smaller version of configs/cnn-shapes.toml: 16x16 images, 3,000 samples, 500 steps."""
    manual_seed(0)
    splits = load_shapes(n_train=3000, n_val=1000, image_size=16, seed=0)
    model = simple_cnn(1, 4, 16, channels=[8, 16], hidden=32)
    _fit(model, splits, steps=500, batch_size=32, lr=3e-3)
    assert splits.val is not None
    acc = accuracy(model, splits.val)
    assert acc >= 0.90, f"held-out accuracy {acc:.3f}"


@pytest.mark.slow
def test_lenet_learns_real_mnist(mnist_dir: Path) -> None:
    """The real 10k MNIST test set split 8,000 / 2,000; LeNet for 400 steps of 64 (about 3 epochs)."""
    manual_seed(0)
    splits = load_mnist(mnist_dir, split="test", val_size=2000, seed=0)
    assert len(splits.train) == 8000
    model = lenet(**{k: splits.info[k] for k in ("in_channels", "num_classes", "image_size")})
    _fit(model, splits, steps=400, batch_size=64, lr=2e-3)
    assert splits.val is not None
    acc = accuracy(model, splits.val)
    assert acc >= 0.93, f"held-out accuracy {acc:.3f}"
