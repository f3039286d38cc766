"""Optimizers, gradient clipping and schedulers: reference formulas, PyTorch parity, state, errors."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from tinytorch_core import Tensor, manual_seed
from tinytorch_core.nn import Linear, Module, Parameter, Sequential, Tanh
from tinytorch_core.optim import (
    SGD,
    Adam,
    AdamW,
    LambdaLR,
    Optimizer,
    StepLR,
    WarmupCosineLR,
    clip_grad_norm_,
)

Array = np.ndarray[Any, Any]
SHAPES = [(3, 4), (4,), (), (2, 3, 2)]


def param64(values: Any) -> Parameter:
    """A float64 Parameter (``Parameter(x, dtype=np.float64)`` currently still gives float32)."""
    p = Parameter(np.zeros(np.shape(values)))
    p.data = np.array(values, dtype=np.float64)
    return p


def make_params(seed: int = 0) -> list[Parameter]:
    rng = np.random.default_rng(seed)
    params = [param64(rng.standard_normal(s)) for s in SHAPES]
    assert all(p.dtype == np.float64 for p in params)
    return params


def grad_sequence(steps: int, seed: int = 1, missing: set[tuple[int, int]] | None = None) -> list[list[Array | None]]:
    """Random gradients per step; ``missing`` holds (step, param) pairs whose grad is None."""
    rng = np.random.default_rng(seed)
    out: list[list[Array | None]] = []
    for t in range(steps):
        grads: list[Array | None] = [rng.standard_normal(s) for s in SHAPES]
        for i in range(len(SHAPES)):
            if missing and (t, i) in missing:
                grads[i] = None
        out.append(grads)
    return out


# ---------------------------------------------------------------------------- references from the papers
class RefSGD:
    """Per-parameter SGD with momentum (Sutskever et al. 2013 as written in torch.optim.SGD's docs)."""

    def __init__(self, params: list[Array], lr: float, momentum: float = 0.0, dampening: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0) -> None:
        self.params = [p.copy() for p in params]
        self.lr, self.mu, self.damp, self.nesterov, self.wd = lr, momentum, dampening, nesterov, weight_decay
        self.buf: list[Array | None] = [None] * len(params)

    def step(self, grads: Sequence[Array | None]) -> None:
        for i, g in enumerate(grads):
            if g is None:
                continue
            p = self.params[i]
            d = g + self.wd * p
            if self.mu:
                b = self.buf[i]
                b = d.copy() if b is None else self.mu * b + (1 - self.damp) * d
                self.buf[i] = b
                d = d + self.mu * b if self.nesterov else b
            self.params[i] = p - self.lr * d


class RefAdam:
    """Per-parameter Adam (Kingma & Ba, Algorithm 1) with L2 or decoupled (AdamW) weight decay."""

    def __init__(self, params: list[Array], lr: float, betas: tuple[float, float], eps: float,
                 weight_decay: float, decoupled: bool) -> None:
        self.params = [p.copy() for p in params]
        self.lr, (self.b1, self.b2), self.eps, self.wd, self.decoupled = lr, betas, eps, weight_decay, decoupled
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = [0] * len(params)

    def step(self, grads: Sequence[Array | None]) -> None:
        for i, g in enumerate(grads):
            if g is None:
                continue
            p = self.params[i]
            self.t[i] += 1
            t = self.t[i]
            if self.decoupled:
                p = p * (1 - self.lr * self.wd)
            else:
                g = g + self.wd * p
            self.m[i] = self.b1 * self.m[i] + (1 - self.b1) * g
            self.v[i] = self.b2 * self.v[i] + (1 - self.b2) * g * g
            m_hat = self.m[i] / (1 - self.b1**t)
            v_hat = self.v[i] / (1 - self.b2**t)
            self.params[i] = p - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


def run_ours(opt_factory: Callable[[list[Parameter]], Optimizer], grads: list[list[Array | None]]) -> list[Array]:
    params = make_params()
    opt = opt_factory(params)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = None if g is None else g.copy()
        opt.step()
    return [p.data.copy() for p in params]


CASES: list[tuple[str, dict[str, Any]]] = [
    ("sgd", {"lr": 0.1}),
    ("sgd", {"lr": 0.05, "momentum": 0.9}),
    ("sgd", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.01}),
    ("sgd", {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.1}),
    ("adam", {"lr": 0.01}),
    ("adam", {"lr": 0.02, "betas": (0.8, 0.95), "eps": 1e-6, "weight_decay": 0.1}),
    ("adamw", {"lr": 0.01}),
    ("adamw", {"lr": 0.02, "betas": (0.85, 0.99), "weight_decay": 0.3}),
]


