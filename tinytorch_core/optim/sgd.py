"""Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay."""

from __future__ import annotations

import numpy as np

from tinytorch_core.optim.optimizer import Optimizer, ParamGroup, ParamsArg
from tinytorch_core.tensor import Array


class SGD(Optimizer):
    """``torch.optim.SGD``: ``g += wd*p``; ``buf = momentum*buf + (1-dampening)*g`` (``buf = g`` at
    the first step); ``d = g + momentum*buf`` (Nesterov) or ``d = buf``; ``p -= lr*d``.
    """

    def __init__(
        self,
        params: ParamsArg,
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        self.state_names = ("momentum_buffer",) if momentum else ()
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening, "nesterov": nesterov,
                    "weight_decay": weight_decay}
        super().__init__(params, defaults)

    def _check_group(self, group: ParamGroup, idx: int) -> ParamGroup:
        group = super()._check_group(group, idx)
        for key in ("momentum", "dampening", "weight_decay"):
            group[key] = self._non_negative(group, key, idx)
        if group["momentum"] and not self.state_names:
            raise ValueError(f"SGD: group {idx} sets momentum but the optimizer was built with momentum=0; "
                             "pass a non-zero momentum to SGD itself")
        group["nesterov"] = bool(group["nesterov"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"SGD: Nesterov momentum needs momentum > 0 and dampening = 0 (group {idx})")
        return group

    def _update(
        self, group: ParamGroup, param: Array, grad: Array, scratch: Array, state: dict[str, Array], step: int
    ) -> None:
        lr: float = group["lr"]
        wd: float = group["weight_decay"]
        momentum: float = group["momentum"]
        if wd:
            np.multiply(param, wd, out=scratch)
            grad += scratch
        direction = grad
        if momentum:
            buf = state["momentum_buffer"]
            if step == 1:
                buf[...] = grad
            else:
                buf *= momentum
                dampening: float = group["dampening"]
                if dampening:
                    np.multiply(grad, 1.0 - dampening, out=scratch)
                    buf += scratch
                else:
                    buf += grad
            if group["nesterov"]:
                np.multiply(buf, momentum, out=scratch)
                grad += scratch
            else:
                direction = buf
        np.multiply(direction, -lr, out=scratch)
        param += scratch
