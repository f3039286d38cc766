"""Horovod's three collectives for data-parallel training: average gradients, broadcast weights and RNG."""

from __future__ import annotations

from typing import Any

import numpy as np

from tinytorch_core.distributed.group import ProcessGroup, init
from tinytorch_core.nn import Module
from tinytorch_core.tensor import get_rng


def _group(group: ProcessGroup | None) -> ProcessGroup:
    return group if group is not None else init()


def allreduce_gradients(optimizer: Any, group: ProcessGroup | None = None) -> None:
    """Average every gradient over all ranks: one in-place ``Allreduce`` per parameter group.

    Call it between ``loss.backward()`` and ``optimizer.step()`` (and before gradient clipping, so
    the clipping norm is the global one). ``optimizer`` is a ``tinytorch_core.optim`` optimizer: it
    keeps each group's gradients in one flat buffer (see ``Optimizer.flat_grads``), so a step costs
    as many collectives as there are groups, not parameters. Each rank's gradient must be the mean
    over its own equal share of the global batch; the average is then the global batch's gradient.
    Every rank must produce gradients for the same parameters.
    """
    flat_grads = getattr(optimizer, "flat_grads", None)
    if not callable(flat_grads):
        raise TypeError(
            f"allreduce_gradients: {type(optimizer).__name__} keeps no flat gradient buffers; "
            "use a tinytorch_core.optim optimizer (SGD, Adam, AdamW)"
        )
    group = _group(group)
    if group.world_size == 1:
        return
    for grad in flat_grads():
        group.allreduce_(grad)
        np.multiply(grad, grad.dtype.type(1.0 / group.world_size), out=grad)


def broadcast_parameters(module: Module, root: int = 0, group: ProcessGroup | None = None) -> None:
    """Overwrite every parameter and buffer of ``module`` on all ranks with ``root``'s values, in place."""
    group = _group(group)
    if group.world_size == 1:
        return
    for param in module.parameters():
        _broadcast_array(group, param.data, root)
    broadcast_buffers(module, root, group)


def broadcast_buffers(module: Module, root: int = 0, group: ProcessGroup | None = None) -> None:
    """Overwrite ``module``'s buffers (e.g. BatchNorm running statistics) with ``root``'s, as DDP does."""
    group = _group(group)
    if group.world_size == 1:
        return
    for _, buffer in module.named_buffers():
        _broadcast_array(group, buffer, root)


def broadcast_rng(root: int = 0, group: ProcessGroup | None = None) -> None:
    """Give every rank ``root``'s global random generator state (``tinytorch_core.get_rng()``)."""
    group = _group(group)
    if group.world_size == 1:
        return
    generator = get_rng().bit_generator
    generator.state = group.broadcast_json(generator.state, root)


def _broadcast_array(group: ProcessGroup, array: Any, root: int) -> None:
    if not isinstance(array, np.ndarray):
        return
    if array.flags.c_contiguous:
        group.broadcast_(array, root)
    else:  # a strided view: broadcast a contiguous copy and write it back
        array[...] = group.broadcast_(np.ascontiguousarray(array), root)
