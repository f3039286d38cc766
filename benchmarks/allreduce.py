"""Data-parallel cost: allreduce milliseconds per step and their share of the step, on 2 ranks.

    python benchmarks/allreduce.py                  # relaunches itself under mpiexec -n 2 (in unshare -n as root)
    python benchmarks/allreduce.py --gpt2-compute   # one process: step time of a GPT-2-small-sized TinyGPT

The 2-rank run trains TinyGPT at the shakespeare shape (4 layers, 4 heads, d_model 128, block 64,
vocab 65, global batch 12 -> 6 rows per rank, AdamW with the registry's two parameter groups, one
BLAS thread per rank) and times each step's parts on every rank: forward+backward, the gradient
allreduce (``allreduce_gradients``: as the Trainer does it, so it includes waiting for the slower
rank), clipping+step. It also times the allreduce alone after a barrier (the pure transfer).
It prints one JSON object; benchmarks/README.md turns it into the scaling estimate.
Needs the distributed extra (``pip install -e '.[distributed]'``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHAKESPEARE = {"vocab_size": 65, "d_model": 128, "num_layers": 4, "num_heads": 4, "block_size": 64}
GPT2_SMALL = {"vocab_size": 50257, "d_model": 768, "num_layers": 12, "num_heads": 12, "block_size": 1024}


def _model_and_optimizer(shape: dict[str, int]) -> tuple[Any, Any]:
    from plugins.language.model import TinyGPT
    from tinytorch_core import manual_seed
    from tinytorch_core.optim import AdamW

    manual_seed(0)
    model = TinyGPT(**shape)
    params = list(model.parameters())
    groups = [{"params": [p for p in params if p.data.ndim >= 2], "weight_decay": 0.1},
              {"params": [p for p in params if p.data.ndim < 2], "weight_decay": 0.0}]
    return model, AdamW(groups, lr=1e-3, betas=(0.9, 0.99))


def _loss(model: Any, tokens: Any) -> Any:
    from tinytorch_core.losses import CrossEntropyLoss

    x, y = tokens[:, :-1], tokens[:, 1:]
    logits = model(x)
    return CrossEntropyLoss()(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def worker(steps: int, warmup: int, global_batch: int) -> None:
    import numpy as np

    from tinytorch_core import distributed as dist
    from tinytorch_core.optim import clip_grad_norm_

    group = dist.init()
    model, optimizer = _model_and_optimizer(SHAKESPEARE)
    dist.broadcast_parameters(model)
    local = global_batch // group.world_size
    rng = np.random.default_rng(group.rank)
    parts: dict[str, list[float]] = {"forward_backward": [], "allreduce": [], "clip_step": [], "allreduce_alone": [],
                                     "step": []}
    for i in range(warmup + steps):
        tokens = rng.integers(0, SHAKESPEARE["vocab_size"], size=(local, SHAKESPEARE["block_size"] + 1))
        t0 = time.perf_counter()
        optimizer.zero_grad()
        _loss(model, tokens).backward()
        t1 = time.perf_counter()
        dist.allreduce_gradients(optimizer, group)
        t2 = time.perf_counter()
        clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        t3 = time.perf_counter()
        group.barrier()
        t4 = time.perf_counter()
        for grad in optimizer.flat_grads():
            group.allreduce_(grad)
        t5 = time.perf_counter()
        if i >= warmup:
            for name, value in (("forward_backward", t1 - t0), ("allreduce", t2 - t1), ("clip_step", t3 - t2),
                                ("step", t3 - t0), ("allreduce_alone", t5 - t4)):
                parts[name].append(value * 1e3)
    medians = {name: _median(values) for name, values in parts.items()}
    gathered = [group.sum_floats([medians[name] if r == group.rank else 0.0 for r in range(group.world_size)])
                for name in parts]
    if group.rank == 0:
        buffers = optimizer.flat_grads()
        report = {
            "ranks": group.world_size, "global_batch": global_batch, "rows_per_rank": local,
            "parameters": int(sum(b.size for b in buffers)), "allreduce_bytes": int(sum(b.nbytes for b in buffers)),
            "groups": len(buffers), "steps_timed": steps,
            "median_ms_per_rank": {name: [round(v, 3) for v in per_rank] for name, per_rank in zip(parts, gathered)},
        }
        step = max(report["median_ms_per_rank"]["step"])
        report["allreduce_share_of_step"] = round(max(report["median_ms_per_rank"]["allreduce"]) / step, 4)
        report["pure_allreduce_share_of_step"] = round(max(report["median_ms_per_rank"]["allreduce_alone"]) / step, 4)
        print(json.dumps(report, indent=2))


def gpt2_compute(steps: int, batch: int, tokens: int) -> None:
    """Step time (forward+backward+AdamW) of a GPT-2-small-sized TinyGPT at ``batch`` x ``tokens``, one process."""
    import numpy as np

    model, optimizer = _model_and_optimizer(GPT2_SMALL)
    rng = np.random.default_rng(0)
    times = []
    for _ in range(steps + 1):
        x = rng.integers(0, GPT2_SMALL["vocab_size"], size=(batch, tokens + 1))
        t0 = time.perf_counter()
        optimizer.zero_grad()
        _loss(model, x).backward()
        optimizer.step()
        times.append((time.perf_counter() - t0) * 1e3)
    params = sum(b.size for b in optimizer.flat_grads())
    print(json.dumps({"model": "gpt2-small-sized TinyGPT", "parameters": int(params), "batch": batch,
                      "tokens": tokens, "step_ms": [round(t, 1) for t in times[1:]],
                      "median_step_ms": round(_median(times[1:]), 1), "allreduce_bytes": int(params * 4),
                      "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default")}, indent=2))


def launch(args: argparse.Namespace) -> int:
    mpiexec = Path(sys.executable).parent / "mpiexec"
    if not mpiexec.exists():
        found = shutil.which("mpiexec")
        if found is None:
            print("allreduce.py: no mpiexec; pip install -e '.[distributed]'", file=sys.stderr)
            return 1
        mpiexec = Path(found)
    inner = (f"{mpiexec} -n {args.ranks} {sys.executable} {Path(__file__).resolve()} --worker "
             f"--steps {args.steps} --warmup {args.warmup} --batch {args.batch}")
    root = os.geteuid() == 0 and shutil.which("unshare") is not None
    command = ["unshare", "-n", "sh", "-c", f"ip link set lo up 2>/dev/null; exec {inner}"] if root else inner.split()
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(command, env=env).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch", type=int, default=12, help="global batch (rows of 64 tokens)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--gpt2-compute", action="store_true")
    parser.add_argument("--gpt2-batch", type=int, default=1)
    parser.add_argument("--gpt2-tokens", type=int, default=256)
    args = parser.parse_args()
    if args.gpt2_compute:
        sys.path.insert(0, str(ROOT))
        gpt2_compute(min(args.steps, 3), args.gpt2_batch, args.gpt2_tokens)
        return 0
    if args.worker:
        worker(args.steps, args.warmup, args.batch)
        return 0
    return launch(args)


if __name__ == "__main__":
    raise SystemExit(main())
