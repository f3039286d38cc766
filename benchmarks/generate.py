"""Generation benchmark: tokens/s of TinyGPT's KV-cache decoding against the PyTorch reference's own cache.

Run from the repository root: ``python -m benchmarks.generate``. Both models hold the same
weights; each generates ``--new-tokens`` (500) tokens after a one-token prompt, batch 1 and batch 8,
by sampling (temperature 1), TinyGPT under ``no_grad`` and PyTorch under ``torch.inference_mode()``.
Runs alternate between the frameworks; the median of ``--repeats`` runs is reported.

Both follow the same schedule (TinyGPT's ``generate_tokens``): the cache fills one token at a
time until the context is block_size long; from then on every new token shifts the learned
positions, so the last block_size tokens are re-encoded. With the default block_size 64, 436 of
the 500 tokens take that path; ``--blocks 64,512`` (the default) also measures a model whose
block_size holds all 501 positions, i.e. pure one-token cached steps.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from collections.abc import Callable
from typing import Any

if __package__ in (None, ""):  # run by path: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from benchmarks.common import Array, BenchConfig, build_pair, set_threads, write_json


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    defaults = BenchConfig()
    parser = argparse.ArgumentParser(description="TinyGPT vs PyTorch KV-cache generation speed.")
    parser.add_argument("--new-tokens", type=int, default=500)
    parser.add_argument("--batches", default="1,8", help="comma-separated batch sizes (default 1,8)")
    parser.add_argument("--blocks", default="64,512", help="comma-separated block sizes (default 64,512)")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per framework and setting (median reported)")
    parser.add_argument("--layers", type=int, default=defaults.num_layers)
    parser.add_argument("--heads", type=int, default=defaults.num_heads)
    parser.add_argument("--d-model", type=int, default=defaults.d_model)
    parser.add_argument("--vocab", type=int, default=defaults.vocab_size)
    parser.add_argument("--torch-attention", choices=("sdpa", "explicit"), default="sdpa",
                        help="PyTorch reference attention: fused SDPA (default) or explicit masked softmax")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    args = parser.parse_args(argv)
    try:
        args.batch_sizes = [int(v) for v in args.batches.split(",")]
        args.block_sizes = [int(v) for v in args.blocks.split(",")]
    except ValueError:
        parser.error(f"--batches/--blocks take comma-separated integers, got {args.batches!r} / {args.blocks!r}")
    if min(args.batch_sizes + args.block_sizes) <= 0 or args.new_tokens <= 0 or args.repeats <= 0:
        parser.error("--new-tokens, --repeats and every batch/block size must be positive")
    if args.d_model % args.heads != 0:
        parser.error(f"--d-model {args.d_model} must be divisible by --heads {args.heads}")
    return args


def time_generation(tiny: Any, ref: Any, batch: int, new_tokens: int, repeats: int) -> dict[str, list[float]]:
    """Seconds per run of each framework, alternating (order flipping), after one untimed warm-up run each."""
    prompt = np.zeros((batch, 1), dtype=np.int64)

    def run_tinytorch(seed: int) -> Array:
        result: Array = tiny.generate_tokens(prompt, new_tokens, temperature=1.0, seed=seed)
        return result

    def run_torch(seed: int) -> Array:
        result: Array = ref.generate(prompt, new_tokens, temperature=1.0, seed=seed)
        return result

    runners: dict[str, Callable[[int], Array]] = {"tinytorch": run_tinytorch, "torch": run_torch}
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    for run in range(repeats + 1):
        # The order flips every run, so neither framework always follows the other's idle threads.
        for name, generate in list(runners.items())[:: 1 if run % 2 else -1]:
            start = time.perf_counter()
            out = generate(run)
            elapsed = time.perf_counter() - start
            if out.shape != (batch, 1 + new_tokens):
                raise RuntimeError(f"{name} returned shape {out.shape}, expected {(batch, 1 + new_tokens)}")
            if run > 0:
                seconds[name].append(elapsed)
    return seconds


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    import torch

    set_threads(args.threads)
    rows: list[dict[str, Any]] = []
    base = BenchConfig(num_layers=args.layers, num_heads=args.heads, d_model=args.d_model, vocab_size=args.vocab,
                       torch_attention=args.torch_attention)
    print(f"model: layers={base.num_layers} heads={base.num_heads} d_model={base.d_model} vocab={base.vocab_size}; "
          f"torch attention {args.torch_attention}; {args.new_tokens} new tokens after a 1-token prompt, "
          f"sampling, median of {args.repeats} alternating runs, {args.threads} threads, torch {torch.__version__}")
    header = (f"{'block':>5} {'batch':>5} {'TinyGPT tok/s':>14} {'PyTorch tok/s':>14} {'ratio':>6} {'paired':>7}"
              "  cached steps / re-encodes")
    print(header)
    print("-" * len(header))
    for block in args.block_sizes:
        tiny, ref = build_pair(replace(base, block_size=block))
        tiny.eval()
        ref.eval()
        cached = min(args.new_tokens - 1, block - 1)  # one-token steps before the window is full
        for batch in args.batch_sizes:
            seconds = time_generation(tiny, ref, batch, args.new_tokens, args.repeats)
            rate = {name: batch * args.new_tokens / statistics.median(times) for name, times in seconds.items()}
            # Each run's pair ran back to back, in the same phase of this shared host's speed.
            paired = statistics.median(t / o for t, o in zip(seconds["torch"], seconds["tinytorch"]))
            row = {"block_size": block, "batch": batch, "new_tokens": args.new_tokens, "seconds": seconds,
                   "tokens_per_s": rate, "ratio_tinytorch_over_torch": rate["tinytorch"] / rate["torch"],
                   "paired_ratio_tinytorch_over_torch": paired}
            rows.append(row)
            print(f"{block:>5} {batch:>5} {rate['tinytorch']:>14.0f} {rate['torch']:>14.0f} "
                  f"{row['ratio_tinytorch_over_torch']:>6.2f} {paired:>7.2f}  {cached} / {args.new_tokens - 1 - cached}")
    print("ratio = TinyGPT tokens/s / PyTorch tokens/s of the medians; paired = median over runs of the same ratio "
          "for the two runs made back to back (>= 1 means TinyGPT is at least as fast)")
    if args.json:
        write_json(args.json, {"config": base.__dict__, "threads": args.threads, "torch": torch.__version__, "rows": rows})
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
