"""Training-step timing with each framework in its own process, alternating processes round by round.

In-process block alternation (``common.alternate``) shares one interpreter between the frameworks,
so one framework's idle threads (OpenBLAS's, PyTorch's OpenMP workers, both spin-waiting) can still
tax the other. Here every round starts one fresh child process per variant (TinyGPT with the
compiled kernels, TinyGPT on numpy, PyTorch), in a rotating order, each importing only its own
framework; the result is the median over rounds of the per-round ratio TinyGPT / PyTorch, which
cancels the host's slow phases as long as they last longer than one round.

    python -m benchmarks.process_alternation --rounds 5         # by hand; train_step.py calls run_rounds
    python -m benchmarks.process_alternation --child VARIANT ... # what each child runs
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run by path: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import REPO_ROOT, BenchConfig

#: variant -> (framework, TINYTORCH_FAST value or None)
VARIANTS: dict[str, tuple[str, str | None]] = {
    "tinytorch-fast": ("tinytorch", "1"),
    "tinytorch-numpy": ("tinytorch", "0"),
    "torch": ("torch", None),
}


def default_variants() -> list[str]:
    """Every variant, less the compiled one when numba is not installed."""
    has_numba = importlib.util.find_spec("numba") is not None
    return [name for name in VARIANTS if has_numba or name != "tinytorch-fast"]


def run_child(variant: str, config: BenchConfig, steps: int, warmup: int, threads: int) -> dict[str, Any]:
    """Start one child for ``variant``; returns its JSON (``median_ms``, ``min_ms``, ``losses``, ``kernels``)."""
    framework, fast = VARIANTS[variant]
    command = [sys.executable, "-m", "benchmarks.process_alternation", "--child", variant, "--config",
               config.to_json(), "--steps", str(steps), "--warmup", str(warmup), "--threads", str(threads)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    if fast is not None:
        env["TINYTORCH_FAST"] = fast
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{variant} child failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run_rounds(config: BenchConfig, rounds: int, steps: int, warmup: int, threads: int,
               variants: list[str] | None = None) -> dict[str, Any]:
    """``rounds`` rounds of one child per variant (order rotating); per-round ratios to ``torch`` and their median."""
    names = variants or default_variants()
    per_round: list[dict[str, float]] = []
    losses: dict[str, list[float]] = {}
    kernels: dict[str, str] = {}
    for index in range(rounds):
        order = names[index % len(names):] + names[: index % len(names)]
        times = {}
        for name in order:
            child = run_child(name, config, steps, warmup, threads)
            times[name] = child["median_ms"]
            losses.setdefault(name, child["losses"])
            kernels[name] = child.get("kernels", "")
        per_round.append(times)
    ratios = {name: [r[name] / r["torch"] for r in per_round] for name in names if name != "torch"}
    return {
        "rounds": rounds, "steps": steps, "warmup": warmup, "order": "rotating", "per_round_ms": per_round,
        "ratios": ratios, "median_ratio": {name: statistics.median(v) for name, v in ratios.items()},
        "median_ms": {name: statistics.median(r[name] for r in per_round) for name in names},
        "kernels": kernels,
        "max_abs_loss_difference": {
            name: max(abs(a - b) for a, b in zip(losses[name], losses["torch"])) for name in names if name != "torch"},
    }


def report(results: dict[str, Any]) -> None:
    """Print the per-round table and the median ratios."""
    names = list(results["median_ms"])
    print(f"process alternation: {results['rounds']} rounds, one fresh process per variant per round (rotating order), "
          f"{results['steps']} timed steps after {results['warmup']} warm-up in each")
    print("round " + " ".join(f"{name + ' ms':>18}" for name in names))
    for index, row in enumerate(results["per_round_ms"]):
        print(f"{index + 1:>5} " + " ".join(f"{row[name]:>18.2f}" for name in names))
    for name, ratio in results["median_ratio"].items():
        spread = ", ".join(f"{r:.3f}" for r in results["ratios"][name])
        print(f"median of per-round ratios {name}/torch: {ratio:.3f}  (rounds: {spread}; "
              f"kernels: {results['kernels'][name]}; loss difference {results['max_abs_loss_difference'][name]:.1e})")


def _child(variant: str, config: BenchConfig, steps: int, warmup: int, threads: int) -> None:
    from benchmarks.common import (build_reference, build_tinygpt, load_tokens, make_batches, median_ms, set_threads,
                                   trainer_for)

    framework, _ = VARIANTS[variant]
    if framework == "torch":
        # The same initial weights as TinyGPT's, without importing tinytorch here: they travel as a file.
        model = build_reference(config)
        model.load_from_tinytorch(_tinygpt_weights(config))
    else:
        model = build_tinygpt(config)
    kernel_line = ""
    set_threads(threads)
    tokens, _, _ = load_tokens(config.vocab_size)
    batches = make_batches(tokens, config, warmup + steps, seed=config.seed)
    step = trainer_for(framework, model, config.lr)
    seconds, losses = [], []
    for index, (x, y) in enumerate(batches):
        start = time.perf_counter()
        losses.append(step(x, y))
        if index >= warmup:
            seconds.append(time.perf_counter() - start)
    if framework == "tinytorch":
        from tinytorch_core import kernels

        kernel_line = kernels.describe()
    print(json.dumps({"variant": variant, "median_ms": median_ms(seconds), "min_ms": 1e3 * min(seconds),
                      "losses": losses, "kernels": kernel_line}))


def _tinygpt_weights(config: BenchConfig) -> dict[str, Any]:
    """TinyGPT's initial state dict for ``config``, computed in a grandchild so torch's process imports no tinytorch."""
    code = ("import sys, json, numpy as np\n"
            "from benchmarks.common import BenchConfig, build_tinygpt\n"
            "from safetensors.numpy import save\n"
            "model = build_tinygpt(BenchConfig.from_json(sys.argv[1]))\n"
            "sys.stdout.buffer.write(save({k: np.ascontiguousarray(v) for k, v in model.state_dict().items()}))\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", code, config.to_json()], cwd=REPO_ROOT, env=env,
                          capture_output=True, check=True)
    from safetensors.numpy import load

    return load(done.stdout)


def main(argv: list[str] | None = None) -> int:
    """Entry point: a child run (``--child``) or the rounds by hand."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=sorted(VARIANTS))
    parser.add_argument("--config", default=BenchConfig().to_json(), help="BenchConfig as JSON")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    config = BenchConfig.from_json(args.config)
    if args.child:
        _child(args.child, config, args.steps, args.warmup, args.threads)
        return 0
    report(run_rounds(config, args.rounds, args.steps, args.warmup, args.threads))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
