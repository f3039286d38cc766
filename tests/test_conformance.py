"""The conformance kit: a good plugin passes; each kind of broken promise is reported by name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from registry.cli import main
from registry.conformance import Failure, check_plugin, check_plugin_object
from registry.manager import PluginManager
from registry.testing import HookRecorder, fake_installed, registered_plugin
from fake_plugins import Make, plugin_maker
from registry.testing import hook_recorder, plugin_manager  # noqa: F401  (the kit's fixtures)


GOOD = '''
import numpy as np
from tinytorch_core import Tensor, nn
from tinytorch_core import functional as F
from tinytorch_core.data import ArrayDataset, DataSplits
from tinytorch_core.hookspecs import hookimpl


class Scale(nn.Module):
    def __init__(self, dim=3):
        super().__init__()
        self.linear = nn.Linear(dim, dim)

    def forward(self, x):
        return self.linear(x).tanh() * x


def points(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    return DataSplits(ArrayDataset(x[:24], y[:24]), ArrayDataset(x[24:], y[24:]), {"num_classes": 2})


class Chars:
    def encode(self, text):
        return [ord(c) for c in text]

    def decode(self, ids):
        return "".join(chr(i) for i in ids)


def classifier(hidden=8):
    return nn.Sequential(nn.Linear(3, hidden), nn.ReLU(), nn.Linear(hidden, 2))


def batch():
    rng = np.random.default_rng(1)
    return rng.normal(size=(16, 3)).astype(np.float32), rng.integers(0, 2, size=16)


@hookimpl
def tinytorch_register_modalities(register):
    register("points", "points in 3-D")


@hookimpl
def tinytorch_register_modules(register):
    register("scale", Scale, sample_input=lambda: (Tensor(np.ones((2, 3))),))


@hookimpl
def tinytorch_register_datasets(register):
    register("points", points, sample_config={"n": 32})


@hookimpl
def tinytorch_register_tokenizers(register):
    register("chars", Chars, sample_text="héllo wörld")


@hookimpl
def tinytorch_register_models(register):
    register("classifier", classifier, sample_kwargs={"hidden": 4}, sample_batch=batch)


@hookimpl
def tinytorch_register_commands(cli):
    cli.add_command("points-info", lambda args: 0, help="info", arguments=lambda p: p.add_argument("--n", type=int))
'''

BAD = '''
import time
import numpy as np
from tinytorch_core import Tensor, nn
from tinytorch_core.autograd import Function
from tinytorch_core.data import ArrayDataset, DataSplits
from tinytorch_core.hookspecs import hookimpl


class WrongSquare(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return (3 * x * grad,)  # should be 2 x


class BadGrad(nn.Module):
    def forward(self, x):
        return WrongSquare.apply(x)


class Forgetful(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 2)
        self.offset = np.random.default_rng().normal(size=2)  # not a buffer: lost by state_dict

    def forward(self, x):
        return self.linear(x) + Tensor(self.offset)


def noisy(n=16):
    x = np.random.default_rng(time.perf_counter_ns()).normal(size=(n, 2)).astype(np.float32)
    return DataSplits(ArrayDataset(x, x), ArrayDataset(x[:, :1], x))


class Lowercase:
    def encode(self, text):
        return [ord(c) for c in text.lower()]

    def decode(self, ids):
        return "".join(chr(i) for i in ids)


class Stuck(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 2)

    def forward(self, x):
        return self.linear(x) * 0.0


def stuck_loss(model, batch):
    return (model(Tensor(batch[0])) ** 2).mean() + 1.0


def broken_arguments(parser):
    raise RuntimeError("cannot add options")


@hookimpl
def tinytorch_register_modules(register):
    register("bad_grad", BadGrad, sample_input=lambda: (Tensor(np.ones((2, 2))),))
    register("forgetful", Forgetful, sample_input=lambda: (Tensor(np.ones((1, 2))),))
    register("no_sample", BadGrad)


@hookimpl
def tinytorch_register_datasets(register):
    register("noisy", noisy, sample_config={})


@hookimpl
def tinytorch_register_tokenizers(register):
    register("lower", Lowercase, sample_text="Hello")


@hookimpl
def tinytorch_register_models(register):
    register("stuck", Stuck, sample_batch=lambda: (np.ones((4, 2), dtype=np.float32), None), loss_fn=stuck_loss)


@hookimpl
def tinytorch_register_commands(cli):
    cli.add_command("bad-cmd", lambda args: 0, help="broken options", arguments=broken_arguments)
'''

@pytest.fixture
def make_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Make]:
    with plugin_maker(tmp_path, monkeypatch, prefix="fake_conf_plugin", version="1.0.0", default_source=GOOD) as make:
        yield make


def by_component(failures: list[Failure]) -> dict[str, str]:
    return {f"{f.check}:{f.component}": f.message for f in failures}


def test_good_plugin_conforms(make_plugin: Make) -> None:
    with fake_installed([make_plugin("points")]):
        assert check_plugin("points") == []


def test_each_broken_promise_is_reported(make_plugin: Make) -> None:
    with fake_installed([make_plugin("bad", BAD)]):
        failures = by_component(check_plugin("bad"))
    assert "float64 gradient check failed" in failures["modules:bad_grad"]
    assert "state_dict round trip changed the output" in failures["modules:forgetful"]
    assert "no sample_input metadata" in failures["modules:no_sample"]
    assert "differs from" in failures["datasets:noisy"] or "not deterministic" in failures["datasets:noisy"]
    assert "round trip changed the text: 'Hello' -> 'hello'" in failures["tokenizers:lower"]
    assert "did not lower the loss" in failures["models:stuck"]
    assert "arguments(parser) raised RuntimeError: cannot add options" in failures["commands:bad-cmd"]


def test_nondeterministic_dataset_is_named(make_plugin: Make) -> None:
    source = BAD.replace("ArrayDataset(x[:, :1], x)", "ArrayDataset(x, x)")
    with fake_installed([make_plugin("bad", source)]):
        failures = by_component(check_plugin("bad"))
    assert "not deterministic" in failures["datasets:noisy"]


def test_entry_point_problems(make_plugin: Make) -> None:
    with fake_installed([make_plugin("points", dist="tinytorch-geometry")]):
        failures = check_plugin("points")
        assert [f.check for f in failures] == ["entry point"]
        assert "does not match distribution 'tinytorch-geometry'" in failures[0].message
        missing = check_plugin("pionts")
    assert "no installed plugin named 'pionts'" in missing[0].message and "installed: points" in missing[0].message
    with fake_installed([make_plugin("broken", "import nope_not_here\n")]):
        assert "does not import: ModuleNotFoundError" in check_plugin("broken")[0].message


def test_hook_and_clash_failures(make_plugin: Make) -> None:
    misspelled = "from tinytorch_core.hookspecs import hookimpl\n@hookimpl\ndef tinytorch_register_datasest(register):\n    pass\n"
    with fake_installed([make_plugin("typo", misspelled)]):
        (failure,) = check_plugin("typo")
    assert failure.check == "hooks" and "rename it to 'tinytorch_register_datasets'" in failure.message
    with fake_installed([make_plugin("points"), make_plugin("copy")]):
        failures = check_plugin("copy")
    assert failures and failures[0].check == "clashes" and "already registered by plugin 'points'" in failures[0].message


def test_cli_plugins_check(make_plugin: Make, capsys: pytest.CaptureFixture[str]) -> None:
    with fake_installed([make_plugin("points"), make_plugin("bad", BAD)]):
        assert main(["plugins", "check", "points"]) == 0
        assert "plugin 'points' conforms" in capsys.readouterr().out
        assert main(["plugins", "check", "bad"]) == 1
    out = capsys.readouterr().out
    assert "plugin 'bad' does not conform (8 failures):" in out and "  - [modules] bad_grad: float64 gradient check" in out


def test_kit_fixtures(make_plugin: Make, plugin_manager: PluginManager, hook_recorder: HookRecorder) -> None:
    import importlib

    module = importlib.import_module(make_plugin("points").target)
    assert plugin_manager.plugins == {}  # discovery off: nothing installed leaks in
    with registered_plugin(plugin_manager, module, name="points"):
        assert plugin_manager.get("tokenizers", "chars").plugin == "points"
        plugin_manager.hook.tinytorch_on_step_end(trainer=None, step=1, loss=2.0)
    assert [c for c in plugin_manager.list() if c.plugin != "core"] == []  # the registry's own core metrics stay
    assert "tinytorch_register_models" in hook_recorder.names()
    (call,) = hook_recorder.of("tinytorch_on_step_end")
    assert call.kwargs == {"trainer": None, "step": 1, "loss": 2.0} and call.plugins == ()  # points implements no trainer hook


def test_check_plugin_object_accepts_a_module(make_plugin: Make) -> None:
    import importlib

    module = importlib.import_module(make_plugin("points").target)
    assert check_plugin_object(module, "points") == []
