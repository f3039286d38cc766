"""Loss modules over the fused ops in :mod:`tinytorch_core.functional`.

Call them as ``loss_fn(prediction, target)``; each returns a scalar tensor for
``reduction="mean"`` (default) or ``"sum"``, and per-element losses for ``"none"``.
"""

from __future__ import annotations

from tinytorch_core import functional as F
from tinytorch_core.nn import Module
from tinytorch_core.tensor import Array, Tensor

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(name: str, reduction: str) -> str:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return reduction


class CrossEntropyLoss(Module):
    """Softmax cross-entropy from raw logits and integer class targets (fused log-softmax + NLL).

    Shapes: ``logits`` (N, C) or (B, T, C) - the classes are on the **last** axis (PyTorch puts
    them on axis 1 for N-D input: pass ``logits.swapaxes(1, -1)`` when porting such code);
    ``targets`` integer indices of shape (N,) or (B, T). ``reduction="none"`` returns the
    targets' shape.

    ``ignore_index``: rows whose target equals it add nothing, and ``"mean"`` divides by the
    number of other rows (PyTorch's default is -100; here ``None`` means no row is ignored).
    ``label_smoothing`` in [0, 1]: the target distribution is
    ``(1 - s) * onehot + s / C``.
    """

    def __init__(self, ignore_index: int | None = None, label_smoothing: float = 0.0, reduction: str = "mean") -> None:
        super().__init__()
        if ignore_index is not None and (isinstance(ignore_index, bool) or not isinstance(ignore_index, int)):
            raise TypeError(f"CrossEntropyLoss: ignore_index must be an int or None, got {ignore_index!r}")
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1], got {label_smoothing!r}")
        self.ignore_index = ignore_index
        self.label_smoothing = float(label_smoothing)
        self.reduction = _check_reduction("CrossEntropyLoss", reduction)

    def forward(self, logits: Tensor, targets: Tensor | Array) -> Tensor:
        """Loss of ``logits`` (..., C) against integer ``targets`` (...)."""
        return F.cross_entropy(logits, targets, ignore_index=self.ignore_index,
                               label_smoothing=self.label_smoothing, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"ignore_index={self.ignore_index}, label_smoothing={self.label_smoothing}, reduction={self.reduction!r}"


class MSELoss(Module):
    """Mean squared error ``(prediction - target)^2``; both of the same shape (any)."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _check_reduction("MSELoss", reduction)

    def forward(self, prediction: Tensor, target: Tensor | Array) -> Tensor:
        """Loss of ``prediction`` against ``target`` (same shape)."""
        return F.mse_loss(prediction, target, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class BCEWithLogitsLoss(Module):
    """Binary cross-entropy from raw logits (fused, stable sigmoid): ``logits`` and ``target``
    (probabilities in [0, 1], floating) of the same shape (any), e.g. (N,) or (N, K) multi-label.
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _check_reduction("BCEWithLogitsLoss", reduction)

    def forward(self, logits: Tensor, target: Tensor | Array) -> Tensor:
        """Loss of ``logits`` against ``target`` (same shape)."""
        return F.binary_cross_entropy_with_logits(logits, target, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


__all__ = ["CrossEntropyLoss", "MSELoss", "BCEWithLogitsLoss"]
