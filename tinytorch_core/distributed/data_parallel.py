"""``DataParallel``: the Trainer's data-parallel mode, as a callback on the documented hook points."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tinytorch_core.data import DataLoader
from tinytorch_core.distributed.collectives import (
    allreduce_gradients,
    broadcast_buffers,
    broadcast_parameters,
    broadcast_rng,
)
from tinytorch_core.distributed.group import ProcessGroup, init
from tinytorch_core.distributed.sampler import DistributedSampler
from tinytorch_core.training.callbacks import Callback

if TYPE_CHECKING:
    from tinytorch_core.training.trainer import Trainer


class DataParallel(Callback):
    """Train with ``Trainer(..., distributed=DataParallel())`` on every rank of ``mpiexec -n N``.

    As a callback it does Horovod's three things: at the start of ``fit`` rank 0's parameters,
    buffers and global RNG state are broadcast; in ``on_before_optimizer_step`` (after backward and
    gradient accumulation, before clipping and ``optimizer.step()``) each parameter group's flat
    gradient buffer is averaged by one in-place allreduce, and buffers such as BatchNorm running
    statistics are broadcast from rank 0 (DDP's ``broadcast_buffers``). The Trainer also uses it to
    average the reported loss, sum evaluation losses and counts over the ranks, share
    ``stop_training`` after every step (a callback on any rank may end the run for all), and to
    leave files, progress and printing to rank 0. Shard the loaders with :meth:`shard`.
    """

    def __init__(self, group: ProcessGroup | None = None, *, broadcast_buffers: bool = True) -> None:
        self.group = group if group is not None else init()
        self.broadcast_buffers = broadcast_buffers

    @property
    def rank(self) -> int:
        return self.group.rank

    @property
    def world_size(self) -> int:
        return self.group.world_size

    @property
    def is_main(self) -> bool:
        """True on rank 0, the only rank that writes metrics, checkpoints and samples."""
        return self.group.rank == 0

    def shard(self, loader: DataLoader, *, even: bool = True) -> DistributedSampler:
        """This rank's share of each global batch of ``loader`` (see :class:`DistributedSampler`)."""
        return DistributedSampler(loader, even=even, group=self.group)

    def sum_floats(self, values: Sequence[float]) -> list[float]:
        """Each value summed over the ranks."""
        return self.group.sum_floats(values) if self.group.world_size > 1 else [float(v) for v in values]

    def mean(self, value: float) -> float:
        """``value`` averaged over the ranks (the global batch's loss from each rank's shard loss)."""
        return self.sum_floats([value])[0] / self.group.world_size

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is true on any (the Trainer shares ``stop_training`` this way)."""
        return self.sum_floats([float(flag)])[0] > 0

    def on_train_start(self, trainer: Trainer) -> None:
        broadcast_parameters(trainer.model, group=self.group)
        broadcast_rng(group=self.group)

    def on_before_optimizer_step(self, trainer: Trainer, optimizer: Any) -> None:
        allreduce_gradients(optimizer, group=self.group)
        if self.broadcast_buffers:
            broadcast_buffers(trainer.model, group=self.group)
