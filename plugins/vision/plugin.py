"""The vision plugin's hook implementations (entry point ``tinytorch.plugins: vision``).

Everything heavy is imported lazily: discovering the plugin imports only this module, and a
component's code loads the first time it is built (or its signature is inspected).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from tinytorch_core import Tensor
from tinytorch_core.hookspecs import ConfigSchema, Register, hookimpl
from tinytorch_core.lazy import LazyFactory

__all__ = ["LazyFactory", "SampleConfig"]


class SampleConfig(Mapping[str, Any]):
    """``{"path": <sample folder>}`` for a dataset's conformance check; ``writer(folder)`` fills the
    folder (under the cache) the first time the mapping is read, never at registration."""

    def __init__(self, name: str, writer: LazyFactory) -> None:
        self.name = name
        self.writer = writer
        self._data: dict[str, Any] | None = None

    def _resolve(self) -> dict[str, Any]:
        if self._data is None:
            from plugins.vision.datasets.download import cache_dir

            self._data = {"path": str(self.writer(cache_dir("samples") / self.name))}
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self._resolve()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._resolve())

    def __len__(self) -> int:
        return len(self._resolve())

    def __repr__(self) -> str:
        return f"SampleConfig({self.name!r})"


_SAMPLES = "plugins.vision.datasets.samples"
_LAYERS = "plugins.vision.layers"
_MODELS = "plugins.vision.models"
_DATASET_FACTORIES: dict[str, LazyFactory] = {
    "shapes": LazyFactory("plugins.vision.datasets.shapes", "load_shapes"),
    "mnist": LazyFactory("plugins.vision.datasets.mnist", "load_mnist"),
    "cifar10": LazyFactory("plugins.vision.datasets.cifar", "load_cifar10"),
}


def _images(*shape: int, seed: int = 0) -> Tensor:
    return Tensor(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


def _shapes_batch(image_size: int, num_classes: int = 4, n: int = 8) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    from plugins.vision.datasets.shapes import make_shapes

    return make_shapes(n, image_size=image_size, num_classes=num_classes, seed=0)


@hookimpl
def tinytorch_register_modalities(register: Register) -> None:
    register("vision", "images (NCHW float32): convolutions, pooling, image datasets and CNNs")


@hookimpl
def tinytorch_register_modules(register: Register) -> None:
    register("conv2d", LazyFactory(_LAYERS, "Conv2d"), description="2-D convolution (im2col + one GEMM)",
             kwargs={"in_channels": 3, "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1},
             sample_input=lambda: (_images(2, 3, 7, 6),))
    register("maxpool2d", LazyFactory(_LAYERS, "MaxPool2d"), description="max pooling (argmax routing)",
             kwargs={"kernel_size": 2}, sample_input=lambda: (_images(2, 3, 6, 5),))
    register("avgpool2d", LazyFactory(_LAYERS, "AvgPool2d"), description="average pooling",
             kwargs={"kernel_size": 3, "stride": 2, "padding": 1}, sample_input=lambda: (_images(2, 3, 7, 6),))
    register("batchnorm2d", LazyFactory(_LAYERS, "BatchNorm2d"), description="batch norm with running statistics",
             kwargs={"num_features": 3}, sample_input=lambda: (_images(4, 3, 5, 4),))
    register("flatten", LazyFactory(_LAYERS, "Flatten"), description="(N, C, H, W) -> (N, C*H*W)",
             kwargs={}, sample_input=lambda: (_images(2, 3, 4, 5),))


@hookimpl
def tinytorch_register_datasets(register: Register) -> None:
    register("shapes", _DATASET_FACTORIES["shapes"],
             description="procedural shapes (circle, square, triangle, cross[, ring]); offline, any size",
             sample_config={"n_train": 64, "n_val": 32, "image_size": 16})
    # Their sample configs point at tiny files in the real formats, written on first use (offline).
    register("mnist", _DATASET_FACTORIES["mnist"],
             description="MNIST digits from IDX files (path=... or downloaded into the cache, sha256-checked)",
             sample_config=SampleConfig("mnist-idx", LazyFactory(_SAMPLES, "write_sample_mnist")))
    register("cifar10", _DATASET_FACTORIES["cifar10"],
             description="CIFAR-10 from the binary release (path=... or downloaded into the cache, sha256-checked)",
             sample_config=SampleConfig("cifar10-bin", LazyFactory(_SAMPLES, "write_sample_cifar10")))


@hookimpl
def tinytorch_register_models(register: Register) -> None:
    small = {"in_channels": 1, "num_classes": 4, "image_size": 16}
    register("lenet", LazyFactory(_MODELS, "lenet"), description="LeNet-5-like CNN (1 or 3 channels)",
             metrics=("accuracy",), sample_kwargs=small, sample_batch=lambda: _shapes_batch(16))
    register("simple_cnn", LazyFactory(_MODELS, "simple_cnn"),
             description="conv-BN-ReLU-pool stages and an MLP head", metrics=("accuracy",),
             sample_kwargs={**small, "channels": [4, 8], "hidden": 16}, sample_batch=lambda: _shapes_batch(16))


@hookimpl
def tinytorch_register_reuse_targets(register: Register) -> None:
    def lenet_on_shapes() -> Any:
        from plugins.vision.models import lenet

        return lenet(in_channels=1, num_classes=4, image_size=20)

    register("lenet", lenet_on_shapes, description="LeNet on a batch of 32 shapes images (20x20)",
             sample_batch=lambda: _shapes_batch(20, n=32))


@hookimpl
def tinytorch_add_config_schema(schema: ConfigSchema) -> None:
    schema.add_section("vision", {"report_accuracy": bool},
                       "vision plugin: report_accuracy (default true) prints held-out accuracy after each evaluation")


# ---------------------------------------------------------------------------- accuracy reporting
_reporter: Any = None


def _accuracy_reporter() -> Any:
    global _reporter
    if _reporter is None:
        from plugins.vision.metrics import AccuracyReporter

        _reporter = AccuracyReporter(_DATASET_FACTORIES.keys())
    return _reporter


def _wants_accuracy(config: Mapping[str, Any] | Any) -> bool:
    document = getattr(config, "data", config)
    table = document.get("vision", {}) if isinstance(document, Mapping) else {}
    return bool(table.get("report_accuracy", True)) if isinstance(table, Mapping) else True


@hookimpl
def tinytorch_on_train_start(trainer: Any, config: Mapping[str, Any]) -> None:
    if _wants_accuracy(config):
        _accuracy_reporter().start(trainer, config)


@hookimpl
def tinytorch_on_eval_end(trainer: Any, step: int, metrics: Mapping[str, float]) -> None:
    # The Trainer already computed and showed val_accuracy (the vision models' default metric): no second pass.
    if _reporter is not None and "val_accuracy" not in metrics:
        _reporter.evaluated(trainer, step)


@hookimpl
def tinytorch_on_train_end(trainer: Any, config: Mapping[str, Any]) -> None:
    if _reporter is not None:
        _reporter.finished(trainer)