def ours_factory(kind: str, kw: dict[str, Any]) -> Callable[[list[Parameter]], Optimizer]:
    cls = {"sgd": SGD, "adam": Adam, "adamw": AdamW}[kind]
    return lambda params: cls(params, **kw)


def reference(kind: str, kw: dict[str, Any]) -> RefSGD | RefAdam:
    start = [p.data for p in make_params()]
    if kind == "sgd":
        return RefSGD(start, **kw)
    defaults = {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0 if kind == "adam" else 0.01}
    return RefAdam(start, decoupled=kind == "adamw", **{**defaults, **kw})


@pytest.mark.parametrize("kind,kw", CASES)
@pytest.mark.parametrize("with_missing", [False, True])
def test_matches_reference_formulas(kind: str, kw: dict[str, Any], with_missing: bool) -> None:
    # Missing grads exercise the per-parameter fallback and per-parameter step counts.
    missing = {(0, 1), (2, 0), (2, 3), (3, 1)} if with_missing else None
    grads = grad_sequence(6, missing=missing)
    ref = reference(kind, kw)
    for g in grads:
        ref.step(g)
    ours = run_ours(ours_factory(kind, kw), grads)
    for a, b in zip(ours, ref.params):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-12)


def test_missing_grad_leaves_param_and_state_untouched() -> None:
    params = make_params()
    opt = AdamW(params, lr=0.1, weight_decay=0.5)
    before = params[2].data.copy()
    for p in params:
        p.grad = np.ones(p.shape)
    params[2].grad = None
    opt.step()
    np.testing.assert_array_equal(params[2].data, before)
    state = opt.state_dict()["state"]
    assert int(state["2.step"]) == 0 and int(state["0.step"]) == 1
    assert not state["2.exp_avg"].any()


@pytest.mark.parametrize("kind,kw", CASES)
def test_torch_parity(kind: str, kw: dict[str, Any]) -> None:
    torch = pytest.importorskip("torch")
    grads = grad_sequence(6, missing={(1, 2), (3, 0)})
    tparams = [torch.tensor(p.data.copy(), dtype=torch.float64, requires_grad=True) for p in make_params()]
    tcls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[kind]
    topt = tcls(tparams, **kw)
    for step_grads in grads:
        for p, g in zip(tparams, step_grads):
            p.grad = None if g is None else torch.tensor(g)
        topt.step()
    ours = run_ours(ours_factory(kind, kw), grads)
    for a, b in zip(ours, tparams):
        np.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-6, atol=1e-12)


# ---------------------------------------------------------------------------- state dict
@pytest.mark.parametrize("kind,kw", [CASES[2], CASES[3], CASES[5], CASES[7]])
def test_state_dict_round_trip_continues_bit_identically(kind: str, kw: dict[str, Any]) -> None:
    grads = grad_sequence(8, missing={(1, 1)})
    factory = ours_factory(kind, kw)
    a_params = make_params()
    a = factory(a_params)

    def apply(params: list[Parameter], opt: Optimizer, step_grads: list[Array | None]) -> None:
        for p, g in zip(params, step_grads):
            p.grad = None if g is None else g.copy()
        opt.step()

    for g in grads[:4]:
        apply(a_params, a, g)
    saved = a.state_dict()
    # Everything but the arrays must survive JSON (the checkpoint writer stores it that way).
    meta = json.loads(json.dumps({"param_groups": saved["param_groups"], "step": saved["step"]}))
    assert meta["step"] == 4

    b_params = make_params(seed=5)  # different values: the model's weights are restored separately
    for p, q in zip(b_params, a_params):
        p.data[...] = q.data
    b = factory(b_params)
    b.load_state_dict({"param_groups": meta["param_groups"], "state": saved["state"], "step": meta["step"]})
    for g in grads[4:]:
        apply(a_params, a, g)
        apply(b_params, b, g)
    for p, q in zip(a_params, b_params):
        np.testing.assert_array_equal(p.data, q.data)
    assert b.state_dict()["step"] == 8


