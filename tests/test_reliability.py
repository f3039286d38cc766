"""Hostile-user tests through the CLI (subprocesses): run records, faults, tampering, unclear messages.

Every case asserts what the user sees (exit status, one line on stderr, no traceback) and what is
left on disk (no record lost or mixed, no temp file). Runs are tiny (a 1-layer TinyGPT on a few KB of
text, 20-60 steps) so the whole file stays fast on two cores.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fake_plugins import Make, plugin_maker
from registry.discovery import BUILTIN_DISTRIBUTION, InstalledPlugin
from registry.testing import fake_installed

REPO = Path(__file__).resolve().parent.parent

CONFIG = """\
[plugins]
enable = ["language"]
[data]
name = "text"
corpus = "corpus.txt"
tokenizer = "char"
block_size = 16
[model]
name = "tinygpt"
num_layers = 1
num_heads = 2
d_model = 16
[train]
steps = 20
batch_size = 4
eval_every = 10
eval_batches = 2
checkpoint_every = 5
log_every = 5
seed = 3
[output]
dir = "runs/tiny"
[language]
sample_chars = 0
"""


def _corpus() -> str:
    words = "the quick brown fox jumps over a lazy dog while seven wizards quietly hum".split()
    rng = random.Random(0)
    return "\n".join(" ".join(rng.choice(words) for _ in range(12)) for _ in range(120)) + "\n"


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "corpus.txt").write_text(_corpus())
    (tmp_path / "tiny.toml").write_text(CONFIG)
    return tmp_path


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINYTORCH_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def tt(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``tinytorch ARGS`` in ``cwd``: in this process (fast: no interpreter start per case) through
    ``registry.cli.main``, the console entry point, with its exit status and captured output."""
    from registry.cli import main

    out, err = io.StringIO(), io.StringIO()
    previous = Path.cwd()
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("TINYTORCH_")}
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(list(args))
            except SystemExit as exit_:  # argparse
                status = exit_.code if isinstance(exit_.code, int) else 2
    finally:
        os.chdir(previous)
        os.environ.update(saved)
    return subprocess.CompletedProcess(["tinytorch", *args], status, out.getvalue(), err.getvalue())


