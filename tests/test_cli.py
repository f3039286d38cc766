"""The ``tinytorch`` CLI: listing, broken plugins (strict and lenient), train from a config, resume, scaffolding."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry.cli import main, prescan
from registry.discovery import InstalledPlugin
from registry.testing import fake_installed
from fake_plugins import Make, plugin_maker


TOY = '''
import numpy as np
from tinytorch_core import nn
from tinytorch_core.data import ArrayDataset, DataSplits
from tinytorch_core.hookspecs import hookimpl

EVENTS = []


def toy_blobs(num_samples=240, num_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, size=(num_classes, 4))
    y = rng.integers(0, num_classes, size=num_samples)
    x = (centres[y] + rng.normal(0, 0.5, size=(num_samples, 4))).astype(np.float32)
    cut = num_samples * 3 // 4
    return DataSplits(ArrayDataset(x[:cut], y[:cut]), ArrayDataset(x[cut:], y[cut:]), {{"num_classes": num_classes}})


def toy_mlp(num_classes, hidden=16):
    return nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))


def shout(args):
    print("shouting", args.word.upper())
    return 3


@hookimpl
def tinytorch_register_datasets(register):
    register("{name}_blobs", toy_blobs, description="toy blobs")


@hookimpl
def tinytorch_register_models(register):
    register("{name}_mlp", toy_mlp, description="toy mlp")


@hookimpl
def tinytorch_register_commands(cli):
    cli.add_command("{name}-shout", shout, help="shout a word", arguments=lambda p: p.add_argument("word"))


@hookimpl
def tinytorch_on_train_start(trainer, config):
    EVENTS.append(("start", config["model"]["name"]))


@hookimpl
def tinytorch_on_step_end(trainer, step, loss):
    EVENTS.append(("step", step))


@hookimpl
def tinytorch_on_train_end(trainer, config):
    EVENTS.append(("end", trainer.step))
'''

BROKEN = {
    "import-error": ("import definitely_not_a_module_xyz\n", "failed to import"),
    "misspelled-hook": (
        "from tinytorch_core.hookspecs import hookimpl\n@hookimpl\ndef tinytorch_register_dataset(register):\n    pass\n",
        "rename it to 'tinytorch_register_datasets'",
    ),
    "argument-not-in-spec": (
        "from tinytorch_core.hookspecs import hookimpl\n@hookimpl\ndef tinytorch_register_models(regsiter):\n    pass\n",
        "rename the argument to 'register'",
    ),
    "duplicate-component": (
        "from tinytorch_core.hookspecs import hookimpl\n@hookimpl\ndef tinytorch_register_models(register):\n"
        "    register('good_mlp', object)\n",
        "already registered by plugin 'good'",
    ),
    "exception-in-registration": (
        "from tinytorch_core.hookspecs import hookimpl\n@hookimpl\ndef tinytorch_register_models(register):\n"
        "    raise KeyError('zoo')\n",
        "tinytorch_register_models raised KeyError",
    ),
}

@pytest.fixture
def make_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Make]:
    monkeypatch.delenv("TINYTORCH_DEBUG", raising=False)
    monkeypatch.delenv("TINYTORCH_TRACE_PLUGINS", raising=False)
    with plugin_maker(tmp_path, monkeypatch, prefix="fake_cli_plugin", version="0.4.2", default_source=TOY,
                      fill_name=True) as make:
        yield make


def cli(plugins: list[InstalledPlugin], *argv: str) -> int:
    with fake_installed(plugins):
        return main(list(argv))


TRAIN_CONFIG = """\
[data]
name = "good_blobs"
[model]
name = "good_mlp"
hidden = 16
[train]
optimizer = "adam"
lr = 0.05
steps = 20
batch_size = 30
eval_every = 10
seed = 0
"""


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


# ------------------------------------------------------------------------------ listing
def test_help_lists_builtin_and_plugin_commands(make_plugin: Make, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli([make_plugin("good")], "--help")
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for command in ("plugins", "components", "train", "new-plugin", "report", "good-shout"):
        assert command in out
    assert "[plugin good]" in out


def test_plugin_command_runs_and_its_return_value_is_the_exit_code(make_plugin: Make, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli([make_plugin("good")], "good-shout", "hey") == 3
    assert "shouting HEY" in capsys.readouterr().out


def test_plugins_lists_broken_plugin_as_failed_and_still_runs(make_plugin: Make, capsys: pytest.CaptureFixture[str]) -> None:
    plugins = [make_plugin("good"), make_plugin("broken", BROKEN["import-error"][0])]
    assert cli(plugins, "plugins") == 1  # strict: a failure is a non-zero exit, but the listing is complete
    out = capsys.readouterr().out
    good_row = next(line for line in out.splitlines() if line.startswith("good "))
    assert "0.4.2" in good_row and "third-party" in good_row and "enabled" in good_row and "datasets=1" in good_row
    assert "broken: failed: plugin 'broken' (distribution tinytorch-broken 0.4.2" in out
    assert "No module named 'definitely_not_a_module_xyz'" in out
    assert cli(plugins, "plugins", "--format", "json") == 1
    listed = {p["name"]: p for p in json.loads(capsys.readouterr().out)["plugins"]}
    assert listed["good"]["status"] == "enabled" and listed["good"]["registered"]["models"] == 1
    assert listed["broken"]["status"] == "failed" and "failed to import" in listed["broken"]["reason"]


def test_components_by_kind(make_plugin: Make, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli([make_plugin("good")], "components", "--kind", "model") == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert rows == [["models", "good_mlp", "good", "toy", "mlp"]]


def test_unknown_plugin_flag_is_an_error(make_plugin: Make, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli([make_plugin("good")], "-p", "no:gdoo", "components") == 2
    assert "did you mean 'good'" in capsys.readouterr().err


def test_plugin_flags_select_plugins(make_plugin: Make, capsys: pytest.CaptureFixture[str]) -> None:
    plugins = [make_plugin("good"), make_plugin("other")]
    assert cli(plugins, "-p", "no:other", "components", "--format", "json") == 0
    assert {c["plugin"] for c in json.loads(capsys.readouterr().out)} == {"good", "core"}  # core: the built-in metrics


# ---------------------------------------------------------------------- broken plugins
@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_plugin_strict_one_line_error_lenient_keeps_others(
    make_plugin: Make, capsys: pytest.CaptureFixture[str], tmp_path: Path, case: str
) -> None:
    source, expected = BROKEN[case]
    plugins = [make_plugin("good"), make_plugin("zbad", source)]  # loads after good (alphabetical)
    assert cli(plugins, "components") == 2
    err = capsys.readouterr().err
    assert err.startswith("tinytorch: error: plugin 'zbad'") and expected in err
    assert err.count("\n") == 1 and "Traceback" not in err
    write(tmp_path / "tinytorch.toml", "[plugins]\nstrict = false\n")
    assert cli(plugins, "components", "--kind", "models") == 0
    captured = capsys.readouterr()
    assert "good_mlp" in captured.out and "tinytorch: warning: skipped plugin 'zbad'" in captured.err


def test_enabled_but_not_installed(make_plugin: Make, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    write(tmp_path / "tinytorch.toml", '[plugins]\nenable = ["good", "audio"]\n')
    assert cli([make_plugin("good")], "components") == 2
    err = capsys.readouterr().err
    assert "plugin 'audio' (enabled by tinytorch.toml [plugins] enable): is enabled but not installed" in err
    assert "pip install tinytorch-audio" in err and "installed plugins: good" in err
    write(tmp_path / "tinytorch.toml", '[plugins]\nenable = ["good", "audio"]\nstrict = false\n')
    assert cli([make_plugin("good")], "components") == 0
    assert "good_mlp" in capsys.readouterr().out


def test_invalid_config_key(make_plugin: Make, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = write(tmp_path / "run.toml", TRAIN_CONFIG.replace("batch_size", "batch_szie"))
    assert cli([make_plugin("good")], "train", str(config)) == 2
    err = capsys.readouterr().err
    assert "unknown key 'batch_szie' in run.toml [train] (did you mean 'batch_size'?)" in err and "Traceback" not in err


def test_debug_shows_the_traceback(make_plugin: Make, capsys: pytest.CaptureFixture[str]) -> None:
    plugins = [make_plugin("good"), make_plugin("bad", BROKEN["import-error"][0])]
    assert cli(plugins, "--debug", "components") == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "ModuleNotFoundError" in err  # the chained original


# ---------------------------------------------------------------------------- training
def test_train_runs_hooks_writes_run_dir_and_resumes(make_plugin: Make, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    plugin = make_plugin("good")
    config = write(tmp_path / "toy.toml", TRAIN_CONFIG)
    assert cli([plugin], "train", str(config), "--no-progress") == 0
    out = capsys.readouterr().out
    assert "final train loss" in out and "run directory: runs/toy" in out
    last = re.fullmatch(r"wall time (\d+\.\d) s; (\d+\.\d\d) steps/s", out.strip().splitlines()[-1])
    assert last is not None and float(last.group(2)) > 0  # the job's last line: its wall time and pace
    run = tmp_path / "runs" / "toy"
    assert (run / "config.toml").read_text() == config.read_text()
    assert (run / "checkpoints" / "last.safetensors").is_file()
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [r["train_loss"] for r in rows if "train_loss" in r]
    assert len(losses) == 20 and sum(losses[-5:]) < 0.5 * sum(losses[:5])
    events = sys.modules[plugin.target].EVENTS
    assert events[0] == ("start", "good_mlp") and events[-1] == ("end", 20)
    assert [e[1] for e in events if e[0] == "step"] == list(range(1, 21))
    # --resume continues from the checkpoint to the new step count
    events.clear()
    assert cli([plugin], "train", str(config), "--set", "train.steps=25", "--resume", str(run), "--no-progress") == 0
    assert [e[1] for e in events if e[0] == "step"] == list(range(21, 26))
    assert json.loads((run / "config.json").read_text())["train"]["steps"] == 25


def test_train_passes_dataset_info_and_checks_kwargs(make_plugin: Make, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    plugin = make_plugin("good")
    config = write(tmp_path / "toy.toml", TRAIN_CONFIG)
    assert cli([plugin], "train", str(config), "--set", "model.hiden=8") == 2
    err = capsys.readouterr().err
    assert "unknown key 'hiden' in toy.toml [model] (did you mean 'hidden'?): model 'good_mlp' (plugin 'good') accepts hidden, num_classes" in err
    assert cli([plugin], "train", str(config), "--set", "model.name=good_mpl") == 2
    assert "no model named 'good_mpl' is registered (did you mean 'good_mlp'?)" in capsys.readouterr().err
    assert cli([plugin], "train", str(config), "--set", "train.lr=fast") == 2
    assert "toy.toml [train] lr must be float, got 'fast' (str)" in capsys.readouterr().err
    assert cli([plugin], "train", str(config), "--set", "train.optimizer=adamm") == 2
    assert "unknown optimizer 'adamm' (did you mean 'adam'?)" in capsys.readouterr().err


def test_resume_without_checkpoint_is_a_clear_error(make_plugin: Make, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = write(tmp_path / "toy.toml", TRAIN_CONFIG)
    assert cli([make_plugin("good")], "train", str(config), "--resume", str(tmp_path / "nowhere")) == 2
    assert "no checkpoint at" in capsys.readouterr().err


# ------------------------------------------------------------------- report / new-plugin
def test_report_reuse_is_wired_or_says_unavailable(make_plugin: Make, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import registry

    monkeypatch.setitem(sys.modules, "registry.reuse_cli", None)  # import now fails
    monkeypatch.delattr(registry, "reuse_cli", raising=False)  # an earlier test may have imported it
    assert cli([make_plugin("good")], "report", "reuse") == 1
    assert "reuse report not available" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["../evil", "a/b", "Bad-Name", "class", "9lives", "tinytorch"])
def test_new_plugin_rejects_bad_names(make_plugin: Make, capsys: pytest.CaptureFixture[str], name: str) -> None:
    assert cli([], "new-plugin", name) == 2
    assert "tinytorch: error: plugin name" in capsys.readouterr().err


def test_new_plugin_refuses_non_empty_directory(make_plugin: Make, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli([], "new-plugin", "demo", "--dir", str(tmp_path)) == 0
    package = tmp_path / "tinytorch-demo"
    assert (package / "pyproject.toml").is_file() and (package / "tinytorch_demo" / "plugin.py").is_file()
    assert 'demo = "tinytorch_demo.plugin"' in (package / "pyproject.toml").read_text()
    assert cli([], "new-plugin", "demo", "--dir", str(tmp_path)) == 2
    assert "already exists and is not empty" in capsys.readouterr().err


def test_prescan_finds_flags_config_and_overrides() -> None:
    scan = prescan(["-p", "no:vision", "-planguage", "train", "--set", "train.steps=3", "cfg.toml", "--debug"])
    assert scan.plugin_flags == ["no:vision", "language"] and scan.command == "train"
    assert scan.train_config == "cfg.toml" and scan.sets == ["train.steps=3"] and scan.debug


def test_console_entry_point_runs_in_a_subprocess(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "registry.cli", "--help"], capture_output=True, text=True,
                            cwd=tmp_path, timeout=60, env={"TINYTORCH_PLUGINS": "", "PATH": ""})
    assert result.returncode == 0 and "new-plugin" in result.stdout


CALLBACK_PLUGIN = TOY + '''

from tinytorch_core.training import Callback


class CountSteps(Callback):
    def __init__(self, label="steps"):
        self.label = label

    def on_step_end(self, trainer, step, loss):
        EVENTS.append((self.label, step))


@hookimpl
def tinytorch_register_callbacks(register):
    register("count_steps", CountSteps, description="records every step")
'''


def test_train_builds_callbacks_named_in_the_config(make_plugin: Make, tmp_path: Path) -> None:
    plugin = make_plugin("good", CALLBACK_PLUGIN)
    config = write(tmp_path / "cb.toml", TRAIN_CONFIG.replace(
        "seed = 0", 'seed = 0\ncallbacks = ["count_steps", {name = "count_steps", label = "again"}]'))
    assert cli([plugin], "train", str(config), "--no-progress") == 0
    events = sys.modules[plugin.target].EVENTS
    assert [s for tag, s in events if tag == "steps"] == list(range(1, 21))
    assert [s for tag, s in events if tag == "again"] == list(range(1, 21))
    bad = write(tmp_path / "bad.toml", TRAIN_CONFIG.replace("seed = 0", 'seed = 0\ncallbacks = ["count_stepz"]'))
    assert cli([plugin], "train", str(bad), "--no-progress") == 2


def test_warmup_longer_than_a_short_run_is_clamped_with_a_note(
    make_plugin: Make, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path / "warm.toml", TRAIN_CONFIG.replace("seed = 0", "seed = 0\nwarmup_steps = 100\ncosine = true"))
    assert cli([make_plugin("good")], "train", str(config), "--no-progress") == 0
    assert "warmup_steps=100 is not below steps=20; warming up over 19 steps" in capsys.readouterr().err


def test_evaluation_reads_a_fixed_random_sample_of_a_large_validation_set() -> None:
    import numpy as np

    from registry.train import _evaluation_sample
    from tinytorch_core.data import ArrayDataset

    val = ArrayDataset(np.arange(1000))
    sample = _evaluation_sample(val, 100, seed=0)
    picked = sample.get_batch(np.arange(len(sample)))[0]  # type: ignore[attr-defined]
    assert len(sample) == 100 and len(set(picked.tolist())) == 100
    assert picked.max() > 500  # not just the first 100 samples
    assert np.array_equal(picked, _evaluation_sample(val, 100, seed=0).get_batch(np.arange(100))[0])  # type: ignore[attr-defined]
    assert _evaluation_sample(val, 5000, seed=0) is val
