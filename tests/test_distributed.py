"""Data-parallel training on MPI (issue 14): 2 ranks equal 1 rank, resume across rank counts, failures end the job.

The multi-process tests run ``mpiexec -n 2`` inside a network namespace with only loopback
(``unshare -n``, as root), so no traffic can leave the machine; they skip with a reason where that
or the ``distributed`` extra is unavailable. Each rank uses one BLAS thread (2 ranks share 2 cores).

Tolerance (float32): the 2-rank gradient is the mean of two half-batch means instead of one
full-batch mean, so it differs from the 1-rank gradient by a few float32 roundings (~1e-7 relative).
Over 20 Adam(W) steps that reaches ~3e-6 on parameters of size ~1 (measured: TinyGPT 3.4e-6, CNN 3e-8;
Adam's normalised update amplifies tiny differences where a gradient is near zero) and ~2.4e-7 on
losses of ~3.8 (one float32 ulp). We assert losses within 2e-5 and parameters within 5e-5 absolute:
an order of magnitude above what rounding gives, and far below a real sharding error (a rank
training on the wrong rows, or gradients summed instead of averaged, moves losses by > 1e-3 and
parameters by ~lr = 3e-3 after one step).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tinytorch_core import Tensor, manual_seed
from tinytorch_core.data import ArrayDataset, DataLoader
from tinytorch_core.distributed import DistributedSampler
from tinytorch_core.nn import Linear
from tinytorch_core.optim import AdamW
from tinytorch_core.training import Callback, Trainer

BIN = Path(sys.executable).parent
LOSS_TOL = 2e-5
PARAM_TOL = 5e-5
RANK_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

GPT_CONFIG = """
[plugins]
enable = ["language"]
[data]
name = "text"
corpus = "stdlib"
tokenizer = "char"
block_size = 16
max_chars = 20000
[model]
name = "tinygpt"
num_layers = 2
num_heads = 2
d_model = 32
dropout = 0.0
[train]
optimizer = "adamw"
lr = 3e-3
grad_clip = 1.0
warmup_steps = 5
cosine = true
steps = 20
batch_size = 8
eval_every = 10
eval_batches = 3
seed = 1
log_every = 0
progress = false
[language]
sample_chars = 0
"""

CNN_CONFIG = """
[plugins]
enable = ["vision"]
[data]
name = "shapes"
n_train = 256
n_val = 64
image_size = 12
num_classes = 4
seed = 0
[model]
name = "simple_cnn"
channels = [4, 8]
hidden = 16
batch_norm = false
[train]
optimizer = "adam"
lr = 3e-3
grad_clip = 0.5
steps = 20
batch_size = 16
eval_every = 10
eval_batches = 3
checkpoint_every = 10
seed = 0
log_every = 0
progress = false
[vision]
report_accuracy = false
"""


# ----------------------------------------------------------------------------- helpers

class FakeGroup:
    """Just enough of a ProcessGroup for the sampler: a rank, a size, and a broadcast that keeps the value."""

    def __init__(self, rank: int, world_size: int) -> None:
        self.rank, self.world_size = rank, world_size

    def broadcast_json(self, obj: Any, root: int = 0) -> Any:
        return json.loads(json.dumps(obj))


@pytest.fixture(scope="module")
def mpi() -> Path:
    """The venv's ``mpiexec``, usable inside ``unshare -n``; skips with the reason otherwise."""
    pytest.importorskip("mpi4py", reason="needs the distributed extra: pip install -e '.[distributed]'")
    mpiexec = BIN / "mpiexec" if (BIN / "mpiexec").exists() else shutil.which("mpiexec")
    if mpiexec is None:
        pytest.skip("mpi4py is installed but no mpiexec was found (install the mpich wheel: the distributed extra)")
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True) if shutil.which("unshare") else None
    if probe is None or probe.returncode != 0:
        pytest.skip("MPI tests run in a loopback-only network namespace: `unshare -n` needs root "
                    f"({probe.stderr.strip() if probe else 'unshare not found'})")
    return Path(mpiexec)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_"))}
    env.update(RANK_ENV)
    return env


