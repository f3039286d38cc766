"""GPT-2 small at its real size: TinyGPT against transformers' GPT2LMHeadModel (PyTorch eager), same weights.

12 layers, 12 heads, d_model 768, vocab 50257, context 1024. The weights are random, made locally
once (``GPT2LMHeadModel(GPT2Config())`` under a fixed seed, saved with ``save_pretrained`` into the
cache, ~500 MB) and read by both sides from that one directory (TinyGPT through
``TinyGPT.from_pretrained``), so both compute the same function; the run checks that the greedy
tokens agree.

- Generation: a 512-token prompt, then 128 new tokens, batch 1, greedy (``generate_tokens`` with
  temperature 0 against ``generate(do_sample=False)`` under ``torch.inference_mode``). Reported:
  new tokens/s over the whole call (prefill included), the prefill time, and the per-token decode
  time. The frameworks alternate, ``--repeats`` runs each; medians.
- Peak memory: one child process per framework (``--child memory``) imports only its own
  libraries, loads the model from the directory, generates, and reports its peak RSS (VmHWM) and
  the part above its post-import baseline.
- Training: one AdamW step (forward, loss, backward, update) at batch 4 x 256, median of
  ``--train-steps`` steps after one warm-up, alternating.
- ``--profile``: cProfile of one TinyGPT generation (where the time goes).

    python -m benchmarks.gpt2_small [--threads 2] [--repeats 2] [--train-steps 3] [--profile] [--json OUT]
"""

from __future__ import annotations

import argparse
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

PROMPT, NEW_TOKENS, TRAIN_BATCH, TRAIN_BLOCK = 512, 128, 4, 256


def model_dir() -> Path:
    """The random GPT-2 small directory (made on first use)."""
    from tinytorch_core.fileio import cache_dir

    folder = cache_dir("bench") / "gpt2-small-random"
    if not (folder / "model.safetensors").is_file():
        import torch
        import transformers

        torch.manual_seed(0)
        model = transformers.GPT2LMHeadModel(transformers.GPT2Config())
        model.save_pretrained(str(folder))
        print(f"made random GPT-2 small weights in {folder}", file=sys.stderr)
    return folder


def prompt_ids() -> Any:
    import numpy as np

    return np.random.default_rng(0).integers(0, 50257, size=(1, PROMPT), dtype=np.int64)


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child_memory(framework: str, folder: Path, threads: int) -> dict[str, float]:
    """Load and generate with one framework in this (fresh) process; peak RSS in MB."""
    from benchmarks.common import set_threads

    if framework == "tinytorch":
        from plugins.language.model import TinyGPT
    else:
        import torch
        import transformers
    set_threads(threads)
    baseline = _status_mb("VmRSS")
    ids = prompt_ids()
    if framework == "tinytorch":
        TinyGPT.from_pretrained(folder).generate_tokens(ids, NEW_TOKENS, temperature=0.0)
    else:
        model = transformers.GPT2LMHeadModel.from_pretrained(str(folder)).eval()
        with torch.inference_mode():
            model.generate(torch.from_numpy(ids), max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS,
                           do_sample=False, pad_token_id=0)
    peak = _status_mb("VmHWM")
    return {"import_mb": baseline, "peak_mb": peak, "above_imports_mb": peak - baseline}


def _memory(framework: str, folder: Path, threads: int) -> dict[str, float]:
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-m", "benchmarks.gpt2_small", "--child", "memory", "--framework", framework,
                          "--threads", str(threads)], capture_output=True, text=True, env=env, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def generation(folder: Path, repeats: int) -> dict[str, Any]:
    import numpy as np
    import torch
    import transformers

    from plugins.language.model import TinyGPT

    ours = TinyGPT.from_pretrained(folder)
    theirs = transformers.GPT2LMHeadModel.from_pretrained(str(folder)).eval()
    ids = prompt_ids()
    torch_ids = torch.from_numpy(ids)

    def run_ours() -> Any:
        return ours.generate_tokens(ids, NEW_TOKENS, temperature=0.0)

    def run_theirs() -> Any:
        with torch.inference_mode():
            return theirs.generate(torch_ids, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS,
                                   do_sample=False, pad_token_id=0).numpy()

    def prefill_ours() -> None:
        ours.generate_tokens(ids, 1, temperature=0.0)

    def prefill_theirs() -> None:
        with torch.inference_mode():
            theirs.generate(torch_ids, max_new_tokens=1, do_sample=False, pad_token_id=0)

    times: dict[str, list[float]] = {"tinytorch": [], "transformers": [], "tinytorch_prefill": [], "transformers_prefill": []}
    outputs = {}
    for _ in range(repeats):
        for name, fn in (("tinytorch", run_ours), ("transformers", run_theirs),
                         ("tinytorch_prefill", prefill_ours), ("transformers_prefill", prefill_theirs)):
            start = time.perf_counter()
            outputs[name] = fn()
            times[name].append(time.perf_counter() - start)
    same = np.array_equal(outputs["tinytorch"], outputs["transformers"])
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {"identical_tokens": bool(same), "seconds": med}
    for name in ("tinytorch", "transformers"):
        result[f"{name}_tokens_per_s"] = NEW_TOKENS / med[name]
        result[f"{name}_decode_ms_per_token"] = 1e3 * (med[name] - med[f"{name}_prefill"]) / (NEW_TOKENS - 1)
    return result


