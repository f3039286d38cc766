"""Child process of the memory measurement: build one framework's model, train a few steps, report peak RSS.

Run as ``python -m benchmarks.memory_probe --framework tinytorch|torch --config JSON --steps N``;
prints one JSON line ``{"import_mb", "library_warmup_mb", "baseline_mb", "peak_mb", "training_mb", "exact_reset"}``.

Method: after the imports, one training step of a minimal model (1 layer, d_model 8, block 4)
pages in the framework's kernels and thread pools, a fixed cost that does not grow with the model
(~100 MB for PyTorch, little for numpy); ``library_warmup_mb`` reports it. Then the RSS is read and,
on Linux, the kernel's high-water mark is reset (``echo 5 > /proc/self/clear_refs``); the model
is built and trained and the high-water mark (``VmHWM``) read: ``training_mb`` = peak - that
baseline is what the training run itself needs (weights, gradients, optimizer state, activations,
allocator caches). Where the reset is unavailable, ``ru_maxrss`` is used, which can only over-count.
Only the framework being measured is imported, so neither pays for the other's libraries.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):  # run by path: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import FRAMEWORKS, BenchConfig, load_tokens, make_batches, set_threads, trainer_for


def _status_kb(field: str) -> int | None:
    """A ``kB`` field of /proc/self/status (VmRSS, VmHWM), or None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_high_water_mark() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the steps, print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--framework", choices=FRAMEWORKS, required=True)
    parser.add_argument("--config", required=True, help="BenchConfig as JSON")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    config = BenchConfig.from_json(args.config)
    if args.framework == "torch":
        import torch  # noqa: F401  (imported before the baseline so its libraries are not counted)

        from benchmarks.common import build_reference as build
    else:
        import tinytorch_core  # noqa: F401
        import plugins.language.model  # noqa: F401

        from benchmarks.common import build_tinygpt as build
    set_threads(args.threads)
    tokens, _, _ = load_tokens(config.vocab_size)
    batches = make_batches(tokens, config, args.steps + 1, seed=config.seed)
    import_kb = _status_kb("VmRSS")
    minimal = replace(config, num_layers=1, num_heads=1, d_model=8, block_size=4, batch_size=1)
    warm_step = trainer_for(args.framework, build(minimal), minimal.lr)
    for x, y in make_batches(tokens, minimal, 1):
        warm_step(x, y)
    del warm_step
    baseline_kb = _status_kb("VmRSS")
    exact = baseline_kb is not None and _reset_high_water_mark()
    model = build(config)
    step = trainer_for(args.framework, model, config.lr)
    for x, y in batches:
        step(x, y)
    peak_kb = _status_kb("VmHWM") if exact else None
    if peak_kb is None or baseline_kb is None:
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
        baseline_kb = baseline_kb or 0
    result = {
        "import_mb": (import_kb or 0) / 1024,
        "library_warmup_mb": (baseline_kb - (import_kb or baseline_kb)) / 1024,
        "baseline_mb": baseline_kb / 1024,
        "peak_mb": peak_kb / 1024,
        "training_mb": (peak_kb - baseline_kb) / 1024,
        "exact_reset": exact,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