def tt_process(cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``tinytorch ARGS`` in ``cwd`` as its own process."""
    return subprocess.run([sys.executable, "-m", "registry.cli", *args], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=timeout)


def spawn(cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "registry.cli", *args], cwd=cwd, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def one_error_line(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """The run failed with exactly one error line (warnings/notes allowed) containing every needle."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def steps_logged(run: Path) -> list[int]:
    return [r["step"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "train_loss" in r]


def losses(run: Path) -> dict[int, float]:
    return {r["step"]: r["train_loss"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
            if "train_loss" in r}


def temp_files(run: Path) -> list[Path]:
    return [p for p in run.rglob(".*") if p.name != ".lock"]


def snapshot(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------ run records
def test_training_twice_never_mixes_records(work: Path) -> None:
    assert tt(work, "train", "tiny.toml", "--no-progress").returncode == 0
    first = snapshot(work / "runs" / "tiny")
    second = tt(work, "train", "tiny.toml", "--no-progress")
    assert second.returncode == 0, second.stderr
    assert "runs/tiny-2" in second.stderr and "--resume runs/tiny" in second.stderr and "--overwrite" in second.stderr
    assert "run directory: runs/tiny-2" in second.stdout
    assert snapshot(work / "runs" / "tiny") == first  # the first run's record is untouched
    assert steps_logged(work / "runs" / "tiny-2") == list(range(1, 21))
    # --overwrite replaces the run in place: one run's records, nothing of the old one left
    (work / "runs" / "tiny" / "notes-of-old-run.txt").write_text("x")
    third = tt(work, "train", "tiny.toml", "--no-progress", "--overwrite")
    assert third.returncode == 0, third.stderr
    assert steps_logged(work / "runs" / "tiny") == list(range(1, 21))
    assert not (work / "runs" / "tiny" / "notes-of-old-run.txt").exists() and not (work / "runs" / "tiny-3").exists()
    assert not (work / "runs" / "tiny" / ".lock").exists()


def test_overwrite_refuses_a_directory_that_holds_no_run(work: Path) -> None:
    (work / "runs" / "tiny").mkdir(parents=True)
    (work / "runs" / "tiny" / "thesis.tex").write_text("precious")
    one_error_line(tt(work, "train", "tiny.toml", "--overwrite"), "holds no tinytorch run", "[output] dir")
    assert (work / "runs" / "tiny" / "thesis.tex").read_text() == "precious"


BAD_VALUES = ["data.block_size=0", "model.num_heads=3", "train.lr=-1", "train.batch_size=0",
              "data.corpus=\"missing.txt\"", "model.d_model=\"abc\""]


def test_a_failed_start_writes_nothing(work: Path) -> None:
    assert tt(work, "train", "tiny.toml", "--no-progress").returncode == 0
    run = work / "runs" / "tiny"
    before = snapshot(run)
    for bad in BAD_VALUES:
        one_error_line(tt(work, "train", "tiny.toml", "--set", bad), "tiny.toml")
        one_error_line(tt(work, "train", "tiny.toml", "--resume", "runs/tiny", "--set", bad))
        one_error_line(tt(work, "train", "tiny.toml", "--overwrite", "--set", bad))
    assert snapshot(run) == before and sorted(p.name for p in (work / "runs").iterdir()) == ["tiny"]


def test_resume_refuses_settings_it_cannot_honour_and_records_those_it_applies(work: Path) -> None:
    assert tt(work, "train", "tiny.toml", "--no-progress").returncode == 0
    run = work / "runs" / "tiny"
    before = snapshot(run)
    for change in ("train.lr=0.05", "train.seed=9", "model.d_model=32", "data.block_size=8", "train.optimizer=\"sgd\""):
        one_error_line(tt(work, "train", "tiny.toml", "--resume", "runs/tiny", "--set", change),
                       change.split("=")[0], "config.json", "without --resume")
    assert snapshot(run) == before
    resumed = tt(work, "train", "tiny.toml", "--resume", "runs/tiny", "--set", "train.steps=30", "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((run / "config.json").read_text())["train"]["steps"] == 30
    assert steps_logged(run) == list(range(1, 31))
    assert (run / "config.toml").read_text() == CONFIG  # the file the run was started with
    before = snapshot(run)
    done = tt(work, "train", "tiny.toml", "--resume", "runs/tiny", "--set", "train.steps=30")
    assert done.returncode == 0 and "nothing to train" in done.stderr and snapshot(run) == before


def _kill_after_progress(work: Path, delay: float, args: tuple[str, ...]) -> None:
    """Start a run, wait until it has logged a new step, then ``kill -9`` it ``delay`` seconds later."""
    metrics = work / "runs" / "tiny" / "metrics.jsonl"
    size = metrics.stat().st_size if metrics.exists() else 0
    process = spawn(work, "train", "tiny.toml", "--no-progress", *args)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        if metrics.exists() and metrics.stat().st_size > size and (metrics.parent / "checkpoints").is_dir():
            break
        time.sleep(0.005)
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    if process.stderr:
        process.stderr.close()


def test_kill_9_at_seeded_points_then_resume_equals_an_uninterrupted_run(work: Path) -> None:
    args = ("--set", "train.steps=150", "--set", "train.checkpoint_every=2", "--set", "train.log_every=1")
    reference = tt(work, "train", "tiny.toml", *args)
    assert reference.returncode == 0, reference.stderr
    expected = losses(work / "runs" / "tiny")
    shutil.rmtree(work / "runs")
    rng = random.Random(11)
    run = work / "runs" / "tiny"
    for kill in range(5):  # 5 seeded kill points, each after the run has made progress (saves every 2 steps)
        resuming = ("--resume", "runs/tiny") if (run / "checkpoints" / "last.safetensors").exists() else ()
        _kill_after_progress(work, rng.uniform(0.0, 0.15), args + resuming)
        assert sorted(p.name for p in (work / "runs").iterdir()) == ["tiny"], kill
    # Whatever the kill interrupted, an atomic save's temp file may be left; plant one too.
    (run / "checkpoints").mkdir(parents=True, exist_ok=True)
    (run / "checkpoints" / ".last.safetensors.k9x2.tmp").write_bytes(b"\0" * 100)
    resuming = ("--resume", "runs/tiny") if (run / "checkpoints" / "last.safetensors").exists() else ("--overwrite",)
    final = tt(work, "train", "tiny.toml", *args, *resuming)
    assert final.returncode == 0, final.stderr
    assert steps_logged(run) == list(range(1, 151)), "a step logged twice or lost after kill -9 + resume"
    assert losses(run) == expected  # bit-identical continuation
    assert temp_files(run) == [] and not (run / ".lock").exists()


def test_a_live_lock_stops_a_second_writer_and_a_stale_one_is_taken_over(work: Path) -> None:
    assert tt(work, "train", "tiny.toml", "--no-progress").returncode == 0
    run = work / "runs" / "tiny"
    writer = spawn(work, "train", "tiny.toml", "--resume", "runs/tiny", "--set", "train.steps=100000")
    try:
        for _ in range(3000):  # up to 60 s: a loaded machine starts the writer slowly
            if (run / ".lock").exists():
                break
            time.sleep(0.02)
        holder = json.loads((run / ".lock").read_text())
        assert holder["pid"] == writer.pid and holder["host"]
        line = one_error_line(tt(work, "train", "tiny.toml", "--resume", "runs/tiny", "--set", "train.steps=30"),
                              f"pid {writer.pid}", "in use")
        assert "runs/tiny" in line
        one_error_line(tt(work, "train", "tiny.toml", "--overwrite"), f"pid {writer.pid}")
        fresh = tt(work, "train", "tiny.toml", "--no-progress")  # a fresh run goes beside it
        assert fresh.returncode == 0 and "runs/tiny-2" in fresh.stdout
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    assert (run / ".lock").exists()  # kill -9 leaves a stale lock: the next writer takes it over
    resumed = tt(work, "train", "tiny.toml", "--resume", "runs/tiny", "--set", "train.steps=100000",
                 "--set", "train.steps=25", "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    assert not (run / ".lock").exists()


def test_concurrent_fresh_runs_get_one_directory_each(work: Path) -> None:
    runs = [spawn(work, "train", "tiny.toml", "--no-progress") for _ in range(2)]
    for process in runs:
        assert process.wait(timeout=60) == 0, process.stderr.read() if process.stderr else ""
        if process.stderr:
            process.stderr.close()
    directories = sorted(p.name for p in (work / "runs").iterdir())
    assert directories == ["tiny", "tiny-2"]
    for name in directories:
        assert steps_logged(work / "runs" / name) == list(range(1, 21))


def test_tampered_checkpoints_are_refused_on_resume(work: Path) -> None:
    from tinytorch_core.serialization import load, save

    assert tt(work, "train", "tiny.toml", "--no-progress").returncode == 0
    checkpoint = work / "runs" / "tiny" / "checkpoints" / "last.safetensors"
    tensors, metadata = load(checkpoint)
    cases = {
        "negative step": {**metadata, "step": -50},
        "string step": {**metadata, "step": "20"},
        "bool step": {**metadata, "step": True},
        "no rng state": {k: v for k, v in metadata.items() if k != "rng_state"},
        "negative epoch": {**metadata, "extra": {"trainer": {"epoch": -1}}},
    }
    for case, meta in cases.items():
        save(checkpoint, tensors, meta)
        line = one_error_line(tt(work, "train", "tiny.toml", "--resume", "runs/tiny"), "last.safetensors")
        assert "KeyError" not in line and "Traceback" not in line, case
    save(checkpoint, {k: v for k, v in tensors.items() if not k.startswith("model.blocks")}, metadata)
    one_error_line(tt(work, "train", "tiny.toml", "--resume", "runs/tiny"), "last.safetensors", "missing")
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])
    one_error_line(tt(work, "train", "tiny.toml", "--resume", "runs/tiny"), "last.safetensors")
    checkpoint.write_bytes(b"\xff" * 16)
    one_error_line(tt(work, "train", "tiny.toml", "--resume", "runs/tiny"), "last.safetensors")


def test_symlinks_planted_in_a_run_directory_are_not_followed(work: Path) -> None:
    assert tt(work, "train", "tiny.toml", "--no-progress").returncode == 0
    run = work / "runs" / "tiny"
    victim = work / "victim.txt"
    victim.write_text("keep me\n")
    for name in ("metrics.jsonl", "config.json", "model.safetensors"):
        target = run / name
        saved = target.read_bytes()
        target.unlink()
        target.symlink_to(victim)
        one_error_line(tt(work, "train", "tiny.toml", "--resume", "runs/tiny", "--set", "train.steps=25"),
                       name, "symlink")
        one_error_line(tt(work, "train", "tiny.toml", "--overwrite"), name, "symlink")
        assert victim.read_text() == "keep me\n"
        target.unlink()
        target.write_bytes(saved)


def _mount_tmpfs(path: Path, size: str) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def test_disk_full_is_one_line_and_leaves_no_temp_file(work: Path) -> None:
    disk = work / "small-disk"
    if not _mount_tmpfs(disk, "120k"):
        pytest.skip("needs root and mount -t tmpfs to make a small disk")
    try:
        result = tt(work, "train", "tiny.toml", "--no-progress", "--set", f"output.dir=\"{disk / 'run'}\"",
                    "--set", "language.sample_chars=0", "--set", "train.steps=40",
                    "--set", "model.d_model=16")
        one_error_line(result, "No space left", "last.safetensors", "the disk is full", "--resume")
        run = disk / "run"
        assert temp_files(run) == [] and not (run / ".lock").exists()
        checkpoint = run / "checkpoints" / "last.safetensors"
        assert checkpoint.exists()  # the first save fitted, the second did not: the first is kept whole
        if checkpoint.exists():
            from tinytorch_core.serialization import load

            load(checkpoint)
            before = checkpoint.read_bytes()  # resuming on the still-full disk fails the same way, keeping it
            again = tt(work, "train", "tiny.toml", "--no-progress", "--set", f"output.dir=\"{run}\"",
                       "--set", "language.sample_chars=0", "--set", "train.steps=40", "--set", "model.d_model=16",
                       "--resume", str(run))
            one_error_line(again, "No space left")
            assert checkpoint.read_bytes() == before and temp_files(run) == []
    finally:
        subprocess.run(["umount", str(disk)], check=False)


# ------------------------------------------------------------------------------------ plugins
TOY_PLUGIN = """
import numpy as np
from tinytorch_core import nn
from tinytorch_core.data import ArrayDataset, DataSplits
from tinytorch_core.hookspecs import hookimpl


def blobs(num_samples=120):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=num_samples)
    x = (rng.normal(0, 3, size=(3, 4))[y] + rng.normal(0, 0.5, size=(num_samples, 4))).astype(np.float32)
    return DataSplits(ArrayDataset(x[:90], y[:90]), ArrayDataset(x[90:], y[90:]), {"num_classes": 3})


def mlp(num_classes, hidden=8):
    return nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))


@hookimpl
def tinytorch_register_datasets(register):
    register("__NAME___blobs", blobs)


@hookimpl
def tinytorch_register_models(register):
    register(__MODEL__, mlp)
"""

TOY_TRAIN = """\
[data]
name = "toy_blobs"
[model]
name = "toy_mlp"
[train]
optimizer = "adam"
lr = 0.05
steps = 6
batch_size = 30
eval_every = 3
seed = 0
"""


def toy(name: str, model: str = "", extra: str = "") -> str:
    return TOY_PLUGIN.replace("__MODEL__", repr(model or f"{name}_mlp")).replace("__NAME__", name) + extra


@pytest.fixture
def make(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Make]:
    with plugin_maker(tmp_path, monkeypatch, prefix="rel_plugin", version="1.0", default_source=toy("x")) as maker:
        yield maker


def builtin_language() -> InstalledPlugin:
    return InstalledPlugin("language", "plugins.language.plugin", BUILTIN_DISTRIBUTION, "0.1.0")


def cli_in(plugins: list[InstalledPlugin], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    with fake_installed(plugins):
        return tt(cwd, *args)


@pytest.mark.parametrize("thief", ["aaa", "zzz"])  # sorts before and after "language": load order must not matter
def test_a_third_party_cannot_take_a_builtin_name(make: Make, tmp_path: Path, thief: str) -> None:
    plugins = [builtin_language(), make(thief, toy(thief, "tinygpt"))]
    line = one_error_line(cli_in(plugins, tmp_path, "components", "--kind", "models"),
                          f"plugin {thief!r}", "'tinygpt'", "built-in plugin 'language'", f"-p no:{thief}")
    assert line.startswith(f"tinytorch: error: plugin {thief!r}")
    (tmp_path / "tinytorch.toml").write_text("[plugins]\nstrict = false\n")
    lenient = cli_in(plugins, tmp_path, "components", "--kind", "models")
    assert lenient.returncode == 0
    row = next(line for line in lenient.stdout.splitlines() if line.split()[1:2] == ["tinygpt"])
    assert row.split()[2] == "language"
    assert f"skipped plugin {thief!r}" in lenient.stderr
    assert f"{thief}_blobs" not in cli_in(plugins, tmp_path, "components").stdout  # all-or-nothing: none of it stays


def test_a_builtin_registered_after_a_third_party_still_owns_its_names(make: Make, tmp_path: Path) -> None:
    from registry.config import Config
    from registry.manager import PluginManager

    thief = make("early", toy("early", "tinygpt"))
    manager = PluginManager()
    manager.register(thief.load(), name="early")  # a local plugin holds "tinygpt" first
    with fake_installed([builtin_language()]):
        manager.load(Config({"plugins": {"strict": False}}), env={}, warn=False)
    assert manager.get("models", "tinygpt").plugin == "language"
    assert manager.plugins["early"].status == "failed"
    assert "owned by the built-in plugin 'language'" in str(manager.plugins["early"].reason)


def test_two_third_parties_clash_naming_both(make: Make, tmp_path: Path) -> None:
    plugins = [make("first", toy("first", "shared")), make("second", toy("second", "shared"))]
    one_error_line(cli_in(plugins, tmp_path, "components"), "plugin 'second'", "'shared'",
                   "already registered by plugin 'first'")


IMPORT_FAILURES = {
    "sys.exit(3)": ("import sys\nsys.exit(3)\n", "called sys.exit(3)"),
    "sys.exit('bye')": ("import sys\nsys.exit('bye')\n", "called sys.exit('bye')"),
    "KeyboardInterrupt": ("raise KeyboardInterrupt\n", "KeyboardInterrupt"),
    "bare Exception()": ("raise Exception()\n", "Exception (no message)"),
    "RecursionError": ("def f():\n    return f()\nf()\n", "RecursionError"),
}


@pytest.mark.parametrize("case", sorted(IMPORT_FAILURES))
def test_any_exception_at_import_is_reported_naming_the_plugin(make: Make, tmp_path: Path, case: str) -> None:
    source, expected = IMPORT_FAILURES[case]
    plugins = [make("good"), make("crash", source)]
    listing = cli_in(plugins, tmp_path, "plugins")
    assert listing.returncode == 1 and "good" in listing.stdout  # the listing is complete, not cut short
    assert "crash: failed: plugin 'crash'" in listing.stdout and expected in listing.stdout
    one_error_line(cli_in(plugins, tmp_path, "components"), "plugin 'crash'", expected, "-p no:crash")


def test_sys_exit_in_a_registration_hook_names_the_plugin(make: Make, tmp_path: Path) -> None:
    source = toy("reg", extra="\n@hookimpl\ndef tinytorch_register_tokenizers(register):\n"
                              "    import sys\n    sys.exit(4)\n")
    one_error_line(cli_in([make("reg", source)], tmp_path, "components"), "plugin 'reg'",
                   "tinytorch_register_tokenizers raised called sys.exit(4)")


OBSERVER_FAILURES = {
    "on_step_end": "@hookimpl\ndef tinytorch_on_step_end(trainer, step, loss):\n    raise RuntimeError('dashboard down')\n",
    "on_eval_end": "@hookimpl\ndef tinytorch_on_eval_end(trainer, step, metrics):\n    raise KeyError('val')\n",
    "on_train_end": "@hookimpl\ndef tinytorch_on_train_end(trainer, config):\n    raise OSError('upload failed')\n",
    "on_train_end sys.exit": "@hookimpl\ndef tinytorch_on_train_end(trainer, config):\n    import sys\n    sys.exit(1)\n",
    "on_train_start": "@hookimpl\ndef tinytorch_on_train_start(trainer, config):\n    1 / 0\n",
}


@pytest.mark.parametrize("case", sorted(OBSERVER_FAILURES))
def test_a_failing_observer_hook_warns_naming_the_plugin_and_the_run_succeeds(make: Make, tmp_path: Path,
                                                                              case: str) -> None:
    (tmp_path / "toy.toml").write_text(TOY_TRAIN)
    plugins = [make("toy", toy("toy")), make("watcher", "from tinytorch_core.hookspecs import hookimpl\n" + OBSERVER_FAILURES[case])]
    result = cli_in(plugins, tmp_path, "train", "toy.toml", "--no-progress")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("tinytorch: warning: plugin 'watcher'")]
    assert warnings and "tinytorch_" + case.split()[0] in warnings[0] and "-p no:watcher" in warnings[0]
    assert "Traceback" not in result.stderr
    assert steps_logged(tmp_path / "runs" / "toy") == list(range(1, 7))
    assert (tmp_path / "runs" / "toy" / "checkpoints" / "last.safetensors").is_file()
    if case == "on_step_end":
        assert "failed 6 times" in result.stderr and len(warnings) == 2  # first failure + the summary


def test_a_plugin_command_that_raises_is_one_line_naming_the_plugin(make: Make, tmp_path: Path) -> None:
    source = toy("cmd", extra="\n@hookimpl\ndef tinytorch_register_commands(cli):\n"
                              "    cli.add_command('boom', lambda args: {}['k'], help='explodes')\n")
    one_error_line(cli_in([make("cmd", source)], tmp_path, "boom"), "plugin 'cmd'", "command 'boom'", "KeyError")


# ------------------------------------------------------------------------------ unclear messages
MESSAGES = {  # --set value -> what the one error line must name (besides tiny.toml)
    "data.block_size=0": ["[data]", "block_size must be a positive int"],
    "data.block_size=\"abc\"": ["[data] block_size must be int"],
    "data.val_fraction=\"x\"": ["[data] val_fraction must be float"],
    "model.dropout=\"x\"": ["[model] dropout must be float"],
    "train.betas=[\"a\", 1]": ["[train] betas must be two numbers"],
    "train.steps=-1": ["[train] steps must be a finite number > 0"],
    "train.eval_every=0": ["[train] eval_every"],
    "train.lr=nan": ["[train] lr must be a finite number"],
    "train.warmup_steps=-3": ["[train] warmup_steps"],
    "train.callbacks=[\"nope\"]": ["[train] callbacks", "no callback named 'nope'"],
    "train.callbacks=[{name = \"sample\", evry = 3}]": ["[train] callbacks", "did you mean 'every'"],
    "model.name=\"tinygtp\"": ["[model] name", "did you mean 'tinygpt'"],
    "data.max_chars=-1": ["[data]", "max_chars must be positive"],
    "data.corpus=\"/etc\"": ["[data]", "'/etc' is neither a file"],
    "train.grad_accum_steps=0": ["[train] grad_accum_steps"],
    "train.steps=1e400": ["[train] steps must be int"],
}


def test_bad_values_are_one_line_naming_file_and_key(work: Path) -> None:
    for assignment, needles in MESSAGES.items():
        line = one_error_line(tt(work, "train", "tiny.toml", "--set", assignment), "tiny.toml", *needles)
        for bare in ("ZeroDivisionError", "TypeError", "could not convert", "invalid literal"):
            assert bare not in line, line
    assert not (work / "runs").exists()


def test_unreadable_configs_name_their_file(work: Path) -> None:
    (work / "latin1.toml").write_bytes(CONFIG.encode() + "# caf\xe9\n".encode("latin-1"))
    one_error_line(tt(work, "train", "latin1.toml"), "latin1.toml", "not UTF-8", "offset")
    (work / "broken.toml").write_text("[train\nsteps = 1\n")
    one_error_line(tt(work, "train", "broken.toml"), "broken.toml", "not valid TOML")
    one_error_line(tt(work, "train", "nowhere.toml"), "nowhere.toml", "not found")
    one_error_line(tt(work, "-p", "language==1.x", "components"), "language==1.x", "invalid version specifier")


def test_a_section_of_an_enabled_but_missing_plugin_names_the_plugin(work: Path) -> None:
    (work / "audio.toml").write_text('[plugins]\nenable = ["language", "audio"]\n[audio]\nrate = 16000\n')
    line = one_error_line(tt(work, "-c", "audio.toml", "components"), "plugin 'audio'", "not installed")
    assert "unknown section" not in line
    (work / "audio.toml").write_text('[plugins]\nenable = ["language", "audio"]\nstrict = false\n[audio]\nrate = 1\n')
    lenient = tt(work, "-c", "audio.toml", "components")
    assert lenient.returncode == 0 and "skipped plugin 'audio'" in lenient.stderr and "unknown section" not in lenient.stderr


def test_divergence_is_one_line_with_the_step_and_the_fix_and_no_warnings(work: Path) -> None:
    result = tt_process(work, "train", "tiny.toml", "--no-progress", "--set", "train.lr=1e9")
    line = one_error_line(result, "training diverged at step", "[train] lr", "--set train.lr=")
    assert "RuntimeWarning" not in result.stderr and "Error:" not in line
    assert len(result.stderr.strip().splitlines()) <= 3, result.stderr  # no numpy warnings spam


def test_ctrl_c_names_the_cli_resume_command(work: Path) -> None:
    process = subprocess.Popen([sys.executable, "-m", "registry.cli", "train", "tiny.toml", "--no-progress",
                                "--set", "train.steps=100000"], cwd=work, env=_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    metrics = work / "runs" / "tiny" / "metrics.jsonl"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (metrics.exists() and metrics.stat().st_size > 0):
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert "tinytorch train tiny.toml --resume runs/tiny" in err and "Trainer.fit" not in err
    assert not (work / "runs" / "tiny" / ".lock").exists()


def test_generate_accepts_a_run_directory_and_its_training_checkpoint(work: Path) -> None:
    assert tt(work, "train", "tiny.toml", "--no-progress").returncode == 0
    args = ("--prompt", "the", "--max-new-tokens", "8", "--seed", "0")
    reference = tt(work, "generate", "runs/tiny/model.safetensors", *args)
    assert reference.returncode == 0, reference.stderr
    assert tt(work, "generate", "runs/tiny", *args).stdout == reference.stdout
    from_checkpoint = tt(work, "generate", "runs/tiny/checkpoints/last.safetensors", *args)
    assert from_checkpoint.returncode == 0 and from_checkpoint.stdout == reference.stdout  # same final weights
    (work / "runs" / "tiny" / "model.safetensors").unlink()
    line = one_error_line(tt(work, "generate", "runs/tiny/checkpoints/last.safetensors", *args),
                          "training checkpoint", "--resume")
    assert "Traceback" not in line
    one_error_line(tt(work, "generate", "runs", *args), "runs", "directory")
    one_error_line(tt(work, "generate", "tiny.toml", *args), "tiny.toml")


def test_generate_prompt_problems_are_one_line(work: Path) -> None:
    assert tt(work, "train", "tiny.toml", "--no-progress").returncode == 0
    model = "runs/tiny/model.safetensors"
    one_error_line(tt(work, "generate", model, "--prompt", "a\udcff"), "--prompt", "UTF-8")
    line = one_error_line(tt(work, "generate", model, "--prompt", "caf\u00e9"), "--prompt", "'\u00e9'", "vocabulary")
    assert "CharTokenizer(" not in line  # the CLI fix, not the Python API's
    result = tt_process(work, "generate", model, "--prompt", "\udcff")  # a real non-UTF-8 argv byte
    one_error_line(result, "--prompt", "UTF-8")


HOSTILE_MODEL_METADATA = {
    "bpe merges of strings": lambda m: {**m, "tokenizer": {"type": "bpe", "merges": [["a", "b"]]}},
    "tokenizer is a list": lambda m: {**m, "tokenizer": [1, 2]},
    "unknown tokenizer type": lambda m: {**m, "tokenizer": {"type": "wordpiece"}},
    "num_heads 0": lambda m: {**m, "config": {**m["config"], "num_heads": 0}},
    "d_model a string": lambda m: {**m, "config": {**m["config"], "d_model": "abc"}},
    "config a list": lambda m: {**m, "config": [1]},
    "unknown format": lambda m: {**m, "format": 99},
    "vocab_size below the tokenizer's": lambda m: {**m, "config": {**m["config"], "vocab_size": 5}},
    "empty char vocabulary": lambda m: {**m, "tokenizer": {**m["tokenizer"], "vocab": ""}},
    "another model": lambda m: {**m, "model": "resnet"},
}


def test_generate_refuses_hostile_model_metadata_in_one_line(work: Path) -> None:
    from tinytorch_core.serialization import load, save

    assert tt(work, "train", "tiny.toml", "--no-progress").returncode == 0
    tensors, metadata = load(work / "runs" / "tiny" / "model.safetensors")
    for case, tamper in HOSTILE_MODEL_METADATA.items():
        save(work / "hostile.safetensors", tensors, tamper(metadata))
        line = one_error_line(tt(work, "generate", "hostile.safetensors", "--prompt", "the"), "hostile.safetensors")
        assert "Traceback" not in line, case


def test_unusable_run_directories_are_one_line(work: Path) -> None:
    one_error_line(tt(work, "train", "tiny.toml", "--set", "output.dir=\".\""), "[output] dir", "runs/NAME")
    one_error_line(tt(work, "train", "tiny.toml", "--set", "output.dir=\"/proc/no/such\""), "/proc/no", "[output] dir")
    one_error_line(tt(work, "train", "tiny.toml", "--resume", "tiny.toml"), "--resume tiny.toml", "no checkpoint")
    one_error_line(tt(work, "train", "tiny.toml", "--resume", "runs/none"), "--resume runs/none")
    assert tt(work, "train", "tiny.toml", "--no-progress").returncode == 0
    one_error_line(tt(work, "train", "tiny.toml", "--resume", "runs/tiny", "--overwrite"), "--resume", "--overwrite")
    (work / "runs" / "tiny" / "config.json").write_text("{torn")
    one_error_line(tt(work, "train", "tiny.toml", "--resume", "runs/tiny"), "config.json", "not valid JSON")
    (work / "runs" / "tiny" / "config.json").write_text("[1, 2]")
    one_error_line(tt(work, "train", "tiny.toml", "--resume", "runs/tiny"), "config.json", "not a JSON object")


def test_foreign_and_garbled_locks(work: Path) -> None:
    assert tt(work, "train", "tiny.toml", "--no-progress").returncode == 0
    lock = work / "runs" / "tiny" / ".lock"
    lock.write_text(json.dumps({"pid": 1, "host": "another-machine"}))
    one_error_line(tt(work, "train", "tiny.toml", "--resume", "runs/tiny"), "another-machine", "delete")
    lock.write_text(json.dumps({"pid": 1, "host": __import__("socket").gethostname()}))  # pid 1 is alive
    one_error_line(tt(work, "train", "tiny.toml", "--resume", "runs/tiny"), "pid 1", "in use")
    lock.write_text("")  # a writer killed between creating the lock and filling it
    one_error_line(tt(work, "train", "tiny.toml", "--resume", "runs/tiny"), "unreadable")
    os.utime(lock, (time.time() - 60, time.time() - 60))  # ... long ago: stale
    assert tt(work, "train", "tiny.toml", "--resume", "runs/tiny", "--set", "train.steps=22").returncode == 0
    assert not lock.exists()


def test_a_tampered_metrics_log_is_cut_back_on_resume(work: Path) -> None:
    assert tt(work, "train", "tiny.toml", "--no-progress").returncode == 0
    metrics = work / "runs" / "tiny" / "metrics.jsonl"
    with metrics.open("a") as log:
        log.write('{"step": 999, "train_loss": 1.0}\n[1, 2]\nnot json\n{"step": "21", "train_loss": 1}\n{"step": 2')
    resumed = tt(work, "train", "tiny.toml", "--resume", "runs/tiny", "--set", "train.steps=25", "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    assert steps_logged(work / "runs" / "tiny") == list(range(1, 26))
    metrics.unlink()
    metrics.mkdir()
    one_error_line(tt(work, "train", "tiny.toml", "--resume", "runs/tiny", "--set", "train.steps=30"), "metrics.jsonl")