def _namespaced(mpiexec: Path, launch: str) -> list[str]:
    # A fresh network namespace has only `lo`, and it starts down.
    return ["unshare", "-n", "sh", "-c", f"ip link set lo up 2>/dev/null; exec {mpiexec} {launch}"]


def _train_args(config: Path, out: Path, *extra: str) -> str:
    return " ".join([str(BIN / "tinytorch"), "train", str(config), "--set", f"output.dir={out}", *extra])


def run_ranks(mpiexec: Path, n: int, config: Path, out: Path, *extra: str, timeout: float = 180) -> str:
    result = subprocess.run(_namespaced(mpiexec, f"-n {n} {_train_args(config, out, *extra)}"), env=_env(),
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def run_single(config: Path, out: Path, *extra: str) -> str:
    result = subprocess.run([str(BIN / "tinytorch"), "train", str(config), "--set", f"output.dir={out}", *extra],
                            env=_env(), capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def metrics(run: Path) -> tuple[dict[int, float], dict[int, float]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train = {r["step"]: r["train_loss"] for r in rows if "train_loss" in r}
    val = {r["step"]: r["val_loss"] for r in rows if "val_loss" in r}
    return train, val


def final_params(run: Path) -> dict[str, np.ndarray]:
    from safetensors import safe_open

    with safe_open(str(run / "checkpoints" / "last.safetensors"), "numpy") as f:
        return {k: f.get_tensor(k) for k in f.keys() if k.startswith("model.")}


def assert_same_run(reference: Path, other: Path, steps: range | None = None) -> None:
    ref_train, ref_val = metrics(reference)
    train, val = metrics(other)
    wanted = sorted(ref_train) if steps is None else list(steps)
    assert sorted(train) == wanted and len(wanted) > 0
    np.testing.assert_allclose([train[s] for s in wanted], [ref_train[s] for s in wanted], rtol=0, atol=LOSS_TOL)
    shared = sorted(set(val) & set(ref_val))
    assert shared, "no evaluation step in common"
    np.testing.assert_allclose([val[s] for s in shared], [ref_val[s] for s in shared], rtol=0, atol=LOSS_TOL)
    ref_params, params = final_params(reference), final_params(other)
    assert sorted(params) == sorted(ref_params)
    for name in ref_params:
        np.testing.assert_allclose(params[name], ref_params[name], rtol=0, atol=PARAM_TOL, err_msg=name)


@pytest.fixture(scope="module")
def configs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("configs")
    paths = {"gpt": root / "gpt.toml", "cnn": root / "cnn.toml"}
    paths["gpt"].write_text(GPT_CONFIG)
    paths["cnn"].write_text(CNN_CONFIG)
    return paths


@pytest.fixture(scope="module")
def cnn_reference(configs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 CNN steps in one process (checkpoints at 10 and 20)."""
    out = tmp_path_factory.mktemp("cnn1")
    run_single(configs["cnn"], out)
    return out


# ----------------------------------------------------------------------------- without MPI

def test_sampler_shards_are_the_single_process_batches() -> None:
    data = ArrayDataset(np.arange(40, dtype=np.float32)[:, None], np.arange(40))
    whole = [y for _, y in DataLoader(data, batch_size=8, shuffle=True, seed=3)]
    shards = [list(DistributedSampler(DataLoader(data, batch_size=8, shuffle=True, seed=3),
                                      group=FakeGroup(r, 2))) for r in range(2)]  # type: ignore[arg-type]
    assert len(whole) == 5 and all(len(s) == 5 for s in shards)
    for k, batch in enumerate(whole):
        assert shards[0][k][1].tolist() + shards[1][k][1].tolist() == batch.tolist()


def test_sampler_state_is_global_so_resume_may_change_the_rank_count() -> None:
    data = ArrayDataset(np.arange(48)[:, None], np.arange(48))
    loader = DistributedSampler(DataLoader(data, batch_size=12, shuffle=True, seed=0), group=FakeGroup(1, 2))  # type: ignore[arg-type]
    it = iter(loader)
    next(it), next(it)
    state = loader.state_dict()
    single = DataLoader(data, batch_size=12, shuffle=True, seed=99)
    single.load_state_dict(state)
    reference = DataLoader(data, batch_size=12, shuffle=True, seed=0)
    assert [y.tolist() for _, y in single] == [y.tolist() for _, y in reference][2:]


def test_sampler_rejects_a_batch_that_does_not_divide() -> None:
    data = ArrayDataset(np.arange(10)[:, None], np.arange(10))
    with pytest.raises(ValueError, match="global batch_size 5 does not divide among 2 ranks"):
        DistributedSampler(DataLoader(data, batch_size=5), group=FakeGroup(0, 2))  # type: ignore[arg-type]
    # Evaluation may split unevenly: losses and counts are summed, and an empty share is skipped.
    shares = [[y.tolist() for _, y in DistributedSampler(DataLoader(data, batch_size=4), even=False,
                                                        group=FakeGroup(r, 3))]  # type: ignore[arg-type]
              for r in range(3)]
    assert shares == [[[0], [4]], [[1], [5], [8]], [[2, 3], [6, 7], [9]]]


def test_flat_grads_gathers_every_gradient_into_the_group_buffer() -> None:
    manual_seed(0)
    layer = Linear(3, 2)
    opt = AdamW(layer.parameters(), lr=0.1)
    layer.weight.grad = np.ones((2, 3), dtype=np.float32)  # not a view of the buffer
    layer.bias.grad = None
    (buffer,) = opt.flat_grads()
    assert buffer.tolist() == [1.0] * 6 + [0.0, 0.0]
    buffer *= 4  # changing the buffer in place changes what step() uses
    assert layer.weight.grad is not None and float(layer.weight.grad[0, 0]) == 4.0 and layer.bias.grad is None


def test_before_optimizer_step_runs_after_backward_and_before_clipping() -> None:
    manual_seed(0)
    model = Linear(4, 2)
    seen: list[float] = []

    class Scale(Callback):
        def on_before_optimizer_step(self, trainer: Trainer, optimizer: Any) -> None:
            grads = optimizer.flat_grads()
            seen.append(float(np.sqrt(sum(float(g @ g) for g in grads))))
            for g in grads:
                g *= 1000.0  # clipping must see (and cut back) this

    clipped: list[float] = []

    class After(Callback):
        def on_step_end(self, trainer: Trainer, step: int, loss: float) -> None:
            clipped.append(float(np.sqrt(sum(float(g @ g) for g in trainer.optimizer.flat_grads()))))

    x, y = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32), np.arange(8) % 2
    trainer = Trainer(model, AdamW(model.parameters(), lr=0.01), grad_clip=1.0, callbacks=[Scale(), After()],
                      progress=False, log_every=None)
    trainer.fit(DataLoader(ArrayDataset(x, y), batch_size=8), max_steps=2)
    assert len(seen) == 2 and all(0 < s < 100 for s in seen)
    assert clipped == pytest.approx([1.0, 1.0], rel=1e-4)


def test_evaluation_sums_losses_counts_and_metric_state_over_the_ranks() -> None:
    from tinytorch_core.metrics import Accuracy
    from tinytorch_core.training.evaluation import evaluate_batches

    manual_seed(0)
    model = Linear(4, 3)
    x, y = np.random.default_rng(1).normal(size=(10, 4)).astype(np.float32), np.arange(10) % 3
    trainer = Trainer(model, AdamW(model.parameters(), lr=0.1), progress=False, log_every=None)
    halves = [DataLoader(ArrayDataset(x[:6], y[:6]), batch_size=6), DataLoader(ArrayDataset(x[6:], y[6:]), batch_size=4)]
    shares = []
    for half in halves:  # what each of two ranks sums locally, before the reduction
        accuracy = Accuracy()
        shares.append((evaluate_batches(model, trainer.step_fn, trainer.loss_fn, half, None, [accuracy],
                                        reduce=lambda values: list(values)), accuracy))
    local = [[r["val_loss"] * w, float(w), a.total, float(a.count)] for (r, a), w in zip(shares, (6, 4))]
    both = [sum(column) for column in zip(*local)]
    merged = evaluate_batches(model, trainer.step_fn, trainer.loss_fn, halves[0], None, [Accuracy()],
                              reduce=lambda values: [b + (v - l) for b, v, l in zip(both, values, local[0])])
    whole = evaluate_batches(model, trainer.step_fn, trainer.loss_fn, DataLoader(ArrayDataset(x, y), batch_size=10),
                             None, [Accuracy()])
    assert merged["val_loss"] == pytest.approx(whole["val_loss"], rel=1e-6)
    assert merged["val_accuracy"] == pytest.approx(whole["val_accuracy"])


def test_a_distributed_run_without_the_extra_names_it(tmp_path: Path, configs: dict[str, Path]) -> None:
    # mpi4py made unimportable, as in an install without the distributed extra; PMI_RANK as mpiexec sets it.
    code = "import sys; sys.modules['mpi4py'] = None; from registry.cli import main; raise SystemExit(main())"
    env = {**_env(), "PMI_RANK": "0", "PMI_SIZE": "1"}
    result = subprocess.run([sys.executable, "-c", code, "train", str(configs["cnn"]), "--set",
                             f"output.dir={tmp_path / 'run'}"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "distributed extra" in lines[0] and "tinytorch-numpy[distributed]" in lines[0]
    assert not (tmp_path / "run").exists()


# ----------------------------------------------------------------------------- 2 ranks

@pytest.mark.slow
def test_tinygpt_on_two_ranks_equals_one(mpi: Path, configs: dict[str, Path], tmp_path: Path) -> None:
    run_single(configs["gpt"], tmp_path / "one", "--set", "train.checkpoint_every=20")
    out = run_ranks(mpi, 2, configs["gpt"], tmp_path / "two", "--set", "train.checkpoint_every=20")
    assert out.count("run directory:") == 1  # only rank 0 prints
    assert_same_run(tmp_path / "one", tmp_path / "two")


@pytest.mark.slow
def test_cnn_on_two_ranks_equals_one(mpi: Path, configs: dict[str, Path], cnn_reference: Path, tmp_path: Path) -> None:
    run_ranks(mpi, 2, configs["cnn"], tmp_path / "two")
    assert_same_run(cnn_reference, tmp_path / "two")


@pytest.mark.slow
def test_resume_from_two_ranks_on_two_and_on_one(mpi: Path, configs: dict[str, Path], cnn_reference: Path,
                                                 tmp_path: Path) -> None:
    first = tmp_path / "first"
    run_ranks(mpi, 2, configs["cnn"], first, "--set", "train.steps=10")
    shutil.copytree(first, tmp_path / "other")
    run_ranks(mpi, 2, configs["cnn"], first, "--resume", str(first))
    assert_same_run(cnn_reference, first)
    run_single(configs["cnn"], tmp_path / "other", "--resume", str(tmp_path / "other"))
    assert_same_run(cnn_reference, tmp_path / "other")


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _rank_pid(launcher: int, rank: int) -> int | None:
    for pid in _descendants(launcher):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if f"PMI_RANK={rank}".encode() in environ and b"tinytorch" in cmdline:
            return pid
    return None


@pytest.fixture
def launched() -> Iterator[list[subprocess.Popen[str]]]:
    """Jobs a test starts; any still running at the end is killed, whatever the test did."""
    jobs: list[subprocess.Popen[str]] = []
    yield jobs
    for job in jobs:
        if job.poll() is None:
            for pid in _descendants(job.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            job.kill()
            job.wait()


@pytest.mark.slow
def test_a_killed_rank_ends_the_job(mpi: Path, configs: dict[str, Path], tmp_path: Path,
                                    launched: list[subprocess.Popen[str]]) -> None:
    out = tmp_path / "run"
    job = subprocess.Popen(_namespaced(mpi, f"-n 2 {_train_args(configs['gpt'], out, '--set', 'train.steps=100000')}"),
                           env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    launched.append(job)
    deadline = time.monotonic() + 120
    victim = None
    while time.monotonic() < deadline and job.poll() is None:
        if (out / "metrics.jsonl").exists() and (out / "metrics.jsonl").read_text().count("\n") >= 3:
            victim = _rank_pid(job.pid, 1)
            if victim is not None:
                break
        time.sleep(0.2)
    assert victim is not None, f"rank 1 never got going: {job.poll()} {job.stderr.read() if job.poll() is not None else ''}"
    os.kill(victim, signal.SIGKILL)
    killed = time.monotonic()
    job.wait(timeout=30)
    assert time.monotonic() - killed < 15
    assert job.returncode != 0
    assert not [p for p in _descendants(job.pid) if Path(f"/proc/{p}").exists()]


@pytest.mark.slow
def test_a_rank_that_raises_ends_every_rank_with_one_line(mpi: Path, configs: dict[str, Path], tmp_path: Path) -> None:
    # MPMD launch: rank 1 alone gets an absurd learning rate, diverges at once and raises mid-training
    # while rank 0 waits in the gradient allreduce.
    out = tmp_path / "run"
    launch = (f"-n 1 {_train_args(configs['gpt'], out, '--set', 'train.steps=100000')} : "
              f"-n 1 {_train_args(configs['gpt'], out, '--set', 'train.steps=100000', '--set', 'train.lr=1e30')}")
    started = time.monotonic()
    result = subprocess.run(_namespaced(mpi, launch), env=_env(), capture_output=True, text=True, timeout=120)
    assert time.monotonic() - started < 60
    assert result.returncode != 0
    ours = [line for line in result.stderr.splitlines() if line.startswith("tinytorch: error:")]
    assert len(ours) == 1 and ours[0].startswith("tinytorch: error: rank 1 of 2: ") and "diverged" in ours[0], result.stderr


@pytest.mark.slow
def test_a_global_batch_that_does_not_divide_is_one_line(mpi: Path, configs: dict[str, Path], tmp_path: Path) -> None:
    result = subprocess.run(_namespaced(mpi, f"-n 2 {_train_args(configs['cnn'], tmp_path / 'run', '--set', 'train.batch_size=15')}"),
                            env=_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "batch_size = 15 is the global batch and must divide among the 2 ranks; use a multiple of 2 such as 16" in result.stderr
    assert not (tmp_path / "run").exists()


USER_LOOP = """
import sys
import numpy as np
from tinytorch_core import manual_seed
from tinytorch_core.data import ArrayDataset, DataLoader
from tinytorch_core.distributed import DataParallel
from tinytorch_core.nn import Linear
from tinytorch_core.optim import AdamW
from tinytorch_core.training import Callback, Trainer

class StopOnRankZero(Callback):
    def on_step_end(self, trainer, step, loss):
        if step == 3:
            trainer.stop_training = True

dp = DataParallel()
manual_seed(dp.rank)  # different weights on each rank: the broadcast at the start must fix that
model = Linear(4, 2)
x = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
y = (x[:, 0] > 0).astype(np.int64)
loader = DataLoader(ArrayDataset(x, y), batch_size=8, shuffle=True)  # seeded from each rank's own RNG
trainer = Trainer(model, AdamW(model.parameters(), lr=0.1), callbacks=[StopOnRankZero()] if dp.is_main else [],
                  distributed=dp, progress=False, log_every=None)
history = trainer.fit(dp.shard(loader), max_steps=50)
sys.stdout.write(f"rank {dp.rank} steps {history.steps} weight {float(model.weight.data.sum())}" + chr(10))  # one write: atomic in a pipe
sys.stdout.flush()
"""


@pytest.mark.slow
def test_python_api_broadcasts_and_a_stop_on_rank_zero_stops_every_rank(mpi: Path, tmp_path: Path) -> None:
    script = tmp_path / "loop.py"
    script.write_text(USER_LOOP)
    result = subprocess.run(_namespaced(mpi, f"-n 2 {sys.executable} {script}"), env=_env(), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    # mpiexec forwards both ranks' stdout through one pipe: their lines may arrive joined, so match, not split.
    import re

    lines = sorted(re.findall(r"rank (\d+) steps (\d+) weight (\S+)", result.stdout))
    assert [(rank, steps) for rank, steps, _ in lines] == [("0", "3"), ("1", "3")], result.stdout
    assert lines[0][2] == lines[1][2]  # the same weights on both ranks after 3 steps
