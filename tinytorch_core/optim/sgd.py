"""Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay."""

from __future__ import annotations

import numpy as np

from tinytorch_core.optim.optimizer import Optimizer, ParamGroup, ParamsArg
from tinytorch_core.tensor import Array


class SGD(Optimizer):
    """``torch.optim.SGD``: ``g = grad + wd*p`` (``p.grad`` itself is left unchanged); ``buf = momentum*buf + (1-dampening)*g`` (``buf = g`` at
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

    def _needs_work(self, group: ParamGroup) -> bool:
        return bool(group["weight_decay"]) or bool(group["nesterov"])

    def _update(
        self, group: ParamGroup, param: Array, grad: Array, scratch: Array, work: Array | None,
        state: dict[str, Array], step: int,
    ) -> None:
        lr: float = group["lr"]
        wd: float = group["weight_decay"]
        momentum: float = group["momentum"]
        # ``grad`` is p.grad and stays as backward wrote it: the decayed and Nesterov gradients are
        # built in ``work``.
        if wd:
            assert work is not None
            np.multiply(param, wd, out=work)
            work += grad
            grad = work
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
                assert work is not None
                np.multiply(buf, momentum, out=scratch)
                np.add(grad, scratch, out=work)  # ``grad`` may already be ``work``: elementwise, in place is fine
                direction = work
            else:
                direction = buf
        np.multiply(direction, -lr, out=scratch)
        param += scratch
