"""``tinytorch new-plugin NAME``: scaffold a pip-installable third-party plugin package.

The package (``tinytorch-NAME/``) has a pyproject declaring the ``tinytorch.plugins`` entry point,
hookimpls registering a modality, a small module, a data pipeline and a model, a training config,
and tests using the conformance kit. It installs (``pip install -e``) and passes its own tests as
generated.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path
from string import Template

from registry.errors import CommandError
from tinytorch_core.fileio import atomic_write_text

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

#: Names a plugin may not take: they would shadow the framework's own packages.
RESERVED_NAMES = frozenset({"tinytorch", "core", "registry", "plugins", "test", "tests"})


def validate_plugin_name(name: str) -> str:
    """A lowercase Python identifier (letters, digits, ``_``), not a keyword, no path parts."""
    if "/" in name or "\\" in name or ".." in name or name.startswith("."):
        raise CommandError(f"plugin name {name!r} looks like a path; give a bare name such as 'audio' (use --dir for the location)")
    if not _NAME.match(name) or keyword.iskeyword(name):
        raise CommandError(
            f"plugin name {name!r} is not valid: use a lowercase Python identifier (a-z, 0-9, _; starting with a"
            " letter; at most 40 characters), e.g. 'audio' or 'time_series'"
        )
    if name in RESERVED_NAMES:
        raise CommandError(f"plugin name {name!r} is reserved; choose another")
    return name


PYPROJECT = """\
[build-system]
requires = ["setuptools>=68", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "tinytorch-$name"
version = "0.1.0"
description = "A TinyTorch plugin: the $name modality."
requires-python = ">=3.11"
dependencies = ["tinytorch-numpy", "numpy"]

[project.entry-points."tinytorch.plugins"]
$name = "$package.plugin"

[tool.setuptools]
packages = ["$package"]

[tool.pytest.ini_options]
testpaths = ["tests"]
"""

README = """\
# tinytorch-$name

A TinyTorch plugin providing the `$name` modality.

    pip install -e .
    tinytorch plugins                      # $name is listed
    tinytorch plugins check $name          # the conformance kit
    tinytorch train $name.toml             # trains the example model
    pytest                                 # this package's tests
"""

INIT = '''\
"""TinyTorch plugin for the $name modality."""

__version__ = "0.1.0"
'''

LAYERS = '''\
"""A small reusable layer built from core modules."""

from __future__ import annotations

from tinytorch_core import Tensor
from tinytorch_core import nn


class ResidualMLP(nn.Module):
    """``x + W2 gelu(W1 x)``: a residual feed-forward block of width ``dim``."""

    def __init__(self, dim: int = 8, hidden: int = 16) -> None:
        super().__init__()
        self.up = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.down = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        """(..., dim) -> (..., dim)."""
        out: Tensor = x + self.down(self.act(self.up(x)))
        return out
'''

DATA = '''\
"""A deterministic synthetic data pipeline: Gaussian blobs, one class per blob."""

from __future__ import annotations

import numpy as np

from tinytorch_core.data import ArrayDataset, DataSplits


def blobs(num_samples: int = 512, num_classes: int = 3, dim: int = 8, spread: float = 0.6,
          val_fraction: float = 0.2, seed: int = 0) -> DataSplits:
    """``num_samples`` points in ``dim`` dimensions around ``num_classes`` random centres."""
    if num_samples < 2 * num_classes:
        raise ValueError(f"blobs: num_samples={num_samples} is too small for {num_classes} classes")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"blobs: val_fraction must be in (0, 1), got {val_fraction}")
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 2.0, size=(num_classes, dim))
    labels = rng.integers(0, num_classes, size=num_samples)
    points = centres[labels] + rng.normal(0.0, spread, size=(num_samples, dim))
    cut = int(num_samples * (1.0 - val_fraction))
    x, y = points.astype(np.float32), labels.astype(np.int64)
    return DataSplits(ArrayDataset(x[:cut], y[:cut]), ArrayDataset(x[cut:], y[cut:]),
                      {"num_classes": num_classes, "dim": dim})
'''

MODELS = '''\
"""A classifier over the blobs: residual MLP blocks and a linear head."""

from __future__ import annotations

from tinytorch_core import Tensor
from tinytorch_core import nn

from $package.layers import ResidualMLP


class BlobClassifier(nn.Module):
    """``dim`` features -> ``num_classes`` logits."""

    def __init__(self, dim: int = 8, num_classes: int = 3, hidden: int = 32, depth: int = 2) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*[ResidualMLP(dim, hidden) for _ in range(depth)])
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """(batch, dim) -> (batch, num_classes)."""
        out: Tensor = self.head(self.blocks(x))
        return out
'''

PLUGIN = '''\
"""Entry point of the $name plugin: the hooks TinyTorch calls."""

from __future__ import annotations

import numpy as np

from tinytorch_core import Tensor
from tinytorch_core.hookspecs import Register, hookimpl

from $package.data import blobs
from $package.layers import ResidualMLP
from $package.models import BlobClassifier


def _sample_input() -> tuple[Tensor]:
    return (Tensor(np.random.default_rng(0).normal(size=(2, 8))),)


def _sample_batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(16, 8)).astype(np.float32), rng.integers(0, 3, size=16)


@hookimpl
def tinytorch_register_modalities(register: Register) -> None:
    """The $name modality."""
    register("$name", "$name: replace this description")


@hookimpl
def tinytorch_register_modules(register: Register) -> None:
    """Reusable layers."""
    register("${name}_residual_mlp", ResidualMLP, description="residual feed-forward block",
             sample_input=_sample_input, kwargs={"dim": 8, "hidden": 4})


@hookimpl
def tinytorch_register_datasets(register: Register) -> None:
    """Data pipelines."""
    register("${name}_blobs", blobs, description="Gaussian blobs, one class per blob",
             sample_config={"num_samples": 64, "num_classes": 3})


@hookimpl
def tinytorch_register_models(register: Register) -> None:
    """Trainable models."""
    register("${name}_classifier", BlobClassifier, description="residual MLP classifier",
             sample_kwargs={"hidden": 8, "depth": 1}, sample_batch=_sample_batch)
'''

CONFIG = """\
# tinytorch train $name.toml
[plugins]
enable = ["$name"]

[data]
name = "${name}_blobs"
num_samples = 512
num_classes = 3

[model]
name = "${name}_classifier"
hidden = 32

[train]
optimizer = "adam"
lr = 0.01
steps = 100
batch_size = 32
eval_every = 50
seed = 0

[output]
dir = "runs/$name"
"""

CONFTEST = '''\
"""The TinyTorch conformance kit's fixtures (plugin_manager, hook_recorder)."""

pytest_plugins = ["registry.testing"]
'''

TESTS = '''\
"""Tests of the $name plugin, using TinyTorch's conformance kit."""

from __future__ import annotations

from importlib import metadata

import numpy as np
import pytest

import $package.plugin as plugin
from registry.manager import PluginManager
from registry.testing import check_plugin, check_plugin_object, registered_plugin


def test_plugin_conforms() -> None:
    assert check_plugin_object(plugin, "$name") == []


def test_installed_entry_point_conforms() -> None:
    names = [ep.name for ep in metadata.entry_points(group="tinytorch.plugins")]
    if "$name" not in names:
        pytest.skip("not installed: pip install -e . first")
    assert check_plugin("$name") == []


def test_components_are_attributed(plugin_manager: PluginManager) -> None:
    with registered_plugin(plugin_manager, plugin, name="$name"):
        assert plugin_manager.get("models", "${name}_classifier").plugin == "$name"
        splits = plugin_manager.get("datasets", "${name}_blobs").obj(num_samples=60)
        assert len(splits.train) == 48 and splits.info["num_classes"] == 3
    assert plugin_manager.list("models") == []


def test_blobs_are_deterministic() -> None:
    from $package.data import blobs

    first, second = blobs(num_samples=40), blobs(num_samples=40)
    for a, b in zip(first.train[np.arange(8)], second.train[np.arange(8)]):
        assert np.array_equal(a, b)
'''


def scaffold_plugin(name: str, directory: str | Path | None = None) -> Path:
    """Create ``<directory>/tinytorch-<name>/``; refuses to overwrite a non-empty directory."""
    validate_plugin_name(name)
    parent = Path(directory) if directory is not None else Path.cwd()
    if parent.exists() and not parent.is_dir():
        raise CommandError(f"--dir {parent} is not a directory")
    target = parent / f"tinytorch-{name}"
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise CommandError(f"{target} already exists and is not empty; remove it or choose another --dir")
    package = f"tinytorch_{name}"
    files = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        f"{name}.toml": CONFIG,
        f"{package}/__init__.py": INIT,
        f"{package}/layers.py": LAYERS,
        f"{package}/data.py": DATA,
        f"{package}/models.py": MODELS,
        f"{package}/plugin.py": PLUGIN,
        f"{package}/py.typed": "",
        "tests/conftest.py": CONFTEST,
        "tests/test_plugin.py": TESTS,
    }
    for relative, template in files.items():
        atomic_write_text(target / relative, Template(template).substitute(name=name, package=package))
    return target
