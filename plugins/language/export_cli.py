"""``tinytorch export CHECKPOINT --format hf|onnx --out PATH``: a TinyGPT for other runtimes.

``CHECKPOINT`` is a TinyGPT checkpoint (``model.safetensors`` written by training) or a Hugging Face
GPT-2 directory. ``--format hf`` writes a directory that ``transformers`` loads offline;
``--format onnx`` one ``.onnx`` file for ``onnxruntime`` (needs the ``onnx`` package: the interop
extra). Failures are one ``error:`` line on stderr and exit status 2, with nothing half-written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["EXPORT_HELP", "add_export_arguments", "run_export"]

EXPORT_HELP = "export a TinyGPT to a Hugging Face GPT-2 directory (--format hf) or an ONNX file (--format onnx)"
EXIT_ERROR = 2


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``tinytorch export``."""
    parser.add_argument("checkpoint", help="a TinyGPT checkpoint (runs/<name>/model.safetensors) or a Hugging Face GPT-2 directory")
    parser.add_argument("--format", choices=("hf", "onnx"), required=True,
                        help="hf: a directory for transformers' from_pretrained; onnx: one .onnx file")
    parser.add_argument("--out", required=True, help="the directory (hf) or file (onnx, e.g. model.onnx) to write")


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_ERROR


def run_export(args: argparse.Namespace) -> int:
    """Load the model, write it in the requested format; 0 on success, 2 with one error line otherwise."""
    source, out = Path(args.checkpoint), Path(args.out)
    if not source.exists():
        return _fail(f"checkpoint not found: {source} (train first, e.g. `tinytorch train configs/tinygpt-stdlib.toml`)")
    if args.format == "onnx" and out.suffix != ".onnx":
        return _fail(f"--out {out}: an ONNX file name ends in .onnx (e.g. --out model.onnx)")
    from plugins.language.model import TinyGPT

    try:
        model = TinyGPT.from_pretrained(source) if source.is_dir() else TinyGPT.load(source)
    except (ValueError, KeyError, TypeError, OSError) as exc:
        return _fail(str(exc))
    try:
        if args.format == "hf":
            from plugins.language.hf_export import export_hf

            written = export_hf(model, out)
            hint = f"load it with transformers: GPT2LMHeadModel.from_pretrained({str(written)!r})"
        else:
            try:
                from plugins.language.onnx_export import export_onnx

                written = export_onnx(model, out)
            except ImportError as exc:
                return _fail(f"--format onnx needs the onnx package ({exc.name} is missing): pip install 'tinytorch-numpy[interop]'")
            hint = "run it with onnxruntime: InferenceSession(path).run(None, {'input_ids': ids})"
    except (ValueError, OSError) as exc:
        return _fail(str(exc))
    print(f"wrote {written} ({hint})")
    return 0
