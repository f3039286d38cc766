"""``Optimizer``: parameter groups, flat buffers, ``step``/``zero_grad`` and a checkpointable state.

Subclasses name their per-parameter state buffers in ``state_names`` and implement
:meth:`Optimizer._update`, which works on flat 1-D arrays: the whole group at once on the
fast path, or one parameter's slice when some gradients are missing.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any, Union

import numpy as np

from tinytorch_core.optim.flat import FlatParams
from tinytorch_core.tensor import Array, Tensor

ParamGroup = dict[str, Any]
ParamsArg = Union[Iterable[Tensor], Iterable[Mapping[str, Any]]]


def optimizer_groups(params: Iterable[Tensor], weight_decay: float) -> list[dict[str, Any]]:
    """nanoGPT's parameter groups: ``weight_decay`` on matrices and embeddings (ndim >= 2), none on
    biases and norm gains (ndim < 2). Pass the result to an optimizer: ``AdamW(optimizer_groups(...))``."""
    params = list(params)
    return [{"params": [p for p in params if p.data.ndim >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.data.ndim < 2], "weight_decay": 0.0}]


class Optimizer:
    """Base class of the optimizers, following ``torch.optim.Optimizer``.

    ``params`` is an iterable of :class:`~tinytorch_core.nn.Parameter` (or floating tensors
    with ``requires_grad``) or a list of group dicts such as
    ``[{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}]``;
    keys a group leaves out take the optimizer's defaults. ``param_groups[i]["lr"]`` may be
    changed between steps (schedulers do).

    At construction each group's parameters are copied into one contiguous buffer and each
    ``p.data`` becomes a view of it (values unchanged), so an update is a few whole-buffer
    numpy calls. Create the optimizer **after** ``model.to(dtype)``; rebinding ``p.data`` to
    an array of another dtype afterwards is an error.

    As in PyTorch, a parameter whose ``grad`` is ``None`` at a step is left untouched and its
    state does not advance.
    """

    #: names of the per-parameter state buffers, each the size of the parameters
    state_names: tuple[str, ...] = ()

    def __init__(self, params: ParamsArg, defaults: Mapping[str, Any]) -> None:
        self.defaults: dict[str, Any] = dict(defaults)
        self.param_groups: list[ParamGroup] = []
        self._flats: list[FlatParams] = []
        self._state: list[dict[str, Array]] = []
        self._step_count = 0
        if isinstance(params, Tensor):
            raise TypeError(
                f"{self._name}: params must be an iterable of Parameters, got a single {type(params).__name__}; "
                "pass model.parameters() or [param]"
            )
        groups = list(params)
        if not groups:
            raise ValueError(f"{self._name}: got an empty parameter list; pass model.parameters() of a model with weights")
        if all(isinstance(g, Mapping) for g in groups):
            for g in groups:
                self.add_param_group(g)  # type: ignore[arg-type]
        elif any(isinstance(g, Mapping) for g in groups):
            raise TypeError(f"{self._name}: params mixes group dicts and tensors; use either a list of dicts or of Parameters")
        else:
            self.add_param_group({"params": groups})

    @property
    def _name(self) -> str:
        return type(self).__name__

    # -------------------------------------------------------------- groups
    def add_param_group(self, group: Mapping[str, Any]) -> None:
        """Add a group dict ``{"params": [...], <hyperparameter overrides>}``."""
        if "params" not in group:
            raise KeyError(f"{self._name}: a parameter group dict needs a 'params' key, got keys {sorted(group)}")
        raw = group["params"]
        params = [raw] if isinstance(raw, Tensor) else list(raw)
        idx = len(self.param_groups)
        if not params:
            raise ValueError(f"{self._name}: parameter group {idx} is empty")
        seen: set[int] = set()
        for j, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"{self._name}: item {j} of parameter group {idx} is a {type(p).__name__}, not a Parameter; "
                    "pass model.parameters()"
                )
            if p.data.dtype.kind != "f":
                raise TypeError(f"{self._name}: item {j} of parameter group {idx} has dtype {p.data.dtype}; only floating tensors can be optimised")
            if id(p) in seen:
                raise ValueError(f"{self._name}: parameter {j} appears twice in parameter group {idx}; pass each parameter once")
            seen.add(id(p))
        for k, other in enumerate(self.param_groups):
            if any(id(p) in seen for p in other["params"]):
                raise ValueError(
                    f"{self._name}: a parameter appears in both parameter group {k} and group {idx}; "
                    "each parameter may belong to one group only"
                )
        full: ParamGroup = dict(self.defaults)
        full.update({k: v for k, v in group.items() if k != "params"})
        full = self._check_group(full, idx)
        full["params"] = params
        flat = FlatParams(params, f"{self._name} group {idx}")
        self.param_groups.append(full)
        self._flats.append(flat)
        self._state.append({name: np.zeros_like(flat.data) for name in self.state_names})

    def _check_group(self, group: ParamGroup, idx: int) -> ParamGroup:
        """Validate a group's hyperparameters and return them normalised (subclasses extend)."""
        group["lr"] = self._non_negative(group, "lr", idx)
        return group

    def _non_negative(self, group: ParamGroup, key: str, idx: int) -> float:
        """``group[key]`` as a Python float (JSON-safe), or a clear error unless it is a finite number >= 0."""
        value = group.get(key)
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
            what = "learning rate" if key == "lr" else key
            raise ValueError(f"{self._name}: {what} must be a finite number >= 0, got {key}={value!r} (group {idx})")
        return float(value)

    # -------------------------------------------------------------- stepping
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every parameter's gradient (``set_to_none``) or fill it with zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad[...] = 0

    def flat_grads(self) -> list[Array]:
        """Each group's gradients gathered into the group's one flat buffer, in group order.

        For whole-buffer collectives (``tinytorch_core.distributed.allreduce_gradients``): afterwards
        every ``p.grad`` is a view of its buffer, so changing a buffer in place changes what
        :meth:`step` and gradient clipping see. A parameter without a gradient keeps ``grad=None``
        and its part of the buffer is zeroed.
        """
        for flat in self._flats:
            for i, (p, view) in enumerate(zip(flat.params, flat.grad_views)):
                if p.grad is None:
                    view[...] = 0
                elif p.grad is not view:
                    flat.check_grad(i, p.grad)
                    view[...] = p.grad.reshape(view.shape)
                    p.grad = view
        return [flat.grad for flat in self._flats]

    def step(self) -> None:
        """Update every parameter that has a gradient."""
        for group, flat, state in zip(self.param_groups, self._flats, self._state):
            flat.sync()
            grads = [p.grad for p in flat.params]
            steps = flat.steps
            work = flat.work() if self._needs_work(group) else None
            if all(g is not None for g in grads) and (len(steps) == 1 or bool((steps == steps[0]).all())):
                flat.gather_grads(grads)  # type: ignore[arg-type]
                steps += 1
                self._update(group, flat.data, flat.grad, flat.scratch, work, state, int(steps[0]))
                continue
            # Some gradients are missing (or some parameters were skipped before): update the
            # others one at a time on their slices, with the same arithmetic as the fast path.
            for i, g in enumerate(grads):
                if g is None:
                    continue
                sl = flat.slice(i)
                flat.check_grad(i, g)
                np.copyto(flat.grad[sl], g.reshape(-1), casting="same_kind")
                steps[i] += 1
                self._update(
                    group, flat.data[sl], flat.grad[sl], flat.scratch[sl], None if work is None else work[sl],
                    {name: buf[sl] for name, buf in state.items()}, int(steps[i]),
                )
        self._step_count += 1

    def _needs_work(self, group: ParamGroup) -> bool:
        """Whether :meth:`_update` needs a second scratch buffer for ``group`` (subclasses say when)."""
        return False

    def _update(
        self, group: ParamGroup, param: Array, grad: Array, scratch: Array, work: Array | None,
        state: dict[str, Array], step: int,
    ) -> None:
        """Update flat ``param`` in place from ``grad`` at 1-based ``step``.

        ``grad`` is read-only: it is the parameters' ``.grad`` (backward writes into the flat buffer),
        which ``step()`` leaves as backward wrote it, as PyTorch does. ``scratch`` (and ``work``, when
        :meth:`_needs_work` says so) are preallocated buffers of ``param``'s size, so a step allocates
        nothing.
        """
        raise NotImplementedError(f"{self._name} must implement _update()")

    # -------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """``{"param_groups": [...], "state": {name: array}, "step": int}``.

        Groups hold the hyperparameters and ``"params"``: the parameters' indices in order
        over all groups. ``state`` holds copies of the per-parameter buffers as
        ``"<index>.<buffer>"`` (parameter shape) and ``"<index>.step"`` (0-d int64).
        Everything but the arrays is JSON-serialisable.
        """
        groups: list[dict[str, Any]] = []
        state: dict[str, Array] = {}
        start = 0
        for group, flat, buffers in zip(self.param_groups, self._flats, self._state):
            saved = {k: (list(v) if isinstance(v, tuple) else v) for k, v in group.items() if k != "params"}
            saved["params"] = list(range(start, start + len(flat)))
            groups.append(saved)
            for i, view in enumerate(flat.views):
                sl = flat.slice(i)
                for name, buf in buffers.items():
                    state[f"{start + i}.{name}"] = buf[sl].reshape(view.shape).copy()
                state[f"{start + i}.step"] = np.array(flat.steps[i], dtype=np.int64)
            start += len(flat)
        out = {"param_groups": groups, "state": state, "step": self._step_count}
        try:
            json.dumps({"param_groups": groups, "step": self._step_count})
        except TypeError as err:
            raise TypeError(f"{self._name}.state_dict: a hyperparameter is not JSON-serialisable ({err})") from None
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore hyperparameters, buffers and step counts saved by :meth:`state_dict`.

        The saved layout (number of groups, parameters per group, shapes) must match this
        optimizer's; otherwise a ``ValueError`` says what differs and nothing is changed.
        """
        for key in ("param_groups", "state", "step"):
            if key not in state_dict:
                raise KeyError(f"{self._name}.load_state_dict: missing key {key!r}; expected the output of state_dict()")
        saved_groups = list(state_dict["param_groups"])
        saved_state: Mapping[str, Any] = state_dict["state"]
        where = f"{self._name}.load_state_dict"
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{where}: the saved state has {len(saved_groups)} parameter groups, this optimizer has "
                f"{len(self.param_groups)}; build the optimizer with the same groups as the saved one"
            )
        new_groups: list[ParamGroup] = []
        start = 0
        expected_keys: set[str] = set()
        for g, (saved, flat) in enumerate(zip(saved_groups, self._flats)):
            indices = list(saved.get("params", []))
            if indices != list(range(start, start + len(flat))):
                raise ValueError(
                    f"{where}: saved group {g} has {len(indices)} parameters, this optimizer's has {len(flat)}; "
                    "the model or its grouping differs from the saved one"
                )
            for i, view in enumerate(flat.views):
                for name in self.state_names:
                    key = f"{start + i}.{name}"
                    expected_keys.add(key)
                    if key in saved_state and np.shape(saved_state[key]) != view.shape:
                        raise ValueError(
                            f"{where}: state {key!r} has shape {np.shape(saved_state[key])}, the parameter has "
                            f"{view.shape}; the model differs from the saved one"
                        )
                expected_keys.add(f"{start + i}.step")
            merged = {k: (tuple(v) if isinstance(self.defaults.get(k), tuple) else v) for k, v in saved.items() if k != "params"}
            new_groups.append(self._check_group({**self.param_groups[g], **merged}, g))
            start += len(flat)
        missing = sorted(expected_keys - set(saved_state))
        unexpected = sorted(set(saved_state) - expected_keys)
        if missing or unexpected:
            raise ValueError(
                f"{where}: state keys differ (missing: {missing[:6]}, unexpected: {unexpected[:6]}); "
                f"was it saved by another optimizer type than {self._name} or another model?"
            )
        start = 0
        for g, (flat, buffers) in enumerate(zip(self._flats, self._state)):
            for i in range(len(flat)):
                sl = flat.slice(i)
                for name, buf in buffers.items():
                    buf[sl] = np.asarray(saved_state[f"{start + i}.{name}"]).reshape(-1)
                flat.steps[i] = int(np.asarray(saved_state[f"{start + i}.step"]))
            self.param_groups[g].update({k: v for k, v in new_groups[g].items() if k != "params"})
            start += len(flat)
        self._step_count = int(state_dict["step"])

    def __repr__(self) -> str:
        lines = [f"{self._name} ("]
        for i, group in enumerate(self.param_groups):
            hyper = ", ".join(f"{k}={v}" for k, v in group.items() if k != "params")
            lines.append(f"  group {i}: {len(group['params'])} params, {hyper}")
        return "\n".join(lines) + "\n)"
