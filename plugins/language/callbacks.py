"""Trainer callbacks of the language plugin: ``sample`` prints a short generation every N steps."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, TextIO

from tinytorch_core.training import Callback

if TYPE_CHECKING:
    from tinytorch_core.training import Trainer


class SampleCallback(Callback):
    """Print ``max_new_tokens`` tokens sampled from the model every ``every`` optimizer steps.

    Enabled from a config with ``[train] callbacks = [{name = "sample", every = 200}]``. The model
    must generate text (a TinyGPT with a tokenizer); sampling runs in eval mode and leaves the
    training state untouched: its random numbers come from its own ``seed``, not the global RNG,
    so a run with samples trains exactly like one without.
    """

    def __init__(self, every: int = 500, prompt: str = "\n", max_new_tokens: int = 100, temperature: float = 1.0,
                 top_k: int | None = None, seed: int = 0, stream: TextIO | None = None) -> None:
        if not isinstance(every, int) or every <= 0:
            raise ValueError(f"sample callback: every must be a positive number of steps, got {every!r}")
        if max_new_tokens <= 0:
            raise ValueError(f"sample callback: max_new_tokens must be positive, got {max_new_tokens!r}")
        self.every = every
        self.prompt = prompt
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.top_k = top_k or None
        self.seed = seed
        self.stream = stream
        self.samples: list[tuple[int, str]] = []

    def on_step_end(self, trainer: Trainer, step: int, loss: float) -> None:
        if step % self.every:
            return
        model: Any = trainer.model
        if not callable(getattr(model, "generate", None)) or getattr(model, "tokenizer", None) is None:
            raise TypeError(f"sample callback: {type(model).__name__} cannot generate text "
                            "(use it with a TinyGPT that has a tokenizer)")
        was_training = model.training
        model.eval()
        try:
            text = str(model.generate(self.prompt, max_length=self.max_new_tokens, temperature=self.temperature,
                                      top_k=self.top_k, seed=self.seed))
        finally:
            model.train(was_training)
        self.samples.append((step, text))
        stream = self.stream if self.stream is not None else sys.stdout
        print(f"--- sample at step {step} (loss {loss:.4f}) ---\n{text}\n---", file=stream, flush=True)


def sample(every: int = 500, prompt: str = "\n", max_new_tokens: int = 100, temperature: float = 1.0,
           top_k: int = 0, seed: int = 0) -> SampleCallback:
    """The ``sample`` callback factory (config keys are its parameters)."""
    return SampleCallback(every=every, prompt=prompt, max_new_tokens=max_new_tokens, temperature=temperature,
                          top_k=top_k or None, seed=seed)
