"""``tinytorch caption CHECKPOINT (--image FILE | --index N)``: caption an image with a trained captioner.

``CHECKPOINT`` is the ``captioner.safetensors`` a training run writes (or its run directory).
``--index N`` rebuilds the run's dataset (deterministic from its seed) and captions image N of a
split, printing the reference caption beside it. Every failure is one ``error:`` line, exit 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["CAPTION_HELP", "add_caption_arguments", "run_caption"]

CAPTION_HELP = "caption an image (.npy, .ppm, .pgm) or a dataset image with a trained captioner"
EXIT_ERROR = 2


def add_caption_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``tinytorch caption``."""
    parser.add_argument("checkpoint", help="runs/<name>/captioner.safetensors (or the run directory)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", help="an image file: .npy (3, H, W) or (H, W, 3), or binary .ppm / .pgm")
    source.add_argument("--index", type=int, help="caption image N of the run's dataset (see --split)")
    parser.add_argument("--split", choices=("val", "unseen", "train"), default="val",
                        help="the split --index reads (default: val, held-out images)")
    parser.add_argument("--save", help="with --index: also write the image to this .ppm file")


def _fail(message: str) -> int:
    print(f"error: tinytorch caption: {message}", file=sys.stderr)
    return EXIT_ERROR


def _dataset_image(args: argparse.Namespace, data: dict[str, Any], components: Any) -> tuple[Any, str]:
    from tinytorch_captioning.data import captioned_shapes

    if not data:
        raise ValueError(f"{args.checkpoint} records no dataset config, so --index has nothing to read; use --image")
    splits = captioned_shapes(components, **data)
    dataset = {"train": splits.train, "val": splits.val, "unseen": splits.unseen}[args.split]
    if dataset is None or not 0 <= args.index < len(dataset):
        size = 0 if dataset is None else len(dataset)
        raise ValueError(f"--index {args.index} is out of range for the {args.split} split ({size} images)")
    image, ids = dataset[args.index]
    reference = splits.info["tokenizer"].decode([int(t) for t in ids if t >= 0])
    return image, reference


def run_caption(args: argparse.Namespace, components: Any) -> int:
    """Load the captioner, caption the image, print the caption; 0 on success, 2 with one error line otherwise."""
    from tinytorch_captioning.checkpoint import load_captioner
    from tinytorch_captioning.imagefile import read_image, write_ppm

    try:
        model, data = load_captioner(args.checkpoint, components)
        reference = None
        if args.image is not None:
            image = read_image(args.image)
        else:
            image, reference = _dataset_image(args, data, components)
        size = model.config["image_size"]
        if image.shape != (3, size, size):
            raise ValueError(f"the image is {image.shape[2]}x{image.shape[1]} but the captioner reads "
                             f"{size}x{size} RGB images; resize it to {size}x{size}")
        if args.save and args.index is not None:
            write_ppm(args.save, image)
    except (ValueError, KeyError, OSError) as exc:
        return _fail(str(exc).strip("'\""))
    predicted = model.caption(image[None])[0]
    print(predicted)
    if reference is not None:
        verdict = "exact match" if predicted == reference else "differs"
        print(f"reference: {reference} ({verdict})")
    return 0
