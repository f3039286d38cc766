"""Training-step benchmark: TinyGPT against the PyTorch reference, same weights, same batches, alternating.

Run from the repository root: ``python -m benchmarks.train_step`` (or ``python benchmarks/train_step.py``).
Defaults are nanoGPT's shakespeare-char CPU config (4 layers, 4 heads, d_model 128, block 64,
batch 12, AdamW lr 1e-3, float32, 2 threads). See benchmarks/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run by path: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from benchmarks.common import (
    BenchConfig,
    alternate,
    build_pair,
    gemm_gflops,
    gemm_shapes,
    load_tokens,
    make_batches,
    measure_peak_memory,
    median_ms,
    model_flops_per_step,
    set_threads,
    tinytorch_trainer,
    torch_trainer,
    write_json,
)
from benchmarks.process_alternation import report as process_report
from benchmarks.process_alternation import run_rounds


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (every default is the shakespeare config)."""
    defaults = BenchConfig()
    parser = argparse.ArgumentParser(description="TinyGPT vs PyTorch training step, alternating on the same batches.")
    parser.add_argument("--steps", type=int, default=100, help="steps per framework after warm-up (default 100; the first 2 of each 10-step block are untimed)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first (default 10)")
    parser.add_argument("--layers", type=int, default=defaults.num_layers)
    parser.add_argument("--heads", type=int, default=defaults.num_heads)
    parser.add_argument("--d-model", type=int, default=defaults.d_model)
    parser.add_argument("--block", type=int, default=defaults.block_size)
    parser.add_argument("--batch", type=int, default=defaults.batch_size)
    parser.add_argument("--vocab", type=int, default=defaults.vocab_size,
                        help="65 = tinyshakespeare characters when the file exists, else random tokens")
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--torch-attention", choices=("sdpa", "explicit"), default="sdpa",
                        help="PyTorch reference attention: fused SDPA (default) or explicit masked softmax")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (numpy BLAS via threadpoolctl if installed)")
    parser.add_argument("--memory-steps", type=int, default=3, help="steps per memory-probe child; 0 skips memory")
    parser.add_argument("--rounds", type=int, default=5,
                        help="process-alternation rounds (one fresh process per variant per round); 0 skips them")
    parser.add_argument("--process-steps", type=int, default=60, help="timed steps in each process-alternation child")
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    args = parser.parse_args(argv)
    for name in ("steps", "layers", "heads", "d_model", "block", "batch", "vocab", "threads"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if args.warmup < 0 or args.memory_steps < 0 or args.rounds < 0 or args.process_steps <= 0:
        parser.error("--warmup, --memory-steps and --rounds must be >= 0, --process-steps positive")
    if args.d_model % args.heads != 0:
        parser.error(f"--d-model {args.d_model} must be divisible by --heads {args.heads}")
    return args


def run(config: BenchConfig, steps: int, warmup: int, threads: int, memory_steps: int,
        numpy_variant: bool = False) -> dict[str, Any]:
    """Measure everything for one config; returns the numbers (also used by scaling.py).

    ``numpy_variant`` adds a third alternating participant, ``tinytorch-numpy``: a second TinyGPT
    (same weights and batches) forced onto the numpy kernels, when ``tinytorch`` runs compiled ones.
    """
    import torch

    from tinytorch_core import kernels

    set_threads(threads)  # torch is imported by now, so this sets torch's threads too
    tokens, _, source = load_tokens(config.vocab_size)
    batches = make_batches(tokens, config, warmup + steps, seed=config.seed)
    tiny, ref = build_pair(config)
    step_fns = {"tinytorch": tinytorch_trainer(tiny, config.lr)}
    kernel_line = kernels.describe()
    if numpy_variant and kernels.compiled_kernels():
        step_fns = {"tinytorch": tinytorch_trainer(tiny, config.lr, kernels="1"),
                    "tinytorch-numpy": tinytorch_trainer(build_pair(config)[0], config.lr, kernels="0")}
    step_fns["torch"] = torch_trainer(ref, config.lr)

    shapes = gemm_shapes(config)
    gemm_before = gemm_gflops(shapes)
    seconds, losses = alternate(step_fns, batches, warmup)
    gemm_after = gemm_gflops(shapes)
    gemm = {shape: max(gemm_before[shape], gemm_after[shape]) for shape in gemm_before}
    peak_gflops = max(gemm.values())

    flops, n_params = model_flops_per_step(config)
    tokens_per_step = config.batch_size * config.block_size
    results: dict[str, Any] = {
        "config": config.__dict__, "data": source, "steps": steps, "warmup": warmup, "threads": threads,
        "numpy": np.__version__, "torch": torch.__version__, "python": platform.python_version(),
        "kernels": kernel_line, "model_flops_per_step": flops, "flop_params_N": n_params, "gemm_gflops": gemm, "gemm_peak_gflops": peak_gflops,
        "frameworks": {},
    }
    for name, times in seconds.items():
        ms = median_ms(times)
        results["frameworks"][name] = {
            "median_ms": ms,
            "min_ms": 1e3 * min(times),
            "tokens_per_s": tokens_per_step / (ms / 1e3),
            "achieved_gflops": flops / (ms / 1e3) / 1e9,
            "mfu": flops / (ms / 1e3) / (peak_gflops * 1e9),
            "first_loss": losses[name][0],
            "last_loss": losses[name][-1],
        }
    # Same weights and batches: the loss curves must agree (float32 drift only), else the timing compares different work.
    results["max_abs_loss_difference"] = float(np.max(np.abs(np.subtract(losses["tinytorch"], losses["torch"]))))
    torch_ms = results["frameworks"]["torch"]["median_ms"]
    results["ratio_tinytorch_over_torch"] = results["frameworks"]["tinytorch"]["median_ms"] / torch_ms
    if "tinytorch-numpy" in results["frameworks"]:
        results["ratio_tinytorch_numpy_over_torch"] = results["frameworks"]["tinytorch-numpy"]["median_ms"] / torch_ms
        results["max_abs_loss_difference_numpy"] = float(
            np.max(np.abs(np.subtract(losses["tinytorch-numpy"], losses["torch"]))))
    if memory_steps > 0:
        for name in ("tinytorch", "torch"):
            results["frameworks"][name]["memory"] = measure_peak_memory(name, config, memory_steps, threads)
    return results


def report(results: dict[str, Any]) -> None:
    """Print the results as a small table."""
    config = BenchConfig(**results["config"])
    print(f"config: {config.describe()}  data: {results['data']}")
    print(f"threads: {results['threads']}  numpy {results['numpy']}  torch {results['torch']}  "
          f"steps: {results['steps']} after {results['warmup']} warm-up, alternating in blocks of 10 (2 settling steps untimed)")
    print(f"model FLOPs/step: {results['model_flops_per_step'] / 1e9:.3f} GFLOP "
          f"= (6N + 12*L*T*d)*B*T with N = {results['flop_params_N']:,} (non-embedding weights + tied LM head)")
    gemm = ", ".join(f"{shape} {rate:.0f}" for shape, rate in results["gemm_gflops"].items())
    print(f"float32 GEMM GFLOP/s (median, np.matmul): {gemm}; peak used for MFU: {results['gemm_peak_gflops']:.0f}")
    header = f"{'framework':<15} {'median ms':>10} {'min ms':>8} {'tokens/s':>10} {'GFLOP/s':>8} {'MFU':>6} {'peak MB':>8} {'train MB':>9} {'loss 1st->last':>16}"
    print(header)
    print("-" * len(header))
    for name, row in results["frameworks"].items():
        memory = row.get("memory")
        peak = f"{memory['peak_mb']:.0f}" if memory else "-"
        train = f"{memory['training_mb']:.0f}" if memory else "-"
        print(f"{name:<15} {row['median_ms']:>10.2f} {row['min_ms']:>8.2f} {row['tokens_per_s']:>10.0f} "
              f"{row['achieved_gflops']:>8.1f} {100 * row['mfu']:>5.1f}% {peak:>8} {train:>9} "
              f"{row['first_loss']:>7.4f}->{row['last_loss']:.4f}")
    print(f"largest loss difference over all steps: {results['max_abs_loss_difference']:.2e}")
    print(f"TinyGPT kernels: {results['kernels']}")
    print(f"ratio TinyGPT/PyTorch (median step time, in-process block alternation): "
          f"{results['ratio_tinytorch_over_torch']:.3f}")
    if "ratio_tinytorch_numpy_over_torch" in results:
        print(f"ratio TinyGPT on numpy kernels (TINYTORCH_FAST=0)/PyTorch, same run: "
              f"{results['ratio_tinytorch_numpy_over_torch']:.3f} (loss difference {results['max_abs_loss_difference_numpy']:.2e})")


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    config = BenchConfig(num_layers=args.layers, num_heads=args.heads, d_model=args.d_model, block_size=args.block,
                         batch_size=args.batch, vocab_size=args.vocab, lr=args.lr,
                         torch_attention=args.torch_attention)
    results = run(config, args.steps, args.warmup, args.threads, args.memory_steps, numpy_variant=True)
    report(results)
    if args.rounds:
        print()
        results["process_alternation"] = run_rounds(config, args.rounds, args.process_steps, args.warmup, args.threads)
        process_report(results["process_alternation"])
    if args.json:
        write_json(args.json, results)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
