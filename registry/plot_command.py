"""``tinytorch plot RUN_DIR``: train/validation loss and every other logged metric against step."""

from __future__ import annotations

import argparse
from pathlib import Path

from registry.errors import CommandError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (holding metrics.jsonl) or a metrics.jsonl file")
    parser.add_argument("--out", metavar="FILE.png", default=None, help="where to write the picture (default: RUN_DIR/metrics.png)")


def run(args: argparse.Namespace) -> int:
    from tinytorch_core.plot import PlotUnavailableError, plot_metrics
    from tinytorch_core.training import read_metrics

    source = Path(args.run_dir)
    metrics_file = source / "metrics.jsonl" if source.is_dir() else source
    if not metrics_file.is_file():
        raise CommandError(f"{metrics_file}: no such metrics file; give a run directory written by `tinytorch train`")
    try:
        records = read_metrics(metrics_file)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CommandError(f"{metrics_file}: not a JSON-lines metrics file ({exc})") from exc
    out = Path(args.out) if args.out else metrics_file.parent / "metrics.png"
    if out.suffix.lower() != ".png":
        raise CommandError(f"--out {out}: pictures are written as PNG; give a file name ending in .png")
    try:
        path = plot_metrics(records, out, title=metrics_file.parent.name)
    except PlotUnavailableError as exc:
        raise CommandError(str(exc)) from exc
    except ValueError as exc:
        raise CommandError(f"{metrics_file}: {exc}") from exc
    print(f"wrote {path}")
    return 0
