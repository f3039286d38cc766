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
from pathlib import Path

import pytest

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
        for _ in range(200):
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
                    "--set", "model.d_model=32")
        one_error_line(result, "No space left")
        run = disk / "run"
        assert temp_files(run) == [] and not (run / ".lock").exists()
        checkpoint = run / "checkpoints" / "last.safetensors"
        if checkpoint.exists():  # whatever is there is a complete, loadable checkpoint
            from tinytorch_core.serialization import load

            load(checkpoint)
    finally:
        subprocess.run(["umount", str(disk)], check=False)
