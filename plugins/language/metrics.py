"""Language-model metrics: bits per character, comparable across tokenizers."""

from __future__ import annotations

import math

from tinytorch_core.metrics import Perplexity


class BitsPerCharacter(Perplexity):
    """Mean cross-entropy in bits per character of text: nats per token / ln 2 / characters per token.

    ``chars_per_token`` (the ``text`` dataset's info supplies it) is 1 for the character tokenizer;
    a BPE token covers several characters, so its bits per token are spread over them.
    """

    name = "bpc"

    def __init__(self, chars_per_token: float = 1.0, ignore_index: int | None = None) -> None:
        super().__init__(ignore_index=ignore_index)
        if not chars_per_token > 0:
            raise ValueError(f"bpc: chars_per_token must be positive, got {chars_per_token!r}")
        self.chars_per_token = float(chars_per_token)

    def compute(self) -> float:
        if not self.count:
            return math.nan
        return self.total / self.count / math.log(2.0) / self.chars_per_token
