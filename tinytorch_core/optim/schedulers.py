"""Learning-rate schedulers that set ``param_groups[i]["lr"]`` each step (PyTorch's convention).

Construction sets the step-0 rate; call ``scheduler.step()`` after each ``optimizer.step()``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from tinytorch_core.optim.optimizer import Optimizer


class LRScheduler:
    """Base class: ``lr_at(step, base_lr)`` gives a group's rate at a step count."""

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        # Like PyTorch, remember each group's starting rate in the group so a restored optimizer
        # gives a new scheduler the same base rates.
        for group in optimizer.param_groups:
            if "initial_lr" not in group:
                group["initial_lr"] = float(group["lr"])
        self.base_lrs: list[float] = [float(g["initial_lr"]) for g in optimizer.param_groups]
        self.last_step = 0
        self._apply()

    def lr_at(self, step: int, base_lr: float) -> float:
        """The learning rate after ``step`` scheduler steps for a group whose base rate is ``base_lr``."""
        raise NotImplementedError

    def _apply(self) -> None:
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = float(self.lr_at(self.last_step, base))

    def step(self) -> None:
        """Advance one step and set every group's learning rate."""
        self.last_step += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        """The learning rates the groups have now."""
        return [float(g["lr"]) for g in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable ``{"last_step": int, "base_lrs": [float]}``."""
        return {"last_step": self.last_step, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the step count and base rates and set the groups' rates accordingly."""
        if "last_step" not in state or "base_lrs" not in state:
            raise KeyError(f"{type(self).__name__}.load_state_dict: expected keys 'last_step' and 'base_lrs', got {sorted(state)}")
        base = [float(b) for b in state["base_lrs"]]
        if len(base) != len(self.optimizer.param_groups):
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: saved for {len(base)} parameter groups, the optimizer has "
                f"{len(self.optimizer.param_groups)}"
            )
        self.last_step = int(state["last_step"])
        self.base_lrs = base
        self._apply()


class WarmupCosineLR(LRScheduler):
    """Linear warmup then cosine decay (nanoGPT's schedule).

    For step ``t``: ``base * (t+1)/(warmup_steps+1)`` while ``t < warmup_steps``; then
    ``min_lr + (base - min_lr) * (1 + cos(pi * (t - warmup)/(total - warmup))) / 2`` up to
    ``total_steps``; ``min_lr`` afterwards.
    """

    def __init__(self, optimizer: Optimizer, warmup_steps: int, total_steps: int, min_lr: float = 0.0) -> None:
        if not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise ValueError(f"WarmupCosineLR: warmup_steps must be an int >= 0, got {warmup_steps!r}")
        if not isinstance(total_steps, int) or total_steps <= warmup_steps:
            raise ValueError(
                f"WarmupCosineLR: total_steps must be an int > warmup_steps ({warmup_steps}), got {total_steps!r}"
            )
        if not min_lr >= 0:
            raise ValueError(f"WarmupCosineLR: min_lr must be >= 0, got {min_lr!r}")
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.min_lr = float(min_lr)
        super().__init__(optimizer)

    def lr_at(self, step: int, base_lr: float) -> float:
        if step < self.warmup_steps:
            return base_lr * (step + 1) / (self.warmup_steps + 1)
        if step >= self.total_steps:
            return self.min_lr
        progress = (step - self.warmup_steps) / (self.total_steps - self.warmup_steps)
        return self.min_lr + (base_lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


class StepLR(LRScheduler):
    """``base * gamma ** (t // step_size)``, as ``torch.optim.lr_scheduler.StepLR``."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        if not isinstance(step_size, int) or step_size <= 0:
            raise ValueError(f"StepLR: step_size must be an int > 0, got {step_size!r}")
        if not gamma > 0:
            raise ValueError(f"StepLR: gamma must be > 0, got {gamma!r}")
        self.step_size = step_size
        self.gamma = float(gamma)
        super().__init__(optimizer)

    def lr_at(self, step: int, base_lr: float) -> float:
        return base_lr * self.gamma ** (step // self.step_size)


class LambdaLR(LRScheduler):
    """``base * lr_lambda(t)``, as ``torch.optim.lr_scheduler.LambdaLR`` (the function is not saved)."""

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float]) -> None:
        if not callable(lr_lambda):
            raise TypeError(f"LambdaLR: lr_lambda must be a function of the step, got {type(lr_lambda).__name__}")
        self.lr_lambda = lr_lambda
        super().__init__(optimizer)

    def lr_at(self, step: int, base_lr: float) -> float:
        return base_lr * float(self.lr_lambda(step))
