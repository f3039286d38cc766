"""Data-parallel training over MPI, in Horovod's pattern (optional ``distributed`` extra: mpi4py + mpich).

Every rank runs the same program on its shard of each global batch; one allreduce per parameter
group averages the gradients, so every rank takes the same optimizer step. With the Trainer::

    from tinytorch_core.distributed import DataParallel
    dp = DataParallel()                               # starts MPI (mpiexec -n N python train.py)
    trainer = Trainer(model, optimizer, distributed=dp)
    trainer.fit(dp.shard(train_loader), dp.shard(val_loader, even=False), max_steps=1000)

In your own loop::

    from tinytorch_core import distributed as dist
    group = dist.init()
    dist.broadcast_parameters(model); dist.broadcast_rng()
    for x, y in dist.DistributedSampler(DataLoader(data, batch_size=64, shuffle=True, seed=0)):
        optimizer.zero_grad(); loss_fn(model(Tensor(x)), y).backward()
        dist.allreduce_gradients(optimizer)           # before clipping and step
        optimizer.step()

``mpi4py`` is imported only by :func:`init` (and what calls it). See docs/distributed.md.
"""

from tinytorch_core.distributed.collectives import (
    allreduce_gradients,
    broadcast_buffers,
    broadcast_parameters,
    broadcast_rng,
)
from tinytorch_core.distributed.data_parallel import DataParallel
from tinytorch_core.distributed.group import (
    INSTALL_HINT,
    DistributedUnavailableError,
    ProcessGroup,
    current,
    describe_rank,
    fail,
    init,
    launched_by_mpi,
    rank,
    world_size,
)
from tinytorch_core.distributed.sampler import DistributedSampler

__all__ = [
    "init", "rank", "world_size", "current", "launched_by_mpi", "describe_rank", "fail", "ProcessGroup",
    "DistributedUnavailableError", "INSTALL_HINT", "allreduce_gradients", "broadcast_parameters",
    "broadcast_buffers", "broadcast_rng", "DistributedSampler", "DataParallel",
]
