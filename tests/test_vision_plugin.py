"""The vision plugin's hooks: registrations, conformance, import hygiene, lazy factories, the
accuracy report during training, and the cnn-shapes config."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pluggy
import pytest

import plugins.vision.plugin as vision_plugin
from registry.testing import collect_registrations
from tinytorch_core import Tensor, hookspecs, manual_seed

ROOT = Path(__file__).resolve().parent.parent
VISION = ROOT / "plugins" / "vision"


_collect = collect_registrations


def test_hookimpls_validate_against_hookspecs() -> None:
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    manager.register(vision_plugin, name="vision")
    manager.check_pending()


def test_registrations() -> None:
    assert list(_collect(vision_plugin.tinytorch_register_modalities)) == ["vision"]
    modules = _collect(vision_plugin.tinytorch_register_modules)
    assert set(modules) == {"conv2d", "maxpool2d", "avgpool2d", "batchnorm2d", "flatten"}
    for name, (factory, meta) in modules.items():
        out = factory(**meta["kwargs"])(*meta["sample_input"]())
        assert out.dtype == np.float32, name
    assert set(_collect(vision_plugin.tinytorch_register_datasets)) == {"shapes", "mnist", "cifar10"}
    models = _collect(vision_plugin.tinytorch_register_models)
    assert set(models) == {"lenet", "simple_cnn"}
    for name, (factory, meta) in models.items():
        x, y = meta["sample_batch"]()
        assert factory(**meta["sample_kwargs"])(Tensor(x)).shape == (len(y), 4), name
    targets = _collect(vision_plugin.tinytorch_register_reuse_targets)
    factory, meta = targets["lenet"]
    x, y = meta["sample_batch"]()
    assert x.shape == (32, 1, 20, 20) and factory()(Tensor(x)).shape == (32, 4)


def test_config_schema_section() -> None:
    sections: dict[str, Any] = {}

    class Schema:
        def add_section(self, name: str, keys: Any, description: str = "") -> None:
            sections[name] = (dict(keys), description)

    vision_plugin.tinytorch_add_config_schema(Schema())
    assert sections["vision"][0] == {"report_accuracy": bool} and sections["vision"][1]


def test_conformance_kit_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from registry.conformance import check_plugin_object

    monkeypatch.setenv("TINYTORCH_CACHE", str(tmp_path))  # the mnist/cifar10 sample files go here
    assert check_plugin_object(vision_plugin, "vision") == []
    assert (tmp_path / "samples" / "mnist-idx" / "t10k-images-idx3-ubyte.gz").is_file()
    assert (tmp_path / "samples" / "cifar10-bin" / "test_batch.bin").is_file()


def test_lazy_factories_report_the_real_signature() -> None:
    factory = vision_plugin.LazyFactory("plugins.vision.datasets.shapes", "load_shapes")
    from plugins.vision.datasets.shapes import load_shapes

    assert inspect.signature(factory) == inspect.signature(load_shapes)
    assert "image_size" in inspect.signature(factory).parameters
    assert len(factory(n_train=4, n_val=2, image_size=12).train) == 4


def test_plugin_imports_nothing_from_language_or_registry() -> None:
    """Importing the plugin, and building every component, loads neither plugins.language nor registry."""
    code = (
        "import sys\n"
        "import plugins.vision.plugin as p\n"
        "light = sorted(m for m in sys.modules if m.startswith(('plugins.vision.layers', 'plugins.vision.datasets',"
        " 'urllib.request', 'tarfile')))\n"
        "print(light)\n"
        "from plugins.vision import Conv2d, MaxPool2d, AvgPool2d, BatchNorm2d, Flatten, Compose, make_shapes\n"
        "class R:\n"
        "    def __call__(self, name, obj, **meta):\n"
        "        if callable(obj) and 'sample_kwargs' in meta: obj(**meta['sample_kwargs'])\n"
        "        if callable(obj) and 'kwargs' in meta: obj(**meta['kwargs'])\n"
        "        if 'sample_config' in meta and name == 'shapes': obj(**meta['sample_config'])\n"
        "for hook in (p.tinytorch_register_modules, p.tinytorch_register_models, p.tinytorch_register_datasets):\n"
        "    hook(R())\n"
        "import plugins.vision.datasets, plugins.vision.metrics, plugins.vision.models, plugins.vision.transforms\n"
        "print(sorted(m for m in sys.modules if m.startswith(('registry', 'plugins.language'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    lazy, foreign = result.stdout.strip().splitlines()
    assert lazy == "[]", f"plugin import loaded heavy modules eagerly: {lazy}"
    assert foreign == "[]", f"vision imported {foreign}"


def test_sources_use_only_public_core_api_and_no_pickle() -> None:
    for source in VISION.rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        assert "from registry" not in text and "import registry" not in text, source
        assert "plugins.language" not in text, source
        assert "import pickle" not in text and "allow_pickle" not in text, source


# ---------------------------------------------------------------------------- accuracy report
def test_accuracy_reporter_prints_held_out_accuracy(capsys: pytest.CaptureFixture[str]) -> None:
    from plugins.vision.metrics import accuracy
    from tinytorch_core.optim import Adam
    from tinytorch_core.training import Trainer

    from plugins.vision.models import simple_cnn

    manual_seed(0)
    net = simple_cnn(1, 4, 12, channels=[4], hidden=8)
    trainer = Trainer(net, Adam(net.parameters()), progress=False, log_every=None)
    from plugins.vision.datasets import load_shapes
    from tinytorch_core.data import DataLoader

    val = load_shapes(n_train=20, n_val=30, image_size=12).val
    assert val is not None
    trainer.val_loader = DataLoader(val, batch_size=8)  # what fit() sets: the reporter measures on it
    config = {"data": {"name": "shapes", "n_train": 20, "n_val": 30, "image_size": 12}, "vision": {}}
    vision_plugin.tinytorch_on_train_start(trainer, config)
    vision_plugin.tinytorch_on_eval_end(trainer, 0, {"val_loss": 1.0})
    vision_plugin.tinytorch_on_train_end(trainer, config)
    out = capsys.readouterr().out
    expected = accuracy(net, val)
    assert f"step 0: val_accuracy {expected:.4f} (30 held-out images)" in out
    assert f"held-out accuracy: {100 * expected:.2f}% on 30 images" in out


def test_accuracy_report_skips_other_datasets_and_can_be_turned_off(capsys: pytest.CaptureFixture[str]) -> None:
    from plugins.vision.models import simple_cnn
    from tinytorch_core.optim import Adam
    from tinytorch_core.training import Trainer

    net = simple_cnn(1, 4, 12, channels=[4], hidden=8)
    trainer = Trainer(net, Adam(net.parameters()), progress=False, log_every=None)
    from plugins.vision.datasets import load_shapes
    from tinytorch_core.data import DataLoader

    trainer.val_loader = DataLoader(load_shapes(n_train=4, n_val=6, image_size=12).val)  # would be reported
    for config in ({"data": {"name": "text"}}, {"data": {"name": "shapes", "n_train": 4}, "vision": {"report_accuracy": False}}):
        vision_plugin.tinytorch_on_train_start(trainer, config)
        vision_plugin.tinytorch_on_eval_end(trainer, 1, {"val_loss": 1.0})
        vision_plugin.tinytorch_on_train_end(trainer, config)
    assert "accuracy" not in capsys.readouterr().out


def test_cnn_shapes_config_is_valid() -> None:
    """The shipped config parses and names registered components with accepted keys."""
    import tomllib

    from plugins.vision.datasets.shapes import load_shapes
    from plugins.vision.models import simple_cnn

    config = tomllib.loads((ROOT / "configs" / "cnn-shapes.toml").read_text(encoding="utf-8"))
    data = {k: v for k, v in config["data"].items() if k != "name"}
    model = {k: v for k, v in config["model"].items() if k != "name"}
    assert config["data"]["name"] == "shapes" and config["model"]["name"] == "simple_cnn"
    assert set(data) <= set(inspect.signature(load_shapes).parameters)
    assert set(model) <= set(inspect.signature(simple_cnn).parameters)
    assert config["train"]["optimizer"] == "adam" and config["train"]["steps"] > 0
