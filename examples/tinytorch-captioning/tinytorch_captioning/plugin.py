"""Entry point of the ``captioning`` plugin: image captioning built from the vision and language plugins.

It imports neither plugin: ``tinytorch_requires`` declares them, and every component of theirs it
uses (the ``shapes`` dataset, the ``simple_cnn`` encoder, the ``tinygpt`` decoder, the ``char``
tokenizer) comes through the component lookup the registry passes to its factories and hooks.
This module stays light: the model and data code load when first used.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

from tinytorch_core.hookspecs import CommandRegistry, Register, hookimpl
from tinytorch_core.lazy import LazyFactory

#: The plugins this one builds on (read by the registry, like pytest's ``pytest_plugins``).
tinytorch_requires: tuple[str, ...] = ("vision", "language")

_SMALL_MODEL: dict[str, Any] = {"image_size": 16, "prefix_tokens": 2, "d_model": 16, "num_layers": 1,
                                "num_heads": 2, "channels": [4], "hidden": 16}


def _caption_batch(n: int = 8, image_size: int = 16) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Random images with valid caption ids: enough for a model to lower its loss by memorising."""
    from tinytorch_captioning.captions import Attributes, captions, draw_layout, encode_captions, longest_caption
    from tinytorch_captioning.data import PAD
    from tinytorch_captioning.words import WordTokenizer

    rng = np.random.default_rng(0)
    size, position = draw_layout(n, rng)
    attributes = Attributes(rng.integers(0, 5, size=n), rng.integers(0, 6, size=n), size, position)
    tokenizer = WordTokenizer()
    ids = encode_captions(captions(attributes), tokenizer.encode, longest_caption(tokenizer.encode), PAD)
    return rng.random((n, 3, image_size, image_size), dtype=np.float32), ids


def _caption_loss(model: Any, batch: Any) -> Any:
    from tinytorch_captioning.model import caption_loss

    return caption_loss(model, batch)


@hookimpl
def tinytorch_register_modalities(register: Register) -> None:
    """The ``captioning`` modality."""
    register("captioning", "image captioning: a vision encoder conditioning a language decoder")


@hookimpl
def tinytorch_register_tokenizers(register: Register) -> None:
    """``caption_words``."""
    register("caption_words", LazyFactory("tinytorch_captioning.words", "WordTokenizer"),
             description="one token per word of the caption grammar", sample_text="a small red circle at the top left.")


@hookimpl
def tinytorch_register_datasets(register: Register) -> None:
    """``captioned_shapes``."""
    register("captioned_shapes", LazyFactory("tinytorch_captioning.data", "captioned_shapes"),
             description="vision's shapes placed, sized and coloured, with captions; held-out shape+colour pairs",
             sample_config={"n_train": 32, "n_val": 16, "n_unseen": 16, "image_size": 16})


@hookimpl
def tinytorch_register_models(register: Register) -> None:
    """``captioner``: vision's simple_cnn -> prefix tokens -> language's tinygpt."""
    register("captioner", LazyFactory("tinytorch_captioning.model", "Captioner"),
             description="CNN encoder (vision:simple_cnn) + prefix-conditioned TinyGPT decoder (language:tinygpt)",
             sample_kwargs=dict(_SMALL_MODEL), sample_batch=_caption_batch, loss_fn=_caption_loss)


@hookimpl
def tinytorch_register_reuse_targets(register: Register, components: Any) -> None:
    """One captioner training step, for ``tinytorch report reuse``."""
    def captioner() -> Any:
        from tinytorch_captioning.model import Captioner

        return Captioner(components, image_size=16, d_model=32, channels=[8, 16], hidden=32)

    register("captioner", captioner, description="captioner (simple_cnn + 2-layer TinyGPT), batch 8 x 16x16 images",
             sample_batch=_caption_batch, loss_fn=_caption_loss)


@hookimpl
def tinytorch_register_commands(cli: CommandRegistry, components: Any) -> None:
    """``tinytorch caption``."""
    from tinytorch_captioning.cli import CAPTION_HELP, add_caption_arguments, run_caption

    cli.add_command("caption", lambda args: run_caption(args, components), help=CAPTION_HELP,
                    arguments=add_caption_arguments)


@hookimpl
def tinytorch_on_train_end(trainer: Any, config: Mapping[str, Any]) -> None:
    """After training a captioner: save it and print its exact-match scores."""
    model_module = sys.modules.get("tinytorch_captioning.model")
    if model_module is None or not isinstance(getattr(trainer, "model", None), model_module.Captioner):
        return
    from tinytorch_captioning.metrics import report

    report(trainer, getattr(config, "data", config))
