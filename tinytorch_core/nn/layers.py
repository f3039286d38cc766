"""Standard layers, each a thin module over a fused op from ``tinytorch_core.functional``."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from tinytorch_core import functional as F
from tinytorch_core.nn import init
from tinytorch_core.nn.module import Module, Parameter, _as_modules
from tinytorch_core.tensor import Tensor, get_default_dtype


class Linear(Module):
    """``y = x @ W.T + b`` with ``W`` of shape (out_features, in_features), as in PyTorch."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        if in_features <= 0 or out_features <= 0:
            raise ValueError(f"Linear needs positive sizes, got in={in_features}, out={out_features}")
        self.in_features = in_features
        self.out_features = out_features
        dt = get_default_dtype()
        self.weight = Parameter(np.empty((out_features, in_features), dtype=dt))
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if bias:
            bound = 1.0 / math.sqrt(in_features)
            self.bias: Parameter | None = Parameter(np.empty(out_features, dtype=dt))
            init.uniform_(self.bias, -bound, bound)
        else:
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


Dense = Linear  # the course's name


class ReLU(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.relu()


class GELU(Module):
    """GELU; ``approximate="tanh"`` by default (GPT-2), ``"none"`` for the erf form."""

    def __init__(self, approximate: str = "tanh") -> None:
        super().__init__()
        if approximate not in ("tanh", "none"):
            raise ValueError(f"GELU: approximate must be 'tanh' or 'none', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Tanh(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.tanh()


class Sigmoid(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.sigmoid()


class Softmax(Module):
    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(x, self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class Identity(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x


class LayerNorm(Module):
    """Normalise over the last axis; learnable scale and shift (``elementwise_affine``)."""

    def __init__(self, normalized_shape: int | tuple[int], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True) -> None:
        super().__init__()
        n = normalized_shape if isinstance(normalized_shape, int) else int(normalized_shape[0])
        if not isinstance(normalized_shape, int) and len(normalized_shape) != 1:
            raise ValueError("LayerNorm normalises over the last axis only: pass an int")
        self.normalized_shape = n
        self.eps = eps
        dt = get_default_dtype()
        if elementwise_affine:
            self.weight: Parameter | None = Parameter(np.ones(n, dtype=dt))
            self.bias: Parameter | None = Parameter(np.zeros(n, dtype=dt)) if bias else None
            if not bias:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.normalized_shape:
            raise ValueError(f"LayerNorm({self.normalized_shape}): input's last dim is {x.shape[-1]} (shape {x.shape})")
        return F.layer_norm(x, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"


class Dropout(Module):
    """Zero activations with probability ``p`` while training; identity in ``eval()``."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout probability must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Embedding(Module):
    """A lookup table of ``num_embeddings`` rows of size ``embedding_dim``, initialised N(0, 1)."""

    def __init__(self, num_embeddings: int, embedding_dim: int) -> None:
        super().__init__()
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.weight = Parameter(np.empty((num_embeddings, embedding_dim), dtype=get_default_dtype()))
        init.normal_(self.weight)

    def forward(self, idx: Tensor | np.ndarray[Any, Any]) -> Tensor:
        return F.embedding(idx, self.weight)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


class Sequential(Module):
    """Apply modules in order. ``Sequential([a, b])``, ``Sequential(a, b)`` or an OrderedDict."""

    def __init__(self, *modules: Module | Iterable[Module] | Mapping[str, Module]) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], Mapping):
            for name, m in modules[0].items():
                self.add_module(name, _as_modules([m])[0])
            return
        items: list[Module]
        if len(modules) == 1 and not isinstance(modules[0], Module):
            items = _as_modules(modules[0])  # type: ignore[arg-type]
        else:
            items = _as_modules(modules)  # type: ignore[arg-type]
        for i, m in enumerate(items):
            self.add_module(str(i), m)

    def forward(self, x: Any) -> Any:
        for m in self.children():
            x = m(x)
        return x

    def __getitem__(self, i: int) -> Module:
        return list(self.children())[i]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return self.children()

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self._modules)), module)
        return self


class ModuleList(Module):
    """A list of submodules, registered under their indices."""

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        super().__init__()
        for m in _as_modules(modules):
            self.append(m)

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self._modules)), _as_modules([module])[0])
        return self

    def __getitem__(self, i: int) -> Module:
        return list(self.children())[i]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return self.children()


class ModuleDict(Module):
    """A dict of submodules, registered under their keys."""

    def __init__(self, modules: Mapping[str, Module] | None = None) -> None:
        super().__init__()
        for k, m in (modules or {}).items():
            self[k] = m

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, _as_modules([module])[0])

    def __getitem__(self, key: str) -> Module:
        m = self._modules[key]
        assert m is not None
        return m

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def __len__(self) -> int:
        return len(self._modules)

    def keys(self) -> Iterable[str]:
        return self._modules.keys()

    def items(self) -> Iterable[tuple[str, Module]]:
        return self.named_children()

    def values(self) -> Iterable[Module]:
        return self.children()


__all__ = [
    "Linear", "Dense", "ReLU", "GELU", "Tanh", "Sigmoid", "Softmax", "Identity", "LayerNorm", "Dropout",
    "Embedding", "Sequential", "ModuleList", "ModuleDict",
]
