"""``tinytorch generate CHECKPOINT --prompt TEXT``: sample text from a saved TinyGPT.

Only ``argparse`` is imported at module level; the model code loads when the command runs.
Every failure (missing or corrupted file, a checkpoint of another model, a prompt character
the tokenizer does not know) is one ``error:`` line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

__all__ = ["add_generate_arguments", "run_generate", "GENERATE_HELP"]

GENERATE_HELP = "sample text from a trained TinyGPT checkpoint (model.safetensors) or a Hugging Face GPT-2 directory"

EXIT_ERROR = 2


def add_generate_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``tinytorch generate``."""
    parser.add_argument("checkpoint", help="a TinyGPT checkpoint, e.g. runs/<name>/model.safetensors, or a "
                        "Hugging Face GPT-2 directory (config.json, model.safetensors, tokenizer files)")
    parser.add_argument("--prompt", default="\n", help="text to continue (default: a newline)")
    parser.add_argument("--max-new-tokens", type=int, default=300, help="tokens to generate (default: 300)")
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature; 0 is greedy (default: 1.0)")
    parser.add_argument("--top-k", type=int, default=None, help="sample only from the k most likely tokens")
    parser.add_argument("--top-p", type=float, default=None, help="nucleus sampling: the most likely tokens up to probability p")
    parser.add_argument("--seed", type=int, default=None, help="random seed, for a reproducible sample")


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_ERROR


def run_generate(args: argparse.Namespace) -> int:
    """Load the checkpoint, generate, print prompt + continuation; 0 on success, 2 with one error line otherwise."""
    path = Path(args.checkpoint)
    if not path.exists():
        return _fail(f"checkpoint not found: {path} (train first, e.g. `tinytorch train configs/tinygpt-stdlib.toml`)")
    from plugins.language.model import TinyGPT

    try:
        model = TinyGPT.from_pretrained(path) if path.is_dir() else TinyGPT.load(path)
    except (ValueError, KeyError, TypeError, OSError) as exc:
        return _fail(str(exc))
    if model.tokenizer is None:
        return _fail(f"{path} holds no tokenizer, so a text prompt cannot be encoded; save the model with its tokenizer")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            text = model.generate(
                args.prompt,
                max_length=args.max_new_tokens,
                temperature=args.temperature,
                top_k=args.top_k,
                top_p=args.top_p,
                seed=args.seed,
            )
        except (ValueError, TypeError) as exc:
            return _fail(f"{exc} (checkpoint {path})")
    for warning in caught:
        print(f"note: {warning.message}", file=sys.stderr)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0
