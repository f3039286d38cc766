"""Datasets and a vectorised DataLoader.

Batches are tuples of numpy arrays. A dataset that can gather many samples with one fancy
index implements ``get_batch(indices)``; the loader then builds each batch with a single
numpy call instead of a Python loop over samples.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinytorch_core.tensor import Array

Batch = tuple[Array, ...]


class Dataset:
    """A sized collection of samples; ``dataset[i]`` returns a tuple of arrays."""

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def __getitem__(self, index: int) -> Batch:
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")


class ArrayDataset(Dataset):
    """Samples are rows of equally long arrays: ``ArrayDataset(inputs, targets)``."""

    def __init__(self, *arrays: Any) -> None:
        if not arrays:
            raise ValueError("ArrayDataset needs at least one array")
        self.arrays = tuple(np.asarray(a) for a in arrays)
        n = len(self.arrays[0])
        for i, a in enumerate(self.arrays):
            if a.ndim == 0 or len(a) != n:
                raise ValueError(
                    f"ArrayDataset: array {i} has {len(a) if a.ndim else 0} rows but array 0 has {n}; "
                    "all arrays need the same first dimension"
                )

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index: int) -> Batch:
        return tuple(a[index] for a in self.arrays)

    def get_batch(self, indices: Array) -> Batch:
        return tuple(a[indices] for a in self.arrays)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``."""

    def __init__(self, dataset: Dataset, indices: Sequence[int] | Array) -> None:
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Batch:
        return self.dataset[int(self.indices[index])]

    def get_batch(self, indices: Array) -> Batch:
        return fetch_batch(self.dataset, self.indices[indices])


def random_split(dataset: Dataset, lengths: Sequence[int | float], seed: int | None = None) -> list[Subset]:
    """Split into non-overlapping random subsets of the given lengths (or fractions summing to 1)."""
    n = len(dataset)
    if all(isinstance(x, float) for x in lengths) and abs(sum(lengths) - 1.0) < 1e-6:
        counts = [int(np.floor(n * float(f))) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
    else:
        counts = [int(x) for x in lengths]
    if sum(counts) != n or any(c < 0 for c in counts):
        raise ValueError(f"random_split: lengths {list(lengths)} do not add up to the dataset size {n}")
    perm = np.random.default_rng(seed).permutation(n)
    out, start = [], 0
    for c in counts:
        out.append(Subset(dataset, perm[start : start + c]))
        start += c
    return out


def default_collate(samples: Sequence[Batch]) -> Batch:
    """Stack a list of sample tuples field by field."""
    if not samples:
        raise ValueError("cannot collate an empty batch")
    return tuple(np.stack([np.asarray(s[i]) for s in samples]) for i in range(len(samples[0])))


def fetch_batch(dataset: Dataset, indices: Array) -> Batch:
    """Gather samples at ``indices``: one vectorised call when the dataset supports it."""
    get_batch = getattr(dataset, "get_batch", None)
    if get_batch is not None:
        return tuple(get_batch(indices))
    return default_collate([dataset[int(i)] for i in indices])


@dataclass
class DataSplits:
    """What a dataset factory returns: train and validation sets, and facts a model needs.

    ``info`` carries things like ``vocab_size``, ``num_classes`` or a tokenizer; the registry
    passes the entries whose names match a model factory's parameters.
    """

    train: Dataset
    val: Dataset | None = None
    info: dict[str, Any] = field(default_factory=dict)


class DataLoader:
    """Iterate over a dataset in batches.

    ``shuffle`` draws a fresh permutation each epoch from a generator seeded by ``seed``
    (from the global generator when ``seed`` is None). ``state_dict()`` captures the epoch,
    the position inside it and the generator, so a resumed run sees exactly the same batches.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int | None = None,
        collate_fn: Callable[[Sequence[Batch]], Batch] | None = None,
    ) -> None:
        if batch_size <= 0:
            raise ValueError(f"DataLoader: batch_size must be positive, got {batch_size}")
        if len(dataset) == 0:
            raise ValueError(f"DataLoader: the dataset {type(dataset).__name__} is empty")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.collate_fn = collate_fn
        if seed is None:
            from tinytorch_core.tensor import get_rng

            seed = int(get_rng().integers(2**63 - 1))
        self.rng = np.random.default_rng(seed)
        self.epoch = 0
        self._position = 0  # batches already served in the current epoch
        self._epoch_rng_state: Mapping[str, Any] = self.rng.bit_generator.state
        self._order: Array | None = None
        self._resume_pending = False

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _epoch_order(self) -> Array:
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        return self.rng.permutation(n)

    def __iter__(self) -> Iterator[Batch]:
        for indices in self.batch_indices():
            yield self.fetch(indices)

    def fetch(self, indices: Array) -> Batch:
        """The batch of the dataset's samples at ``indices`` (through ``collate_fn`` when one was given)."""
        if self.collate_fn is not None:
            return self.collate_fn([self.dataset[int(i)] for i in indices])
        return fetch_batch(self.dataset, indices)

    def batch_indices(self) -> Iterator[Array]:
        """One epoch of batches as sample indices, advancing the loader's position as :meth:`__iter__` does."""
        # Each iteration starts a new epoch (as in PyTorch) unless load_state_dict() asked to resume mid-epoch.
        if not self._resume_pending:
            self._order = None
            self._position = 0
        self._resume_pending = False
        if self._order is None:
            self._epoch_rng_state = self.rng.bit_generator.state
            self._order = self._epoch_order()
        order = self._order
        n_batches = len(self)
        while self._position < n_batches:
            start = self._position * self.batch_size
            idx = order[start : start + self.batch_size]
            self._position += 1
            yield idx
        self.epoch += 1
        self._position = 0
        self._order = None

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state: epoch, batches served in it, and the generator at its start."""
        state = self._epoch_rng_state if self._order is not None else self.rng.bit_generator.state
        return {"epoch": self.epoch, "position": self._position, "rng": _jsonable(state)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self._position = int(state["position"])
        self.rng.bit_generator.state = state["rng"]
        if self._position:
            self._epoch_rng_state = self.rng.bit_generator.state
            self._order = self._epoch_order()
            self._resume_pending = True
        else:
            self._order = None


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


__all__ = [
    "Batch", "Dataset", "ArrayDataset", "Subset", "random_split", "default_collate", "fetch_batch",
    "DataSplits", "DataLoader",
]
