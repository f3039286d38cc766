"""``Module`` traversal in PyTorch's depth-first registration order, buffers that stay buffers when
reassigned, and checkpoints written in the old (breadth-first) order that still load and resume."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from legacy_checkpoint import MORE_STEPS, SAVED_STEPS, Legacy, make_optimizer, train_step
from tinytorch_core.nn import Linear, Module, Parameter, Sequential, Tanh
from tinytorch_core.serialization import load, load_checkpoint, save_checkpoint

HAS_TORCH = importlib.util.find_spec("torch") is not None
LEGACY = Path(__file__).resolve().parent / "data" / "legacy-breadth-first.safetensors"


class Net(Module):
    """A submodule, then a top-level parameter and buffer, then a deeper tree (and a shared module)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = Linear(2, 3)
        self.w = Parameter(np.ones(3))
        self.register_buffer("count", np.zeros(1))
        self.b = Sequential(Linear(3, 3), Sequential(Linear(3, 1), Tanh()))
        self.c = Linear(1, 2)
        self.shared = self.a  # a module registered twice appears once, under its first name


MODULES = ["", "a", "b", "b.0", "b.1", "b.1.0", "b.1.1", "c"]
PARAMETERS = ["w", "a.weight", "a.bias", "b.0.weight", "b.0.bias", "b.1.0.weight", "b.1.0.bias", "c.weight", "c.bias"]
STATE = ["w", "count", *PARAMETERS[1:]]  # like PyTorch: each module's parameters, its buffers, then its children


def torch_net() -> Any:
    import torch

    class TorchNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = torch.nn.Linear(2, 3)
            self.w = torch.nn.Parameter(torch.ones(3))
            self.register_buffer("count", torch.zeros(1))
            self.b = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Tanh()))
            self.c = torch.nn.Linear(1, 2)
            self.shared = self.a

    return TorchNet()


def test_named_modules_parameters_and_state_dict_are_depth_first() -> None:
    net = Net()
    assert [name for name, _ in net.named_modules()] == MODULES
    assert [name for name, _ in net.named_parameters()] == PARAMETERS
    assert [id(p) for p in net.parameters()] == [id(p) for _, p in net.named_parameters()]
    assert list(net.state_dict()) == STATE
    assert [name for name, _ in net.named_buffers()] == ["count"]


@pytest.mark.skipif(not HAS_TORCH, reason="torch not installed (the bench extra: pip install -e '.[bench]')")
def test_order_equals_pytorch_for_the_same_structure() -> None:
    ours, theirs = Net(), torch_net()
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    # torch's state_dict also lists the shared module's tensors under its second name; ours stores each once
    assert list(ours.state_dict()) == [k for k in theirs.state_dict() if not k.startswith("shared.")]


def test_state_dict_loads_whatever_the_key_order() -> None:
    source, target = Net(), Net()
    for p in source.parameters():
        p.data[...] = np.random.default_rng(3).standard_normal(p.shape)
    reordered = dict(reversed(list(source.state_dict().items())))
    target.load_state_dict(reordered)
    for (name, a), b in zip(source.state_dict().items(), target.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=name)


# ---------------------------------------------------------------------------------------------- buffers
def test_assigning_an_array_to_a_buffer_keeps_it_a_buffer(tmp_path: Path) -> None:
    net = Net()
    net.count = np.array([7.0])  # a new array, as `self.running_mean = ...` does
    assert "count" in net._buffers and "count" not in net.__dict__
    np.testing.assert_array_equal(net.state_dict()["count"], [7.0])
    assert [name for name, _ in net.named_buffers()] == ["count"]
    save_checkpoint(tmp_path / "ckpt.safetensors", net)
    assert "model.count" in load(tmp_path / "ckpt.safetensors")[0]
    fresh = Net()
    load_checkpoint(tmp_path / "ckpt.safetensors", fresh)
    np.testing.assert_array_equal(fresh.count, [7.0])
    net.count = None  # None keeps the name registered (and out of state_dict), as in PyTorch
    assert "count" in net._buffers and "count" not in net.state_dict()
    net.count = np.array([1.0])
    assert list(net.state_dict())[:2] == ["w", "count"]  # back in its registration slot


def test_buffer_and_parameter_names_reject_other_types() -> None:
    net = Net()
    with pytest.raises(TypeError, match="buffer 'count'.*numpy array or None"):
        net.count = 3
    with pytest.raises(TypeError, match="parameter 'w'.*Parameter or None"):
        net.w = np.ones(3)
    net.a.bias = None  # a disabled bias stays registered as None
    assert "bias" in net.a._parameters and "a.bias" not in dict(net.named_parameters())
    net.count = Parameter(np.zeros(1))  # a Parameter or Module replaces the buffer, as in PyTorch
    assert "count" in net._parameters and "count" not in net._buffers


# ---------------------------------------------------------------------------------------------- old checkpoints
def test_a_checkpoint_written_in_breadth_first_order_loads_and_resumes_exactly() -> None:
    model = Legacy()
    optimizer = make_optimizer(model)
    meta = load_checkpoint(LEGACY, model, optimizer)
    assert meta["step"] == SAVED_STEPS
    for step in range(SAVED_STEPS, SAVED_STEPS + MORE_STEPS):
        train_step(model, optimizer, step)
    expected = meta["extra"]["expected"]
    for name, value in model.state_dict().items():
        np.testing.assert_allclose(value, np.array(expected[name]), rtol=1e-12, atol=1e-14, err_msg=name)


def test_new_checkpoints_key_optimizer_state_by_parameter_name(tmp_path: Path) -> None:
    model = Legacy()
    optimizer = make_optimizer(model)
    for step in range(SAVED_STEPS):
        train_step(model, optimizer, step)
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, model, optimizer, step=SAVED_STEPS)
    named = list(model.named_parameters())
    assert load(path)[1]["optimizer_params"] == [n for n, p in named if p.ndim >= 2] + [n for n, p in named if p.ndim < 2]
    resumed_model = Legacy()
    resumed = make_optimizer(resumed_model)
    load_checkpoint(path, resumed_model, resumed)
    for step in range(SAVED_STEPS, SAVED_STEPS + MORE_STEPS):
        train_step(model, optimizer, step)
        train_step(resumed_model, resumed, step)
    for (name, a), b in zip(model.state_dict().items(), resumed_model.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=name)
