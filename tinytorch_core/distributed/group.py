"""The MPI process group: lazy ``mpi4py`` import, launch detection, rank/world size, failure handling.

``mpi4py`` (the ``distributed`` extra) is imported only when a distributed run starts, so the
rest of TinyTorch never needs MPI. Nothing here pickles: the few non-array messages (RNG and
loader state) travel as JSON bytes.
"""

from __future__ import annotations

import json
import os
import sys
import types
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

import numpy as np

from tinytorch_core.tensor import Array

#: Environment variables set for each rank by MPI launchers (MPICH/Hydra, Open MPI, PMIx).
LAUNCHER_RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK")

INSTALL_HINT = "pip install 'tinytorch-numpy[distributed]' (mpi4py and the mpich MPI wheel)"


class DistributedUnavailableError(ImportError):
    """A distributed run was asked for but ``mpi4py`` (the ``distributed`` extra) is not installed."""


def launched_by_mpi(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process was started by an MPI launcher (``mpiexec -n N ...``), judged by its environment."""
    env = os.environ if environ is None else environ
    return any(name in env for name in LAUNCHER_RANK_VARIABLES)


def _import_mpi() -> types.ModuleType:
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise DistributedUnavailableError(
            f"distributed training needs the distributed extra, which is not installed ({exc}); {INSTALL_HINT}"
        ) from None
    return MPI


class ProcessGroup:
    """All the ranks of one data-parallel job (an MPI communicator) and the few collectives training needs.

    Buffers are reduced and broadcast in place with mpi4py's buffer methods (no copies, no pickling).
    """

    def __init__(self, comm: Any, mpi: types.ModuleType) -> None:
        self.comm = comm
        self._mpi = mpi
        self.rank: int = int(comm.Get_rank())
        self.world_size: int = int(comm.Get_size())

    @property
    def is_main(self) -> bool:
        """True on rank 0, the rank that writes files and prints."""
        return self.rank == 0

    def allreduce_(self, array: Array) -> Array:
        """Sum ``array`` (contiguous) over all ranks, in place; returns it."""
        self.comm.Allreduce(self._mpi.IN_PLACE, array, op=self._mpi.SUM)
        return array

    def broadcast_(self, array: Array, root: int = 0) -> Array:
        """Overwrite ``array`` (contiguous) on every rank with ``root``'s, in place; returns it."""
        self.comm.Bcast(array, root=root)
        return array

    def sum_floats(self, values: Sequence[float]) -> list[float]:
        """Each value summed over all ranks (float64, so sums of losses and counts stay exact enough)."""
        buffer = np.asarray(values, dtype=np.float64)
        return [float(v) for v in self.allreduce_(buffer)]

    def broadcast_json(self, obj: Any, root: int = 0) -> Any:
        """``root``'s JSON-serialisable ``obj`` on every rank (sent as UTF-8 bytes, never pickled)."""
        payload = json.dumps(obj).encode() if self.rank == root else b""
        size = self.broadcast_(np.array([len(payload)], dtype=np.int64), root)
        buffer = np.frombuffer(payload, dtype=np.uint8).copy() if self.rank == root else np.empty(int(size[0]), np.uint8)
        self.broadcast_(buffer, root)
        return json.loads(buffer.tobytes().decode())

    def barrier(self) -> None:
        self.comm.Barrier()

    def abort(self, code: int = 1) -> NoReturn:
        """End every rank of the job now (``MPI_Abort``): a rank that fails must not leave the others waiting."""
        sys.stdout.flush()
        sys.stderr.flush()
        self.comm.Abort(code)
        os._exit(code)  # MPI_Abort can return before the launcher ends this process: never run on past it


_group: ProcessGroup | None = None


def init() -> ProcessGroup:
    """Start (once) and return the job's process group over ``MPI.COMM_WORLD``.

    Works under ``mpiexec -n N`` and as a plain process (a group of one). Raises
    :class:`DistributedUnavailableError`, naming the extra to install, when ``mpi4py`` is missing.
    After ``init`` an uncaught exception on any rank prints one line naming the rank and aborts the
    whole job instead of leaving the other ranks blocked in a collective.
    """
    global _group
    if _group is None:
        mpi = _import_mpi()
        _group = ProcessGroup(mpi.COMM_WORLD, mpi)
        if _group.world_size > 1:
            _install_excepthook(_group)
    return _group


def current() -> ProcessGroup | None:
    """The group started by :func:`init`, or None in a process that never started one."""
    return _group


def rank() -> int:
    """This process's rank (0 when no group was started)."""
    return _group.rank if _group is not None else 0


def world_size() -> int:
    """Number of ranks in the job (1 when no group was started)."""
    return _group.world_size if _group is not None else 1


def describe_rank() -> str:
    """``"rank R of N: "`` in a multi-rank job, else ``""`` (a prefix for one-line error messages)."""
    return f"rank {rank()} of {world_size()}: " if world_size() > 1 else ""


def fail(message: str, code: int = 1) -> None:
    """In a multi-rank job: print ``message`` as one line naming this rank and abort every rank.

    Does nothing in a single process, so callers can use it unconditionally before returning an error.
    """
    group = _group
    if group is None or group.world_size == 1:
        return
    print(message, file=sys.stderr)
    group.abort(code)


def _install_excepthook(group: ProcessGroup) -> None:
    previous = sys.excepthook

    def abort_job(kind: type[BaseException], exc: BaseException, tb: types.TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            previous(kind, exc, tb)
            return
        print(f"tinytorch: error: rank {group.rank} of {group.world_size}: {kind.__name__}: {exc}", file=sys.stderr)
        group.abort(1)

    sys.excepthook = abort_job