def test_state_dict_arrays_are_copies_and_hyperparameters_restore() -> None:
    params = make_params()
    opt = Adam(params, lr=0.01, betas=(0.8, 0.9))
    for p in params:
        p.grad = np.ones(p.shape)
    opt.step()
    sd = opt.state_dict()
    sd["state"]["0.exp_avg"][...] = 123.0
    assert opt.state_dict()["state"]["0.exp_avg"].max() < 1
    other = Adam(make_params(), lr=0.5)
    other.load_state_dict(json.loads(json.dumps({k: v for k, v in opt.state_dict().items() if k != "state"}))
                          | {"state": opt.state_dict()["state"]})
    assert other.param_groups[0]["lr"] == 0.01 and other.param_groups[0]["betas"] == (0.8, 0.9)


def test_load_state_dict_layout_mismatch_is_a_clear_error() -> None:
    params = make_params()
    sd = Adam(params).state_dict()
    with pytest.raises(ValueError, match="parameter groups"):
        Adam([{"params": params[:2]}, {"params": params[2:]}]).load_state_dict(sd)
    with pytest.raises(ValueError, match="parameters"):
        Adam(make_params()[:3]).load_state_dict(sd)
    with pytest.raises(ValueError, match="shape"):
        Adam([param64(np.zeros(s)) for s in [(4, 3), (4,), (), (2, 3, 2)]]).load_state_dict(sd)
    with pytest.raises(ValueError, match="another optimizer type"):
        SGD(make_params(), lr=0.1, momentum=0.9).load_state_dict(sd)
    with pytest.raises(KeyError, match="state"):
        Adam(make_params()).load_state_dict({"param_groups": []})


# ---------------------------------------------------------------------------- groups, decay, zero_grad
def test_groups_with_zero_weight_decay_are_not_decayed() -> None:
    model = Sequential(Linear(3, 4), Linear(4, 2))
    decay = [p for n, p in model.named_parameters() if n.endswith("weight")]
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias")]
    opt = AdamW([{"params": decay, "weight_decay": 0.5}, {"params": no_decay, "weight_decay": 0.0}], lr=0.1)
    before = {id(p): p.data.copy() for p in model.parameters()}
    for p in model.parameters():
        p.grad = np.zeros(p.shape, dtype=p.dtype)  # zero grads: only decay can move anything
    opt.step()
    for p in decay:
        np.testing.assert_allclose(p.data, before[id(p)] * (1 - 0.1 * 0.5), rtol=1e-6)
    for p in no_decay:
        np.testing.assert_array_equal(p.data, before[id(p)])
    assert opt.param_groups[1]["lr"] == 0.1 and opt.param_groups[0]["weight_decay"] == 0.5


def test_zero_grad() -> None:
    params = make_params()
    opt = SGD(params, lr=0.1)
    for p in params:
        p.grad = np.ones(p.shape)
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in params)
    opt.zero_grad()
    assert all(p.grad is None for p in params)


def test_convergence_on_least_squares() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 5))
    w_true = rng.standard_normal((5, 1))
    y = x @ w_true + 0.5
    for make in (lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True), lambda ps: Adam(ps, lr=0.05),
                 lambda ps: AdamW(ps, lr=0.05, weight_decay=0.0)):
        manual_seed(0)
        model = Linear(5, 1).double()
        opt = make(list(model.parameters()))
        xt = Tensor(x, dtype=np.float64)
        for _ in range(300):
            opt.zero_grad()
            loss = ((model(xt) - Tensor(y, dtype=np.float64)) ** 2).mean()
            loss.backward()
            opt.step()
        assert loss.item() < 1e-6, f"{type(opt).__name__} did not converge: loss {loss.item()}"
        np.testing.assert_allclose(model.weight.data.T, w_true, atol=1e-3)


