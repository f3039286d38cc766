"""Encode speed of TinyTorch's GPT2Tokenizer against the reference (``tokenizers``, ``GPT2TokenizerFast``).

GPT-2's own files cannot be downloaded here, so a tokenizer of GPT-2's size and kind (byte-level BPE,
GPT-2's regex, 50,000 merges + 256 bytes + ``<|endoftext|>`` = 50,257 ids) is trained with
``tokenizers`` on the Python standard library's sources (local files), saved, and read by both sides.
The timed text is tinyshakespeare (``../shared/data``) or, without it, the stdlib corpus. Each side
encodes the whole text ``--repeats`` times, alternating; our tokenizer is timed cold (a fresh object,
empty word cache: what encoding a corpus once costs) and warm (cache filled by a previous call).

    python -m benchmarks.gpt2_tokenizer [--repeats 3] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # one sequence: single-threaded either way


def train_gpt2_sized(folder: Path, vocab_size: int = 50257) -> Path:
    """A GPT-2-sized byte-level BPE trained on the stdlib's .py files; writes tokenizer.json."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    def sources() -> Any:
        for path in sorted(stdlib.rglob("*.py")):
            try:
                yield path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):  # a few test files are deliberately not UTF-8
                continue

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - 1, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tokenizer.train_from_iterator(sources(), trainer)
    tokenizer.add_special_tokens(["<|endoftext|>"])
    tokenizer.save(str(folder / "tokenizer.json"))
    return folder / "tokenizer.json"


def text_to_encode() -> tuple[str, str]:
    shakespeare = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"
    for candidate in (shakespeare, Path("/work/shared/data/tinyshakespeare.txt")):
        if candidate.is_file():
            return "tinyshakespeare", candidate.read_text(encoding="utf-8")
    from plugins.language.corpus import stdlib_corpus

    return "stdlib corpus", stdlib_corpus()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    import tokenizers
    import transformers

    from plugins.language.gpt2_tokenizer import GPT2Tokenizer, gpt2_pattern

    name, text = text_to_encode()
    from tinytorch_core.fileio import cache_dir

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        cached = cache_dir("bench") / "gpt2_sized_tokenizer.json"  # training takes minutes: kept between runs
        if not cached.is_file():
            cached.parent.mkdir(parents=True, exist_ok=True)
            Path(train_gpt2_sized(Path(tmp))).replace(cached)
        path = cached
        print(f"tokenizer ({cached}): {tokenizers.Tokenizer.from_file(str(path)).get_vocab_size()}-id tokenizer in "
              f"{time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        gpt2_pattern()
        pattern_s = time.perf_counter() - start
        start = time.perf_counter()
        ours_loaded = GPT2Tokenizer.from_tokenizer_json(path)
        load_s = time.perf_counter() - start
        reference = tokenizers.Tokenizer.from_file(str(path))
        fast = transformers.PreTrainedTokenizerFast(tokenizer_file=str(path))
        fast.model_max_length = 10**9  # no "sequence too long" warning for a whole corpus
        times: dict[str, list[float]] = {"ours (cold)": [], "ours (warm)": [], "tokenizers": [], "GPT2TokenizerFast": []}
        results: dict[str, list[int]] = {}
        for _ in range(args.repeats):
            fresh = GPT2Tokenizer.from_tokenizer_json(path)
            for label, encode in (("ours (cold)", fresh.encode), ("ours (warm)", fresh.encode),
                                  ("tokenizers", lambda t: reference.encode(t).ids), ("GPT2TokenizerFast", fast.encode)):
                start = time.perf_counter()
                results[label] = encode(text)
                times[label].append(time.perf_counter() - start)
        same = all(ids == results["tokenizers"] for ids in results.values())
        del ours_loaded
    best = {label: min(values) for label, values in times.items()}
    mb = len(text.encode("utf-8")) / 1e6
    print(f"text: {name}, {mb:.2f} MB, {len(results['tokenizers'])} tokens; identical ids on all sides: {same}")
    print(f"one-time costs: regex classes {pattern_s * 1e3:.0f} ms, reading tokenizer.json {load_s * 1e3:.0f} ms")
    for label, seconds in best.items():
        print(f"  {label:18s} {seconds:7.3f} s  {mb / seconds:6.2f} MB/s  {best['tokenizers'] / seconds:5.2f}x tokenizers")
    report = {"text": name, "megabytes": mb, "tokens": len(results["tokenizers"]), "identical": same,
              "seconds": best, "pattern_s": pattern_s, "load_s": load_s}
    if args.json:
        from tinytorch_core.fileio import atomic_write_json

        atomic_write_json(args.json, report, indent=2)
    return report


if __name__ == "__main__":
    main()
