"""Two versions of TinyTorch in one process, alternating step by step: how a change moved the numbers.

    python -m benchmarks.versus REV [--what train|generate] [--rounds N] [--block T] [--batch B]

``REV`` (a commit, tag or branch) is exported with ``git archive`` into a temporary folder and its
packages renamed (``tinytorch_core`` -> ``ttc_rev``, ``plugins`` -> ``plugins_rev``,
``benchmarks`` -> ``benchmarks_rev``), so the old and the working tree's code import side by side.
Each builds the benchmark's TinyGPT (same seed, same batches), then they alternate one training
step (or one generation) at a time, the order flipping every round, and the script prints both
medians and the median of the per-round ratios ``now / REV`` (< 1: the working tree is faster).

Why not two processes: on this shared host the speed drifts by up to 1.5x over a few seconds,
and one process per version sees a different phase each; alternating single steps in one process
puts both versions in the same phase (measured: process-per-version ratios ranged 0.75-1.28 for
two identical trees, step alternation repeats to about 1%). Process-wide settings (BLAS threads,
``TINYTORCH_FAST``, the allocator) are then shared by both, which is what a like-for-like
comparison of the code wants.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tinytorch_core", "plugins", "benchmarks")


def export_renamed(rev: str, folder: Path) -> None:
    """``git archive REV`` of the three packages into ``folder``, each renamed with the ``_rev`` suffix."""
    archive = folder / "rev.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "-C", str(ROOT), "archive", rev, *PACKAGES], stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder / "src", filter="data")
    # Imports and dotted module paths only (LazyFactory names modules in strings), never attributes.
    pattern = re.compile(r"\b(tinytorch_core)\b|(?<=from )(plugins|benchmarks)\b|(?<=import )(plugins|benchmarks)\b"
                         r"|(?<![.\w])(plugins|benchmarks)(?=\.\w)")
    for package in PACKAGES:
        for source in (folder / "src" / package).rglob("*.py"):
            target = folder / f"{package}_rev" / source.relative_to(folder / "src" / package)
            target.parent.mkdir(parents=True, exist_ok=True)
            text = source.read_text(encoding="utf-8")
            target.write_text(pattern.sub(lambda m: f"{m.group(0)}_rev", text), encoding="utf-8")


def runners(common: Any, what: str, block: int, batch: int, tokens: Any) -> Callable[[int], Any]:
    """One benchmark action of one version: a training step on batch ``i``, or one generation with seed ``i``."""
    config = common.BenchConfig(block_size=block, batch_size=batch)
    model = common.build_tinygpt(config)
    expected = "plugins_rev." if common.__name__.endswith("_rev.common") else "plugins."
    if not type(model).__module__.startswith(expected):  # a missed rename would time the same code twice
        raise RuntimeError(f"{common.__name__} built a {type(model).__module__}.{type(model).__name__}")
    if what == "train":
        batches = common.make_batches(tokens, config, 20)
        step = common.tinytorch_trainer(model, config.lr)
        return lambda i: step(*batches[i % len(batches)])
    prompt = np.zeros((batch, 1), dtype=np.int64)
    return lambda i: model.generate_tokens(prompt, 100, temperature=1.0, seed=i)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("rev", help="the commit to compare the working tree against")
    parser.add_argument("--what", choices=("train", "generate"), default="train")
    parser.add_argument("--rounds", type=int, default=150, help="timed actions per version (default 150)")
    parser.add_argument("--block", type=int, default=64)
    parser.add_argument("--batch", type=int, default=None, help="default: 12 for train, 1 for generate")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    batch = args.batch or (12 if args.what == "train" else 1)
    with tempfile.TemporaryDirectory(prefix="tinytorch-versus-") as tmp:
        export_renamed(args.rev, Path(tmp))
        sys.path.insert(0, tmp)
        sys.path.insert(0, str(ROOT))
        import benchmarks.common as now_common
        import benchmarks_rev.common as rev_common  # type: ignore[import-not-found]

        now_common.set_threads(args.threads)
        tokens, _, _ = now_common.load_tokens(now_common.BenchConfig().vocab_size)
        run = {"rev": runners(rev_common, args.what, args.block, batch, tokens),
               "now": runners(now_common, args.what, args.block, batch, tokens)}
        for i in range(5):  # warm-up: compiled kernels, caches, allocator
            run["rev"](i)
            run["now"](i)
        times: dict[str, list[float]] = {"rev": [], "now": []}
        for i in range(args.rounds):
            for name in ("rev", "now") if i % 2 == 0 else ("now", "rev"):
                start = time.perf_counter()
                run[name](i)
                times[name].append(time.perf_counter() - start)
    old, new = np.array(times["rev"]), np.array(times["now"])
    from tinytorch_core import kernels

    print(f"{args.what}, block {args.block}, batch {batch}, {args.rounds} alternating rounds, kernels: {kernels.describe()}")
    print(f"  {args.rev}: median {1000 * np.median(old):.2f} ms   working tree: median {1000 * np.median(new):.2f} ms")
    print(f"  now / {args.rev}: {np.median(new) / np.median(old):.3f} (medians), {np.median(new / old):.3f} (median of per-round ratios)")


if __name__ == "__main__":
    main()