# ---------------------------------------------------------------------------- flat buffer invariants
def test_params_are_views_of_one_flat_buffer_and_model_sees_updates() -> None:
    manual_seed(0)
    model = Sequential(Linear(3, 8), Tanh(), Linear(8, 2))
    x = Tensor(np.random.default_rng(0).standard_normal((5, 3)))
    out_before = model(x).data.copy()
    opt = Adam(model.parameters(), lr=0.1)
    np.testing.assert_array_equal(model(x).data, out_before)  # packing does not change values
    flat = opt._flats[0].data
    assert flat.dtype == np.float32 and flat.flags.c_contiguous
    assert all(np.shares_memory(p.data, flat) for p in model.parameters())
    model(x).sum().backward()
    opt.step()
    assert not np.allclose(model(x).data, out_before)
    # Module.load_state_dict writes in place, so it lands in the optimizer's buffer.
    state = {k: np.zeros_like(v) for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    assert not flat.any()


def test_rebound_param_data_is_resynced_and_dtype_change_rejected() -> None:
    p = param64(np.ones(3))
    opt = SGD([p], lr=1.0)
    p.data = np.full(3, 5.0)  # same dtype, new array: copied back into the buffer at the next step
    p.grad = np.ones(3)
    opt.step()
    np.testing.assert_array_equal(p.data, [4.0, 4.0, 4.0])
    assert np.shares_memory(p.data, opt._flats[0].data)
    p.data = p.data.astype(np.float32)
    with pytest.raises(TypeError, match=r"model.to\(dtype\) before creating the optimizer"):
        opt.step()


# ---------------------------------------------------------------------------- errors
class Box(Module):
    pass


def test_constructor_errors_are_clear() -> None:
    p = Parameter(np.zeros(2))
    with pytest.raises(ValueError, match="empty parameter list"):
        Adam([])
    with pytest.raises(ValueError, match="learning rate"):
        SGD([p], lr=-0.1)
    with pytest.raises(TypeError, match="not a Parameter"):
        Adam([p, np.zeros(2)])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="single"):
        Adam(p)
    with pytest.raises(ValueError, match="both parameter group 0 and group 1"):
        Adam([{"params": [p]}, {"params": [p]}])
    with pytest.raises(ValueError, match="twice"):
        Adam([p, p])
    with pytest.raises(ValueError, match="betas"):
        Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="Nesterov"):
        SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(TypeError, match="mixes dtypes"):
        Adam([p, param64(np.zeros(2))])
    numpy_lr = SGD([param64(np.zeros(2))], lr=np.float32(0.5))  # type: ignore[arg-type]  # numpy scalars work too
    assert type(numpy_lr.param_groups[0]["lr"]) is float
    with pytest.raises(ValueError, match="gradient of shape"):
        p.grad = np.zeros(3)
        SGD([p], lr=0.1).step()


# ---------------------------------------------------------------------------- clipping
def test_clip_grad_norm() -> None:
    params = make_params()
    grads = grad_sequence(1, missing={(0, 1)})[0]
    for p, g in zip(params, grads):
        p.grad = None if g is None else g.copy()
    expected = math.sqrt(sum(float((g**2).sum()) for g in grads if g is not None))
    norm = clip_grad_norm_(params, max_norm=0.5)
    assert norm == pytest.approx(expected, rel=1e-12)
    after = math.sqrt(sum(float((p.grad**2).sum()) for p in params if p.grad is not None))
    assert after == pytest.approx(0.5, rel=1e-5)
    assert params[1].grad is None
    unchanged = [None if p.grad is None else p.grad.copy() for p in params]
    assert clip_grad_norm_(params, max_norm=10.0) == pytest.approx(0.5, rel=1e-5)
    for p, g in zip(params, unchanged):
        assert (p.grad is None and g is None) or np.array_equal(p.grad, g)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm_(params, 0.0)


