"""Scaling benchmark: training-step time and peak memory as block_size and d_model grow, both frameworks.

Run from the repository root: ``python -m benchmarks.scaling`` (``--quick`` for a fast smoke run).
Sweeps block_size 64 -> 128 -> 256 -> 512 at d_model 128, and d_model 128 -> 256 -> 384 at block 64
(4 layers, 4 heads, batch 12 throughout). Each point is an alternating timing run on identical
weights and batches plus one memory-probe child per framework (see ``memory_probe.py``). Prints a
table and writes a PNG plot (``--plot``, default ``benchmarks/scaling.png``) when matplotlib is
installed. Attention's saved probabilities are B*H*T^2 floats per layer, so "train MB" should grow
roughly as T^2 at large T; the T^2 column divides the growth over the first point by (T/T0)^2.
"""

from __future__ import annotations

import argparse
import io
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run by path: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import FRAMEWORKS, BenchConfig, write_json
from benchmarks.train_step import run

DEFAULT_PLOT = Path(__file__).resolve().parent / "scaling.png"


def _int_list(text: str) -> list[int]:
    values = [int(v) for v in text.split(",") if v.strip()]
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}")
    return values


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description="Step time and peak memory vs block_size and d_model, TinyGPT vs PyTorch.")
    parser.add_argument("--blocks", type=_int_list, default=[64, 128, 256, 512], help="block sizes (d_model 128)")
    parser.add_argument("--d-models", type=_int_list, default=[128, 256, 384], help="model widths (block 64)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per point and framework")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--memory-steps", type=int, default=2, help="steps per memory-probe child; 0 skips memory")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 timed steps, 1 warm-up, 1 memory step")
    parser.add_argument("--torch-attention", choices=("sdpa", "explicit"), default="sdpa",
                        help="PyTorch reference attention: fused SDPA (default) or explicit masked softmax")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--plot", type=Path, default=DEFAULT_PLOT, help=f"PNG output (default {DEFAULT_PLOT.name})")
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.warmup, args.memory_steps = 2, 1, min(args.memory_steps, 1)
    if args.steps <= 0 or args.warmup < 0 or args.memory_steps < 0:
        parser.error("--steps must be positive, --warmup and --memory-steps >= 0")
    if any(d % 4 for d in args.d_models):
        parser.error(f"every --d-models value must be divisible by the 4 heads, got {args.d_models}")
    return args


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Run both sweeps; one row per (sweep, point)."""
    base = BenchConfig(torch_attention=args.torch_attention)
    points = [("block_size", replace(base, block_size=t)) for t in args.blocks]
    points += [("d_model", replace(base, d_model=d)) for d in args.d_models]
    rows: list[dict[str, Any]] = []
    for sweep, config in points:
        result = run(config, args.steps, args.warmup, args.threads, args.memory_steps)
        row: dict[str, Any] = {"sweep": sweep, "block_size": config.block_size, "d_model": config.d_model}
        for name in FRAMEWORKS:
            framework = result["frameworks"][name]
            row[f"{name}_ms"] = framework["median_ms"]
            row[f"{name}_train_mb"] = framework["memory"]["training_mb"] if "memory" in framework else None
            row[f"{name}_peak_mb"] = framework["memory"]["peak_mb"] if "memory" in framework else None
        rows.append(row)
        print_row(row, rows)
    return rows


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


HEADER = (f"{'sweep':<10} {'T':>4} {'d':>4} {'TinyGPT ms':>10} {'PyTorch ms':>10} {'ratio':>6} "
          f"{'TinyGPT MB':>10} {'PyTorch MB':>10} {'mem ratio':>9} {'TinyGPT /T^2':>12} {'PyTorch /T^2':>12}")


def print_row(row: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Print one table row; the T^2 columns compare memory growth with the sweep's first point."""
    if len(rows) == 1 or rows[-2]["sweep"] != row["sweep"]:
        print(HEADER)
        print("-" * len(HEADER))
    first = next(r for r in rows if r["sweep"] == row["sweep"])
    growth: dict[str, float | None] = {}
    for name in FRAMEWORKS:
        now, then = row[f"{name}_train_mb"], first[f"{name}_train_mb"]
        square = (row["block_size"] / first["block_size"]) ** 2
        growth[name] = (now - then) / (square - 1.0) if now is not None and then is not None and square > 1.0 else None
    tiny_mb, torch_mb = row["tinytorch_train_mb"], row["torch_train_mb"]
    mem_ratio = tiny_mb / torch_mb if tiny_mb is not None and torch_mb else None
    print(f"{row['sweep']:<10} {row['block_size']:>4} {row['d_model']:>4} {row['tinytorch_ms']:>10.1f} "
          f"{row['torch_ms']:>10.1f} {row['tinytorch_ms'] / row['torch_ms']:>6.2f} {_fmt(tiny_mb, '.0f'):>10} "
          f"{_fmt(torch_mb, '.0f'):>10} {_fmt(mem_ratio, '.2f'):>9} {_fmt(growth['tinytorch'], '.1f'):>12} "
          f"{_fmt(growth['torch'], '.1f'):>12}", flush=True)


def plot(rows: list[dict[str, Any]], path: Path, torch_attention: str = "sdpa") -> bool:
    """Write a 2x2 PNG (time and memory vs block_size and vs d_model); False when matplotlib is absent."""
    try:
        import matplotlib  # type: ignore[import-not-found, unused-ignore]  # optional (bench extra)

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): skipping the plot")
        return False
    figure, axes = plt.subplots(2, 2, figsize=(11, 8))
    labels = {"tinytorch": "TinyGPT (numpy)", "torch": f"PyTorch eager ({torch_attention} attention)"}
    for column, (sweep, xlabel) in enumerate((("block_size", "block_size T"), ("d_model", "d_model"))):
        sweep_rows = [r for r in rows if r["sweep"] == sweep]
        xs = [r[sweep] for r in sweep_rows]
        for name in FRAMEWORKS:
            axes[0][column].plot(xs, [r[f"{name}_ms"] for r in sweep_rows], marker="o", label=labels[name])
            memory = [r[f"{name}_train_mb"] for r in sweep_rows]
            if all(m is not None for m in memory):
                axes[1][column].plot(xs, memory, marker="o", label=labels[name])
        axes[0][column].set(xlabel=xlabel, ylabel="median ms / training step", title=f"step time vs {sweep}")
        axes[1][column].set(xlabel=xlabel, ylabel="training peak RSS increase (MB)", title=f"peak memory vs {sweep}")
        for axis in (axes[0][column], axes[1][column]):
            axis.grid(True, alpha=0.3)
            axis.legend()
            if sweep == "block_size":
                axis.set_xscale("log", base=2)
                axis.set_yscale("log")
    figure.suptitle("TinyGPT vs PyTorch: 4 layers, 4 heads, batch 12, float32, AdamW")
    figure.tight_layout()
    from tinytorch_core.fileio import atomic_write_bytes

    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=110)
    finally:
        plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())
    print(f"wrote {path}")
    return True


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    print(f"4 layers, 4 heads, batch 12, float32, AdamW, {args.threads} threads; {args.steps} timed steps "
          f"after {args.warmup} warm-up per point (alternating); PyTorch attention: {args.torch_attention}; "
          "MB = training peak RSS over the warmed-up baseline (see memory_probe.py)")
    rows = measure(args)
    plot(rows, args.plot, args.torch_attention)
    if args.json:
        payload = {"torch_attention": args.torch_attention, "steps": args.steps, "warmup": args.warmup,
                   "threads": args.threads, "rows": rows}
        write_json(args.json, payload)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
