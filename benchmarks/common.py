"""Shared pieces of the benchmarks: config, data, model pairs, step functions, timing, FLOPs, memory.

Nothing here imports torch or tinytorch at module level: the memory probe runs one framework
per child process, and importing the other one would add its libraries to the measured RSS.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

Array = np.ndarray[Any, Any]
StepFn = Callable[[Array, Array], float]

REPO_ROOT = Path(__file__).resolve().parent.parent
SHAKESPEARE = REPO_ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"
FRAMEWORKS = ("tinytorch", "torch")


@dataclass(frozen=True)
class BenchConfig:
    """One model + batch shape. Defaults: nanoGPT's shakespeare-char CPU config."""

    num_layers: int = 4
    num_heads: int = 4
    d_model: int = 128
    block_size: int = 64
    batch_size: int = 12
    vocab_size: int = 65
    lr: float = 1e-3
    seed: int = 0
    #: the PyTorch reference's attention: "sdpa" (fused, O(T) memory) or "explicit" (masked softmax, T^2 saved)
    torch_attention: str = "sdpa"

    def describe(self) -> str:
        """One line naming every field."""
        return (f"layers={self.num_layers} heads={self.num_heads} d_model={self.d_model} block={self.block_size} "
                f"batch={self.batch_size} vocab={self.vocab_size} lr={self.lr} torch attention={self.torch_attention}")

    def to_json(self) -> str:
        """The config as JSON (how it travels to a memory-probe child)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> BenchConfig:
        """Inverse of :meth:`to_json`."""
        return cls(**json.loads(text))


def set_threads(count: int = 2) -> None:
    """Use ``count`` threads for torch's kernels and, if threadpoolctl is installed, numpy's BLAS.

    numpy's OpenBLAS reads its thread count at import (OPENBLAS_NUM_THREADS, default = cores, 2
    here); without threadpoolctl it is left at that default.
    """
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-not-found, unused-ignore]

        threadpool_limits(count, user_api="blas")
    except ImportError:
        blas_threads = os.environ.get("OPENBLAS_NUM_THREADS", str(os.cpu_count()))
        if blas_threads != str(count):
            print(f"warning: torch gets {count} threads but numpy's BLAS keeps {blas_threads}; for a fair run set "
                  f"OPENBLAS_NUM_THREADS={count} before starting (or pip install threadpoolctl)", file=sys.stderr)
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(count)


def load_tokens(vocab_size: int) -> tuple[Array, int, str]:
    """Token ids for the benchmark batches: ``(tokens, vocab_size, source)``.

    tinyshakespeare encoded per character (65 symbols) when the file exists beside the project and
    ``vocab_size`` is 65; otherwise 200,000 uniform random tokens below ``vocab_size``.
    """
    if vocab_size == 65 and SHAKESPEARE.exists():
        raw = np.frombuffer(SHAKESPEARE.read_bytes(), dtype=np.uint8)
        symbols, tokens = np.unique(raw, return_inverse=True)
        if len(symbols) == vocab_size:
            return tokens.astype(np.int64), vocab_size, f"tinyshakespeare ({len(tokens):,} chars)"
    rng = np.random.default_rng(1234)
    return rng.integers(0, vocab_size, size=200_000, dtype=np.int64), vocab_size, "random tokens"


def make_batches(tokens: Array, config: BenchConfig, count: int, seed: int = 0) -> list[tuple[Array, Array]]:
    """``count`` (input, target) pairs of random windows, each (batch_size, block_size) int64."""
    rng = np.random.default_rng(seed)
    offsets = np.arange(config.block_size + 1)
    batches = []
    for _ in range(count):
        starts = rng.integers(0, len(tokens) - config.block_size - 1, size=config.batch_size)
        windows = tokens[starts[:, None] + offsets]
        batches.append((np.ascontiguousarray(windows[:, :-1]), np.ascontiguousarray(windows[:, 1:])))
    return batches


def build_tinygpt(config: BenchConfig) -> Any:
    """A float32 TinyGPT of ``config`` with a fixed seed."""
    from plugins.language.model import TinyGPT
    from tinytorch_core import manual_seed

    manual_seed(config.seed)
    return TinyGPT(config.vocab_size, config.d_model, config.num_layers, config.num_heads, config.block_size)


def build_reference(config: BenchConfig) -> Any:
    """A float32 PyTorch ReferenceGPT of ``config`` (its own nanoGPT-style init)."""
    import torch

    from benchmarks.reference_torch import ReferenceGPT

    if config.torch_attention not in ("sdpa", "explicit"):
        raise ValueError(f"torch_attention must be 'sdpa' or 'explicit', got {config.torch_attention!r}")
    attention: Literal["sdpa", "explicit"] = "explicit" if config.torch_attention == "explicit" else "sdpa"
    torch.manual_seed(config.seed)
    return ReferenceGPT(config.vocab_size, config.d_model, config.num_layers, config.num_heads, config.block_size,
                        attention=attention)


def build_pair(config: BenchConfig) -> tuple[Any, Any]:
    """TinyGPT and the PyTorch reference holding identical float32 weights (TinyGPT's init)."""
    tiny = build_tinygpt(config)
    ref = build_reference(config)
    ref.load_from_tinytorch(tiny.state_dict())
    return tiny, ref


def tinytorch_trainer(model: Any, lr: float, kernels: str | None = None) -> StepFn:
    """One training step of TinyGPT (forward, cross-entropy, backward, AdamW); returns the loss.

    ``kernels`` ("0" numpy, "1" compiled) switches the kernel path before each step, so two
    TinyGPT variants can alternate in one process; ``None`` keeps the process's choice.
    """
    from tinytorch_core import functional as F
    from tinytorch_core import kernels as kernel_paths
    from tinytorch_core.optim import AdamW

    optimizer = AdamW(model.parameters(), lr=lr)  # torch's defaults: betas (0.9, 0.999), eps 1e-8, wd 0.01
    model.train()

    def step(x: Array, y: Array) -> float:
        if kernels is not None:
            kernel_paths.use(kernels)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return float(loss.item())

    return step


def torch_trainer(model: Any, lr: float) -> StepFn:
    """One training step of the PyTorch reference, eager mode, default (for-loop) AdamW."""
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()

    def step(x: Array, y: Array) -> float:
        optimizer.zero_grad(set_to_none=True)
        logits = model(torch.from_numpy(x))
        loss = torch.nn.functional.cross_entropy(logits.view(-1, logits.shape[-1]), torch.from_numpy(y).view(-1))
        loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
        optimizer.step()
        return float(loss.item())

    return step


def trainer_for(framework: str, model: Any, lr: float) -> StepFn:
    """:func:`tinytorch_trainer` or :func:`torch_trainer` by name."""
    if framework == "tinytorch":
        return tinytorch_trainer(model, lr)
    if framework == "torch":
        return torch_trainer(model, lr)
    raise ValueError(f"unknown framework {framework!r}; expected one of {FRAMEWORKS}")


def alternate(
    steps: dict[str, StepFn], batches: Sequence[tuple[Array, Array]], warmup: int, block: int = 10, settle: int = 2
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Run the step functions in alternating blocks (A x block, B x block, A x block, ...): ``(seconds, losses)``.

    Alternating puts both frameworks under the same machine conditions (this host has slow
    phases). It alternates in blocks rather than single steps, and leaves the first ``settle``
    steps of each block untimed, because each framework's thread pool keeps spinning for a while
    after its own work (OpenBLAS's threads and PyTorch's OpenMP workers busy-wait): step-by-step
    alternation measured each framework while the other's idle threads were still burning the two
    cores (TinyGPT 37 ms, PyTorch 62 ms against 31 and 30 alone). The first ``warmup`` batches
    are run but not timed.
    """
    seconds: dict[str, list[float]] = {name: [] for name in steps}
    losses: dict[str, list[float]] = {name: [] for name in steps}
    for start_index in range(0, len(batches), block):
        chunk = batches[start_index : start_index + block]
        for name, step in steps.items():
            for offset, (x, y) in enumerate(chunk):
                start = time.perf_counter()
                loss = step(x, y)
                elapsed = time.perf_counter() - start
                losses[name].append(loss)
                if start_index + offset >= warmup and offset >= settle:
                    seconds[name].append(elapsed)
    return seconds, losses


def model_flops_per_step(config: BenchConfig) -> tuple[float, int]:
    """``(FLOPs per training step, N)`` with FLOPs = (6 N + 12 L T d) * B * T (PaLM / nanoGPT's estimate).

    N counts the weights that take part in a matrix multiply: every non-embedding parameter
    (blocks and ln_f; biases and LayerNorms are a rounding error) plus the V x d tied LM head,
    whose GEMM is real work even though its weight is the token embedding. 6 = 2 (forward) + 4
    (backward) FLOPs per weight per token; 12 L T d is attention's QK^T and PV, forward + backward.
    """
    d, layers = config.d_model, config.num_layers
    per_block = 2 * 2 * d + (3 * d * d + 3 * d) + (d * d + d) + (4 * d * d + 4 * d) + (4 * d * d + d)
    n_params = layers * per_block + 2 * d + config.vocab_size * d
    tokens = config.batch_size * config.block_size
    per_token = 6 * n_params + 12 * layers * config.block_size * d
    return float(per_token * tokens), n_params


def gemm_shapes(config: BenchConfig) -> list[tuple[int, int, int]]:
    """(M, K, N) of the model's big products: QKV, first and second feed-forward layers."""
    rows, d = config.batch_size * config.block_size, config.d_model
    return [(rows, d, 3 * d), (rows, d, 4 * d), (rows, 4 * d, d)]


def gemm_gflops(shapes: Sequence[tuple[int, int, int]], repeats: int = 25) -> dict[str, float]:
    """Median float32 ``np.matmul`` GFLOP/s per (M, K, N) shape, into a preallocated output."""
    rng = np.random.default_rng(0)
    rates: dict[str, float] = {}
    for m, k, n in shapes:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        out = np.empty((m, n), dtype=np.float32)
        for _ in range(3):
            np.matmul(a, b, out=out)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            np.matmul(a, b, out=out)
            times.append(time.perf_counter() - start)
        rates[f"{m}x{k}@{k}x{n}"] = 2.0 * m * k * n / statistics.median(times) / 1e9
    return rates


def median_ms(seconds: Sequence[float]) -> float:
    """Median of a list of durations, in milliseconds."""
    return 1e3 * statistics.median(seconds)


def measure_peak_memory(framework: str, config: BenchConfig, steps: int = 3, threads: int = 2) -> dict[str, float]:
    """Peak resident memory of ``steps`` training steps of one framework, in a fresh child process.

    Returns ``import_mb`` (RSS after the imports), ``library_warmup_mb`` (what one step of a
    minimal model adds: kernels and thread pools paged in, a fixed cost), ``baseline_mb`` (RSS
    after that warm-up, before the model exists), ``peak_mb`` (the high-water mark while building and
    training the model) and ``training_mb`` = peak - baseline: what the training run itself needs
    (weights, gradients, optimizer state, activations, allocator caches). See ``benchmarks/memory_probe.py``.
    """
    command = [sys.executable, "-m", "benchmarks.memory_probe", "--framework", framework,
               "--config", config.to_json(), "--steps", str(steps), "--threads", str(threads)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"memory probe for {framework} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def write_json(path: str | os.PathLike[str], payload: dict[str, Any]) -> None:
    """Write ``payload`` as indented JSON atomically (the core's temp file + rename)."""
    from tinytorch_core.fileio import atomic_write_json

    atomic_write_json(path, payload, indent=2)

