"""``tinytorch generate CHECKPOINT --prompt TEXT``: sample text from a saved TinyGPT.

Only ``argparse`` is imported at module level; the model code loads when the command runs.
Every failure (missing or corrupted file, a checkpoint of another model, a prompt character
the tokenizer does not know) is one ``error:`` line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import sys
import warnings
from pathlib import Path
from typing import Any

__all__ = ["add_generate_arguments", "run_generate", "GENERATE_HELP"]

GENERATE_HELP = "sample text from a trained TinyGPT checkpoint (model.safetensors) or a Hugging Face GPT-2 directory"

EXIT_ERROR = 2


def add_generate_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``tinytorch generate``."""
    parser.add_argument("checkpoint", help="a TinyGPT checkpoint, e.g. runs/<name>/model.safetensors, or a run directory"
                        " (its model.safetensors), or its checkpoints/last.safetensors (the run's latest weights),"
                        " or a Hugging Face GPT-2 directory (config.json, model.safetensors, tokenizer files)")
    parser.add_argument("--prompt", default="\n", help="text to continue (default: a newline)")
    parser.add_argument("--max-new-tokens", type=int, default=300, help="tokens to generate (default: 300)")
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature; 0 is greedy (default: 1.0)")
    parser.add_argument("--top-k", type=int, default=None, help="sample only from the k most likely tokens")
    parser.add_argument("--top-p", type=float, default=None, help="nucleus sampling: the most likely tokens up to probability p")
    parser.add_argument("--seed", type=int, default=None, help="random seed, for a reproducible sample")
    parser.add_argument("--stream", action="store_true", help="print tokens as they are generated")
    parser.add_argument("--stop", action="append", default=None, metavar="TEXT",
                        help="stop before the first occurrence of TEXT (repeatable)")


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_ERROR


def _surrogate(text: str) -> int | None:
    """Where ``text`` holds a lone surrogate (argv bytes that were not UTF-8), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def _is_hf_directory(path: Path) -> bool:
    """A Hugging Face model directory: its config.json names a ``model_type`` (a run's config.json does not)."""
    import json

    try:
        return path.is_dir() and "model_type" in json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return False


def _load(path: Path) -> Any:
    """A TinyGPT from a model file, a run directory, or a run's training checkpoint; ValueError otherwise.

    A run directory means its ``model.safetensors``. A training checkpoint (``checkpoints/last.safetensors``)
    holds weights and optimizer state but no tokenizer: its weights are loaded into the model rebuilt from
    the run's ``model.safetensors`` (same architecture and tokenizer), so a resumed or longer run's latest
    weights can be sampled.
    """
    from plugins.language.model import TinyGPT
    from tinytorch_core.serialization import load

    if _is_hf_directory(path):
        return TinyGPT.from_pretrained(path)
    if path.is_dir():
        if (path / "model.safetensors").is_file():
            return TinyGPT.load(path / "model.safetensors")
        if not (path / "checkpoints" / "last.safetensors").is_file():
            raise ValueError(f"{path} is a directory without model.safetensors or checkpoints/last.safetensors;"
                             " give a TinyGPT model file or a run directory of `tinytorch train`")
        path = path / "checkpoints" / "last.safetensors"
    tensors, metadata = load(path)
    if metadata.get("kind") != "training_checkpoint":
        return TinyGPT.load(path)
    run_dir = path.parent.parent if path.parent.name == "checkpoints" else path.parent
    model_file = run_dir / "model.safetensors"
    if not model_file.is_file():
        raise ValueError(f"{path} is a training checkpoint (weights and optimizer state, no tokenizer) and its run"
                         f" has no {model_file} yet, which a run writes when it finishes: finish it with"
                         f" `tinytorch train CONFIG --resume {run_dir}`, then generate from {model_file}")
    model = TinyGPT.load(model_file)
    weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(weights, strict=True)
    except KeyError as exc:
        raise ValueError(f"{path}: its weights do not fit the model in {model_file}: {exc.args[0]}") from None
    model.eval()
    print(f"note: sampling the weights of {path} (step {metadata.get('step')}) with the tokenizer of {model_file}",
          file=sys.stderr)
    return model


def open_model(path: Path) -> Any:
    """:func:`_load`, with every failure one ``ValueError`` line naming ``path`` (for the commands' error line)."""
    try:
        return _load(path)
    except Exception as exc:  # a hostile or foreign file: loading runs no code, so any failure is the file's
        text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        if not isinstance(exc, (ValueError, OSError)) or not text:
            text = f"{type(exc).__name__}: {text}"
        raise ValueError(text if str(path) in text else f"{path}: not a usable TinyGPT checkpoint: {text}") from None


def run_generate(args: argparse.Namespace) -> int:
    """Load the checkpoint, generate, print prompt + continuation; 0 on success, 2 with one error line otherwise."""
    path = Path(args.checkpoint)
    if not path.exists():
        return _fail(f"checkpoint not found: {path} (train first, e.g. `tinytorch train configs/tinygpt-stdlib.toml`)")
    bad = _surrogate(args.prompt)
    if bad is not None:
        return _fail(f"--prompt: character {bad} is a byte that is not UTF-8 text (the shell passed raw bytes);"
                     " pass the prompt as UTF-8 text")
    try:
        model = open_model(path)
    except ValueError as exc:
        return _fail(str(exc))
    vocab = getattr(model.tokenizer, "vocab", None)
    if isinstance(vocab, str):
        known = set(vocab)
        unknown = [(i, c) for i, c in enumerate(args.prompt) if c not in known]
        if unknown:
            position, char = unknown[0]
            return _fail(f"--prompt: character {char!r} at position {position} is not in the vocabulary of {path}"
                         f" ({len(vocab)} characters it was trained on); use only those characters in the prompt")
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
                stop=args.stop,
                stream=_printer(args.prompt) if args.stream else None,
            )
        except (ValueError, TypeError) as exc:
            return _fail(f"{exc} (checkpoint {path})")
    for warning in caught:
        print(f"note: {warning.message}", file=sys.stderr)
    if args.stream:
        sys.stdout.write("" if text.endswith("\n") else "\n")
        sys.stdout.flush()
        return 0
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def _printer(prompt: str) -> Callable[[str], None]:
    """``--stream``: the prompt at once, then each new piece as it comes."""
    sys.stdout.write(prompt)
    sys.stdout.flush()

    def emit(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    return emit