def test_clip_grad_norm_torch_parity() -> None:
    torch = pytest.importorskip("torch")
    params = make_params()
    grads = grad_sequence(1)[0]
    tparams = [torch.zeros(p.shape, dtype=torch.float64, requires_grad=True) for p in params]
    for p, t, g in zip(params, tparams, grads):
        assert g is not None
        p.grad = g.copy()
        t.grad = torch.tensor(g)
    ours = clip_grad_norm_(params, 1.0)
    theirs = float(torch.nn.utils.clip_grad_norm_(tparams, 1.0))
    assert ours == pytest.approx(theirs, rel=1e-12)
    for p, t in zip(params, tparams):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- schedulers
def test_warmup_cosine_values_and_state() -> None:
    opt = SGD(make_params(), lr=1.0)
    sched = WarmupCosineLR(opt, warmup_steps=4, total_steps=14, min_lr=0.1)
    lrs = [sched.get_last_lr()[0]]
    for _ in range(16):
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    assert lrs[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert lrs[9] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lrs[14:] == pytest.approx([0.1, 0.1, 0.1])
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:]))
    assert opt.param_groups[0]["lr"] == lrs[-1]

    opt2 = SGD(make_params(), lr=1.0)
    sched2 = WarmupCosineLR(opt2, warmup_steps=4, total_steps=14, min_lr=0.1)
    sched2.load_state_dict(json.loads(json.dumps(sched.state_dict())))
    assert sched2.get_last_lr() == sched.get_last_lr()
    with pytest.raises(ValueError, match="total_steps"):
        WarmupCosineLR(opt, warmup_steps=5, total_steps=5)


def test_step_and_lambda_lr_match_torch_semantics() -> None:
    groups: list[dict[str, Any]] = [{"params": make_params()[:2]}, {"params": make_params()[2:], "lr": 0.5}]
    opt = SGD(groups, lr=1.0)
    sched = StepLR(opt, step_size=3, gamma=0.5)
    seen = []
    for _ in range(7):
        seen.append(sched.get_last_lr())
        sched.step()
    assert [s[0] for s in seen] == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]
    assert [s[1] for s in seen] == [0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125]
    opt3 = SGD(make_params(), lr=2.0)
    lam = LambdaLR(opt3, lambda t: 1.0 / (t + 1))
    lam.step()
    lam.step()
    assert lam.get_last_lr() == [pytest.approx(2.0 / 3)]
    with pytest.raises(ValueError, match="step_size"):
        StepLR(opt, step_size=0)


def test_step_lr_torch_parity() -> None:
    torch = pytest.importorskip("torch")
    t_opt = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=0.3)
    t_sched = torch.optim.lr_scheduler.StepLR(t_opt, step_size=2, gamma=0.7)
    opt = SGD(make_params(), lr=0.3)
    sched = StepLR(opt, step_size=2, gamma=0.7)
    for _ in range(7):
        assert sched.get_last_lr()[0] == pytest.approx(t_sched.get_last_lr()[0], rel=1e-12)
        t_opt.step()
        t_sched.step()
        sched.step()