def training(folder: Path, steps: int) -> dict[str, float]:
    import numpy as np
    import torch
    import transformers

    from plugins.language.model import TinyGPT
    from tinytorch_core import functional as F
    from tinytorch_core.optim import AdamW

    rng = np.random.default_rng(1)
    data = rng.integers(0, 50257, size=(TRAIN_BATCH, TRAIN_BLOCK + 1), dtype=np.int64)
    x, y = data[:, :-1], data[:, 1:]
    ours = TinyGPT.from_pretrained(folder)
    ours.train()
    our_opt = AdamW(ours.parameters(), lr=1e-5)
    theirs = transformers.GPT2LMHeadModel.from_pretrained(str(folder)).train()
    their_opt = torch.optim.AdamW(theirs.parameters(), lr=1e-5)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def step_ours() -> None:
        our_opt.zero_grad()
        loss = F.cross_entropy(ours(x).reshape(-1, 50257), y.reshape(-1))
        loss.backward()
        our_opt.step()

    def step_theirs() -> None:
        their_opt.zero_grad()
        logits = theirs(tx).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 50257), ty.reshape(-1))
        loss.backward()
        their_opt.step()

    times: dict[str, list[float]] = {"tinytorch": [], "transformers": []}
    for i in range(steps + 1):
        for name, fn in (("tinytorch", step_ours), ("transformers", step_theirs)):
            start = time.perf_counter()
            fn()
            if i:  # the first step warms up (allocations, optimizer state)
                times[name].append(time.perf_counter() - start)
    return {f"{k}_step_s": statistics.median(v) for k, v in times.items()}


def profile(folder: Path) -> None:
    """cProfile of one TinyGPT generation and of one training step (after one untimed step)."""
    import cProfile
    import pstats

    import numpy as np

    from plugins.language.model import TinyGPT
    from tinytorch_core import functional as F
    from tinytorch_core.optim import AdamW

    model = TinyGPT.from_pretrained(folder)
    ids = prompt_ids()
    profiler = cProfile.Profile()
    profiler.enable()
    model.generate_tokens(ids, NEW_TOKENS, temperature=0.0)
    profiler.disable()
    print(f"--- profile: one generation ({PROMPT} + {NEW_TOKENS} tokens)")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(12)
    data = np.random.default_rng(1).integers(0, 50257, size=(TRAIN_BATCH, TRAIN_BLOCK + 1), dtype=np.int64)
    model.train()
    optimizer = AdamW(model.parameters(), lr=1e-5)

    def step() -> None:
        optimizer.zero_grad()
        F.cross_entropy(model(data[:, :-1]).reshape(-1, 50257), data[:, 1:].reshape(-1)).backward()
        optimizer.step()

    step()
    profiler = cProfile.Profile()
    profiler.enable()
    step()
    profiler.disable()
    print(f"--- profile: one training step (batch {TRAIN_BATCH} x {TRAIN_BLOCK})")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(12)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description="GPT-2 small: TinyGPT vs transformers")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--train-steps", type=int, default=3, help="0 skips the training step")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of one generation and one training step")
    parser.add_argument("--profile-only", action="store_true", help="only the profiles")
    parser.add_argument("--child", choices=("memory",), help=argparse.SUPPRESS)
    parser.add_argument("--framework", choices=("tinytorch", "transformers"), help=argparse.SUPPRESS)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    folder = model_dir()
    if args.child == "memory":
        print(json.dumps(child_memory(args.framework, folder, args.threads)))
        return {}
    from benchmarks.common import set_threads

    set_threads(args.threads)
    if args.profile_only:
        profile(folder)
        return {}
    report: dict[str, Any] = {"threads": args.threads, "prompt": PROMPT, "new_tokens": NEW_TOKENS}
    report["generation"] = gen = generation(folder, args.repeats)
    print(f"generation ({PROMPT}-token prompt + {NEW_TOKENS} greedy, batch 1, {args.threads} threads), "
          f"identical tokens: {gen['identical_tokens']}")
    for name in ("tinytorch", "transformers"):
        print(f"  {name:12s} {gen[f'{name}_tokens_per_s']:6.2f} tokens/s  prefill {gen['seconds'][f'{name}_prefill']:.2f} s  "
              f"decode {gen[f'{name}_decode_ms_per_token']:.1f} ms/token")
    print(f"  ratio tinytorch/transformers tokens/s: {gen['tinytorch_tokens_per_s'] / gen['transformers_tokens_per_s']:.2f}")
    if not args.skip_memory:
        report["memory"] = {name: _memory(name, folder, args.threads) for name in ("tinytorch", "transformers")}
        for name, mem in report["memory"].items():
            print(f"  peak RSS {name:12s} {mem['peak_mb']:7.0f} MB (imports {mem['import_mb']:.0f} MB, "
                  f"model + generation {mem['above_imports_mb']:.0f} MB)")
    if args.train_steps:
        report["training"] = tr = training(folder, args.train_steps)
        print(f"training step (AdamW, batch {TRAIN_BATCH} x {TRAIN_BLOCK}): tinytorch {tr['tinytorch_step_s']:.2f} s, "
              f"transformers {tr['transformers_step_s']:.2f} s, ratio {tr['transformers_step_s'] / tr['tinytorch_step_s']:.2f}x")
    if args.profile:
        profile(folder)
    if args.json:
        from tinytorch_core.fileio import atomic_write_json

        atomic_write_json(args.json, report, indent=2)
    return report


if __name__ == "__main__":
    main()
