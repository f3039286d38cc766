"""``tinytorch train`` under ``mpiexec -n N``: when a run is data-parallel, and its one-line errors.

A run is data-parallel when an MPI launcher started it (its rank variables are in the environment)
or the config sets ``[train] distributed = true``. The config does not change with ``N``:
``[train] batch_size`` is the global batch and each rank takes ``batch_size / N`` of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from registry.errors import RegistryError

if TYPE_CHECKING:
    from tinytorch_core.distributed import DataParallel


class DistributedError(RegistryError):
    """A data-parallel run cannot start: the extra is missing or the batch does not split over the ranks."""


def data_parallel_for(train: Mapping[str, Any], where: str, batch_size: int) -> DataParallel | None:
    """The run's :class:`~tinytorch_core.distributed.DataParallel`, or None for a single-process run."""
    from tinytorch_core.distributed.group import DistributedUnavailableError, launched_by_mpi

    if not (bool(train.get("distributed", False)) or launched_by_mpi()):
        return None
    try:
        from tinytorch_core.distributed import DataParallel

        parallel = DataParallel()
    except DistributedUnavailableError as exc:
        raise DistributedError(str(exc)) from None
    ranks = parallel.world_size
    if batch_size % ranks:
        multiple = -(-batch_size // ranks) * ranks
        raise DistributedError(
            f"{where} batch_size = {batch_size} is the global batch and must divide among the {ranks} ranks; "
            f"use a multiple of {ranks} such as {multiple}"
        )
    return parallel