def test_checkpoint_file_round_trip_continues_bit_identically(tmp_path: Any) -> None:
    serialization = pytest.importorskip("tinytorch_core.serialization")
    x = np.random.default_rng(0).standard_normal((16, 3)).astype(np.float32)
    y = np.random.default_rng(1).standard_normal((16, 2)).astype(np.float32)

    def build() -> tuple[Module, AdamW, WarmupCosineLR]:
        manual_seed(0)
        model = Sequential(Linear(3, 8), Tanh(), Linear(8, 2))
        decay = [p for n, p in model.named_parameters() if n.endswith("weight")]
        rest = [p for n, p in model.named_parameters() if not n.endswith("weight")]
        groups: list[dict[str, Any]] = [{"params": decay}, {"params": rest, "weight_decay": 0.0}]
        opt = AdamW(groups, lr=0.05, weight_decay=0.1)
        return model, opt, WarmupCosineLR(opt, warmup_steps=2, total_steps=10)

    def train(model: Module, opt: AdamW, sched: WarmupCosineLR, steps: int) -> None:
        for _ in range(steps):
            opt.zero_grad()
            ((model(Tensor(x)) - Tensor(y)) ** 2).mean().backward()
            clip_grad_norm_(model.parameters(), 0.5)
            opt.step()
            sched.step()

    model_a, opt_a, sched_a = build()
    train(model_a, opt_a, sched_a, 3)
    path = tmp_path / "ckpt.safetensors"
    serialization.save_checkpoint(path, model_a, opt_a, step=3, scheduler=sched_a)
    train(model_a, opt_a, sched_a, 4)

    model_b, opt_b, sched_b = build()
    serialization.load_checkpoint(path, model_b, opt_b, scheduler=sched_b)
    train(model_b, opt_b, sched_b, 4)
    for (name, a), b in zip(model_a.state_dict().items(), model_b.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert sched_b.get_last_lr() == sched_a.get_last_lr()


def test_backward_writes_gradients_straight_into_the_flat_buffer() -> None:
    from tinytorch_core import Tensor, nn
    from tinytorch_core.optim import AdamW

    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    opt = AdamW(model.parameters(), lr=0.1)
    x = Tensor(np.ones((5, 3)))
    for _ in range(2):
        opt.zero_grad()
        (model(x) * model(x)).sum().backward()  # two uses: the second contribution accumulates in place
        flat = opt._flats[0]
        for p in model.parameters():
            assert p.grad is not None and np.shares_memory(p.grad, flat.grad)
        expected = np.concatenate([p.grad.reshape(-1).copy() for p in model.parameters()])  # type: ignore[union-attr]
        assert np.array_equal(flat.grad, expected)
        before = [p.data.copy() for p in model.parameters()]
        opt.step()
        assert all(not np.array_equal(b, p.data) for b, p in zip(before, model.parameters()))


def test_gradients_written_into_the_flat_buffer_equal_plain_backward() -> None:
    """Linear's backward writes a weight's gradient straight into its buffer slot (Context.grad_destination):
    a weight used twice, and one that is both inputs of one op, still get exactly the plain gradients."""
    from tinytorch_core import Tensor, nn
    from tinytorch_core import functional as F
    from tinytorch_core.optim import AdamW

    def build() -> nn.Module:
        manual_seed(3)
        return nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 4))

    def used_twice(model: nn.Module) -> Tensor:
        x = Tensor(np.random.default_rng(0).standard_normal((5, 3)))
        h = model[1](model[1](model[0](x)))
        return (h * h).sum()

    def both_inputs_of_one_op(model: nn.Module) -> Tensor:
        w = model[1].weight
        y = F.linear(w, w) + model[0](Tensor(np.ones((4, 3)))).sum()
        return (y * y * Tensor(np.arange(16.0).reshape(4, 4))).sum()  # not symmetric: dx and dw differ

    for loss in (used_twice, both_inputs_of_one_op):
        plain, flat_model = build(), build()
        opt = AdamW(flat_model.parameters(), lr=0.1)
        for _ in range(2):
            opt.zero_grad()
            for p in plain.parameters():
                p.grad = None
            loss(plain).backward()
            loss(flat_model).backward()
            for (name, a), b in zip(plain.named_parameters(), flat_model.parameters()):
                if a.grad is None:  # a parameter the loss does not use
                    assert b.grad is None, name
                    continue
                assert b.grad is not None and np.shares_memory(b.grad, opt._flats[0].grad), name
                np.testing.assert_allclose(b.grad, a.grad, rtol=1e-12, err_msg=f"{loss.__name__}: {name}")  # type: ignore[arg-type]
            opt.step()
            for a, b in zip(plain.parameters(), flat_model.parameters()):
                a.data[...] = b.data


def test_optimizer_groups_decay_matrices_only() -> None:
    from tinytorch_core.nn import LayerNorm
    from tinytorch_core.optim import optimizer_groups

    model = Sequential([Linear(3, 4), LayerNorm(4)])
    decay, no_decay = optimizer_groups(model.parameters(), 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert [p.shape for p in decay["params"]] == [(4, 3)]
    assert sorted(p.shape for p in no_decay["params"]) == [(4,), (4,), (4,)]
