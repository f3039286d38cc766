"""DataLoader batching, shuffling determinism, resumable state, splits."""

from __future__ import annotations

import numpy as np
import pytest

from tinytorch_core.data import ArrayDataset, DataLoader, Dataset, random_split


class PerSample(Dataset):
    """A dataset without get_batch: the loader must fall back to per-sample collation."""

    def __len__(self) -> int:
        return 7

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
        return np.full(2, i), np.array(i * 10)


def test_batches_cover_dataset_in_order_and_drop_last() -> None:
    ds = ArrayDataset(np.arange(10), np.arange(10) * 2)
    batches = list(DataLoader(ds, batch_size=4))
    assert [b[0].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert np.array_equal(batches[1][1], np.array([8, 10, 12, 14]))
    assert len(DataLoader(ds, batch_size=4, drop_last=True)) == 2
    assert len(list(DataLoader(ds, batch_size=4, drop_last=True))) == 2


def test_shuffle_is_a_permutation_and_deterministic_under_seed() -> None:
    ds = ArrayDataset(np.arange(50))
    a = np.concatenate([b[0] for b in DataLoader(ds, batch_size=8, shuffle=True, seed=3)])
    b = np.concatenate([b[0] for b in DataLoader(ds, batch_size=8, shuffle=True, seed=3)])
    c = np.concatenate([b[0] for b in DataLoader(ds, batch_size=8, shuffle=True, seed=4)])
    assert sorted(a.tolist()) == list(range(50))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_each_iteration_is_a_new_epoch() -> None:
    loader = DataLoader(ArrayDataset(np.arange(20)), batch_size=5, shuffle=True, seed=0)
    first = next(iter(loader))[0]
    epoch = np.concatenate([b[0] for b in loader])
    assert sorted(epoch.tolist()) == list(range(20))
    assert first.shape == (5,)


def test_state_dict_resumes_mid_epoch_exactly() -> None:
    ds = ArrayDataset(np.arange(30))
    loader = DataLoader(ds, batch_size=4, shuffle=True, seed=7)
    it = iter(loader)
    next(it)
    next(it)
    state = loader.state_dict()
    rest = [b[0].tolist() for b in it] + [b[0].tolist() for b in loader]
    other = DataLoader(ds, batch_size=4, shuffle=True, seed=999)
    other.load_state_dict(state)
    again = [b[0].tolist() for b in other] + [b[0].tolist() for b in other]
    assert rest == again


def test_per_sample_fallback_collates() -> None:
    x, y = next(iter(DataLoader(PerSample(), batch_size=3)))
    assert x.shape == (3, 2) and y.tolist() == [0, 10, 20]


def test_random_split_partitions() -> None:
    ds = ArrayDataset(np.arange(10))
    a, b = random_split(ds, [7, 3], seed=0)
    got = sorted(a.get_batch(np.arange(7))[0].tolist() + b.get_batch(np.arange(3))[0].tolist())
    assert got == list(range(10))
    c, d = random_split(ds, [0.8, 0.2], seed=0)
    assert (len(c), len(d)) == (8, 2)
    with pytest.raises(ValueError, match="do not add up"):
        random_split(ds, [5, 6])


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="same first dimension"):
        ArrayDataset(np.arange(3), np.arange(4))
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(ArrayDataset(np.arange(3)), batch_size=0)
    with pytest.raises(ValueError, match="empty"):
        DataLoader(ArrayDataset(np.zeros((0, 2))), batch_size=2)
