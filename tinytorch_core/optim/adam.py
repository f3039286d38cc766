"""Adam (L2 penalty in the gradient) and AdamW (decoupled weight decay)."""

from __future__ import annotations

import numbers
from typing import Any

from tinytorch_core import kernels
from tinytorch_core.optim.optimizer import Optimizer, ParamGroup, ParamsArg
from tinytorch_core.tensor import Array


class Adam(Optimizer):
    """``torch.optim.Adam`` (Kingma & Ba, 2015), with ``weight_decay`` added to the gradient (L2).

    Per step t: ``g = grad + wd*p`` (``p.grad`` itself is left unchanged); ``m = b1*m + (1-b1)*g``; ``v = b2*v + (1-b2)*g^2``;
    ``p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)``. The bias corrections are folded
    into two scalars, ``p -= (lr*sqrt(1-b2^t)/(1-b1^t)) * m / (sqrt(v) + eps*sqrt(1-b2^t))``,
    so the update is a few in-place passes over the group's flat buffer.
    """

    state_names = ("exp_avg", "exp_avg_sq")
    #: AdamW applies weight decay to the weights, Adam to the gradient
    decoupled_weight_decay = False

    def __init__(
        self,
        params: ParamsArg,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        defaults: dict[str, Any] = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    def _check_group(self, group: ParamGroup, idx: int) -> ParamGroup:
        group = super()._check_group(group, idx)
        name = type(self).__name__
        betas = group["betas"]
        if (not isinstance(betas, (tuple, list)) or len(betas) != 2
                or not all(isinstance(b, numbers.Real) and 0.0 <= float(b) < 1.0 for b in betas)):
            raise ValueError(f"{name}: betas must be two numbers in [0, 1), got {betas!r} (group {idx})")
        group["betas"] = (float(betas[0]), float(betas[1]))
        for key in ("eps", "weight_decay"):
            group[key] = self._non_negative(group, key, idx)
        return group

    def _needs_work(self, group: ParamGroup) -> bool:
        return bool(group["weight_decay"]) and not self.decoupled_weight_decay

    def _update(
        self, group: ParamGroup, param: Array, grad: Array, scratch: Array, work: Array | None,
        state: dict[str, Array], step: int,
    ) -> None:
        beta1, beta2 = group["betas"]
        kernels.adam_update(
            param, grad, scratch, work, state["exp_avg"], state["exp_avg_sq"], lr=group["lr"], beta1=beta1,
            beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"], decoupled=self.decoupled_weight_decay,
            step=step,
        )


class AdamW(Adam):
    """``torch.optim.AdamW`` (Loshchilov & Hutter, 2019): Adam with decoupled weight decay.

    Before the Adam update, ``p *= 1 - lr*weight_decay``; the gradient is not changed. Put
    biases and norm weights in a group with ``"weight_decay": 0.0`` to exclude them.
    """

    decoupled_weight_decay = True

    def __init__(
        self,
        params: ParamsArg,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
