"""``DistributedSampler``: each rank's share of every global batch of a ``DataLoader``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tinytorch_core.data import Batch, DataLoader
from tinytorch_core.distributed.group import ProcessGroup, init


class DistributedSampler:
    """Iterate over this rank's contiguous slice of each batch of ``loader``.

    ``loader`` is built as for one process, with the **global** batch size; every rank runs the
    same loader (same order, broadcast from rank 0 at construction), and rank ``r`` of ``N`` takes
    rows ``[r*m//N, (r+1)*m//N)`` of each ``m``-row batch. So the union of the ranks' batches is the
    single-process batch, step for step, whatever ``N`` is. Only the shard's samples are fetched.

    ``len``, ``state_dict`` and ``load_state_dict`` are the loader's, which are global: a checkpoint
    written with ``N`` ranks resumes with any other number. With ``even=True`` (for training, where
    each rank's mean loss must weigh the same) a batch that does not split evenly is an error; use
    ``even=False`` for evaluation, where losses and counts are summed.
    """

    def __init__(self, loader: DataLoader, *, even: bool = True, group: ProcessGroup | None = None) -> None:
        if not isinstance(loader, DataLoader):
            raise TypeError(f"DistributedSampler wraps a tinytorch_core.data.DataLoader, got {type(loader).__name__}")
        self.loader = loader
        self.group = group if group is not None else init()
        self.even = even
        self.rank = self.group.rank
        self.world_size = self.group.world_size
        if even and loader.batch_size % self.world_size:
            raise ValueError(
                f"DistributedSampler: the global batch_size {loader.batch_size} does not divide among "
                f"{self.world_size} ranks; use a multiple of {self.world_size}"
            )
        if self.world_size > 1:  # a loader seeded from each rank's own generator must still agree on the order
            loader.load_state_dict(self.group.broadcast_json(loader.state_dict()))

    @property
    def batch_size(self) -> int:
        """This rank's rows per (full) batch."""
        return self.loader.batch_size // self.world_size

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Batch]:
        n = self.world_size
        for indices in self.loader.batch_indices():
            m = len(indices)
            if self.even and m % n:
                raise ValueError(
                    f"DistributedSampler: a batch of {m} samples does not split evenly over {n} ranks "
                    "(the last batch of an epoch?); use drop_last=True or a dataset size that divides"
                )
            shard = indices[self.rank * m // n : (self.rank + 1) * m // n]
            if len(shard):  # only a short last batch leaves a rank empty-handed; it then has nothing to add
                yield self.loader.fetch(shard)

    def state_dict(self) -> dict[str, Any]:
        return self.loader.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.loader.load_state_dict(state)
