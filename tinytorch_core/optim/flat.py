"""One contiguous buffer per parameter group, with every parameter's ``.data`` a view into it.

Optimizers update the whole group with a handful of whole-buffer numpy calls instead of a
few calls per parameter; on a small GPT that is the difference between ~1.5 ms and several
ms per step (``python -m benchmarks.train_step`` measures the step).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tinytorch_core.tensor import Array, Tensor


class FlatParams:
    """A group's parameters packed into one flat buffer that their ``.data`` arrays view.

    Packing copies the current values, so a model keeps computing the same function; an
    in-place write such as ``p.data[...] = x`` (``Module.load_state_dict``) lands in the
    buffer. If something rebinds ``p.data`` to a new array of the same dtype later, the next
    :meth:`sync` copies it back in; a dtype change is an error (create the optimizer after
    ``model.to(dtype)``).
    """

    def __init__(self, params: Sequence[Tensor], owner: str) -> None:
        self.owner = owner
        self.params: list[Tensor] = list(params)
        dtypes = {p.data.dtype for p in self.params}
        if len(dtypes) > 1:
            names = ", ".join(sorted(str(d) for d in dtypes))
            raise TypeError(
                f"{owner}: one parameter group mixes dtypes ({names}); cast the model first "
                "(model.to(dtype)) or put parameters of each dtype in their own group"
            )
        self.dtype: np.dtype[Any] = dtypes.pop()
        self.sizes: list[int] = [int(p.data.size) for p in self.params]
        self.offsets: list[int] = [0, *np.cumsum(self.sizes, dtype=np.int64).tolist()]
        total = self.offsets[-1]
        self.data: Array = np.empty(total, dtype=self.dtype)
        self.grad: Array = np.zeros(total, dtype=self.dtype)
        # Scratch space for the optimizers' intermediate results, so a step allocates nothing.
        self.scratch: Array = np.empty(total, dtype=self.dtype)
        self._work: Array | None = None
        self.views: list[Array] = []
        for i, p in enumerate(self.params):
            view = self.data[self.offsets[i] : self.offsets[i + 1]].reshape(p.data.shape)
            view[...] = p.data
            p.data = view
            self.views.append(view)
        self.grad_views: list[Array] = [
            self.grad[self.offsets[i] : self.offsets[i + 1]].reshape(view.shape) for i, view in enumerate(self.views)
        ]
        for p, grad_view in zip(self.params, self.grad_views):
            if hasattr(p, "_grad_view"):  # a Parameter: backward writes its gradient straight into the buffer
                p._grad_view = grad_view
        # Number of updates each parameter has received (PyTorch's per-parameter "step").
        self.steps: Array = np.zeros(len(self.params), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.params)

    def work(self) -> Array:
        """A second scratch buffer, allocated on first use: optimizers that add a term to the gradient
        (weight decay, Nesterov) build the modified gradient here, since :attr:`grad` *is* ``p.grad``."""
        if self._work is None:
            self._work = np.empty_like(self.data)
        return self._work

    def slice(self, i: int) -> slice:
        """The range of parameter ``i`` inside the flat buffers."""
        return slice(self.offsets[i], self.offsets[i + 1])

    def sync(self) -> None:
        """Re-attach parameters whose ``.data`` was rebound to a new array since the last step."""
        for i, (p, view) in enumerate(zip(self.params, self.views)):
            if p.data is view:
                continue
            new = p.data
            if new.shape != view.shape:
                raise ValueError(
                    f"{self.owner}: parameter {i} changed shape from {view.shape} to {new.shape} after the "
                    "optimizer was created; create the optimizer after the model is fully built"
                )
            if new.dtype != self.dtype:
                raise TypeError(
                    f"{self.owner}: parameter {i} changed dtype from {self.dtype} to {new.dtype} after the "
                    "optimizer was created; call model.to(dtype) before creating the optimizer"
                )
            view[...] = new
            p.data = view

    def gather_grads(self, grads: Sequence[Array]) -> None:
        """Copy every parameter's gradient into :attr:`grad` in one call (nothing to do for those
        that backward already wrote into their view of it)."""
        in_place = [g is view for g, view in zip(grads, self.grad_views)]
        if all(in_place):
            return
        if any(in_place):
            for i, (g, view) in enumerate(zip(grads, self.grad_views)):
                if not in_place[i]:
                    self.check_grad(i, g)
                    view[...] = g.reshape(view.shape)
            return
        try:
            np.concatenate([g.reshape(-1) for g in grads], out=self.grad)
        except ValueError:
            for i, g in enumerate(grads):
                self.check_grad(i, g)
            raise

    def check_grad(self, i: int, grad: Array) -> None:
        """Raise a clear error when parameter ``i``'s gradient has the wrong size."""
        if grad.size != self.sizes[i]:
            raise ValueError(
                f"{self.owner}: parameter {i} of shape {self.views[i].shape} has a gradient of shape "
                f"{grad.shape}; gradients must have their parameter's shape"
            )
