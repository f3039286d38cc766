"""``tinytorch attention CHECKPOINT --prompt TEXT --out FILE.png``: draw a prompt's attention maps.

A grid with a row per layer and a column per head, the prompt's tokens on both axes (matplotlib,
the ``plot`` extra). Failures are one ``error:`` line and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ATTENTION_HELP = "draw a prompt's attention maps from a TinyGPT checkpoint (a grid of heads per layer)"
EXIT_ERROR = 2


def add_attention_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``tinytorch attention``."""
    parser.add_argument("checkpoint", help="a TinyGPT checkpoint, e.g. runs/<name>/model.safetensors, or a run directory")
    parser.add_argument("--prompt", required=True, help="the text whose attention to draw")
    parser.add_argument("--layer", type=int, default=None, help="only this layer (0-based; default: every layer)")
    parser.add_argument("--head", type=int, default=None, help="only this head (0-based; default: every head)")
    parser.add_argument("--out", required=True, metavar="FILE.png", help="where to write the picture")


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_ERROR


def run_attention(args: argparse.Namespace) -> int:
    """Load, run the prompt once, draw; 0 on success, 2 with one error line otherwise."""
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        return _fail(f"--out {out}: pictures are written as PNG; give a file name ending in .png")
    path = Path(args.checkpoint)
    if not path.exists():
        return _fail(f"checkpoint not found: {path} (train first, e.g. `tinytorch train configs/tinygpt-stdlib.toml`)")
    from plugins.language.attention_maps import attention_maps
    from plugins.language.cli import open_model
    from tinytorch_core.plot import PlotUnavailableError, plot_attention

    try:
        model = open_model(path)  # as `tinytorch generate`: a model file, a run directory or a HF directory
    except ValueError as exc:
        return _fail(str(exc))
    if model.tokenizer is None:
        return _fail(f"{path} holds no tokenizer, so the prompt cannot be encoded")
    try:
        ids = model.tokenizer.encode(args.prompt)
    except (ValueError, KeyError) as exc:
        return _fail(f"--prompt: {exc}")
    if not ids:
        return _fail("--prompt is empty: give some text")
    limit = model.config.block_size
    if len(ids) > limit:
        print(f"note: the prompt has {len(ids)} tokens; drawing its last {limit} (the model's block_size)", file=sys.stderr)
        ids = ids[-limit:]
    maps = attention_maps(model, ids)
    labels = [model.tokenizer.decode([token]) for token in ids]
    try:
        written = plot_attention(maps, labels, out,
                                 layers=None if args.layer is None else [args.layer],
                                 heads=None if args.head is None else [args.head],
                                 title=f"attention for {args.prompt[:40]!r}")
    except PlotUnavailableError as exc:
        return _fail(str(exc))
    except ValueError as exc:
        return _fail(f"{exc} (--layer / --head)")
    print(f"wrote {written}")
    return 0
