"""``Module`` and ``Parameter``: attribute assignment registers parameters and submodules."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from tinytorch_core.tensor import Array, Tensor, get_default_dtype


class Parameter(Tensor):
    """A tensor that is a module's learnable weight: ``requires_grad`` is on by default."""

    # Where backward writes this parameter's gradient when ``.grad`` is None: a view into an
    # optimizer's flat gradient buffer (set by the optimizer), so gradients are never copied twice.
    __slots__ = ("_grad_view",)

    def __init__(self, data: Any, requires_grad: bool = True, dtype: DTypeLike | None = None) -> None:
        arr = data.data if isinstance(data, Tensor) else data
        dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
        super().__init__(np.array(arr, dtype=dt, copy=True), requires_grad=requires_grad, dtype=dt)
        self._grad_view: Array | None = None

    def __repr__(self) -> str:
        return "Parameter(" + super().__repr__()[len("Tensor(") :]


class Module:
    """Base class for layers and models.

    Assigning a :class:`Parameter` or a :class:`Module` to an attribute registers it, so
    ``parameters()``, ``named_parameters()`` (dotted names), ``state_dict()`` and ``train()``
    / ``eval()`` see it. Subclasses implement ``forward``; call the module itself.
    """

    training: bool
    _parameters: OrderedDict[str, Parameter | None]
    _modules: OrderedDict[str, Module | None]
    _buffers: OrderedDict[str, Array | None]

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "training", True)

    # -------------------------------------------------------------- registration
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        params: dict[str, Parameter | None] = self.__dict__["_parameters"]
        modules: dict[str, Module | None] = self.__dict__["_modules"]
        buffers: dict[str, Array | None] = self.__dict__["_buffers"]
        if not isinstance(value, (Parameter, Module)):
            # As in PyTorch, a registered name keeps its kind: a new array for a buffer (running
            # statistics) stays a buffer, None disables a parameter or buffer without unregistering it.
            if name in buffers:
                if value is not None and not isinstance(value, np.ndarray):
                    raise TypeError(f"cannot assign {type(value).__name__!r} as buffer {name!r} (a numpy array or None expected)")
                buffers[name] = value
                return
            if name in params:
                if value is not None:
                    raise TypeError(f"cannot assign {type(value).__name__!r} as parameter {name!r} (a Parameter or None expected)")
                params[name] = None
                return
        for d in (params, modules, buffers):
            d.pop(name, None)
        if isinstance(value, Parameter):
            params[name] = value
            self.__dict__.pop(name, None)
        elif isinstance(value, Module):
            modules[name] = value
            self.__dict__.pop(name, None)
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for key in ("_parameters", "_modules", "_buffers"):
            store = d.get(key)
            if store is not None and name in store:
                return store[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for key in ("_parameters", "_modules", "_buffers"):
            if name in self.__dict__[key]:
                del self.__dict__[key][name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (or ``None``, e.g. a disabled bias) under ``name``."""
        self.__dict__["_parameters"][name] = param

    def register_buffer(self, name: str, value: Array | None) -> None:
        """Register non-learnable state (running statistics) that ``state_dict`` saves."""
        self.__dict__["_buffers"][name] = value

    def add_module(self, name: str, module: Module | None) -> None:
        self.__dict__["_modules"][name] = module

    # -------------------------------------------------------------- calling
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # -------------------------------------------------------------- traversal
    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """``(dotted_name, parameter)`` pairs in :meth:`named_modules` order (PyTorch's); a parameter
        shared by two modules appears once."""
        seen: set[int] = set()
        for mod_prefix, mod in self.named_modules(prefix):
            for name, p in mod._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), p

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, Array]]:
        for mod_prefix, mod in self.named_modules(prefix):
            for name, b in mod._buffers.items():
                if b is not None:
                    yield (f"{mod_prefix}.{name}" if mod_prefix else name), b

    def children(self) -> Iterator[Module]:
        for m in self._modules.values():
            if m is not None:
                yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, m in self._modules.items():
            if m is not None:
                yield name, m

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """``(dotted_name, module)`` depth-first in registration order, this module first (PyTorch's
        order); a module registered twice appears once, under its first name."""
        seen: set[int] = set()
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            name, mod = stack.pop()
            if id(mod) in seen:
                continue
            seen.add(id(mod))
            yield name, mod
            children = [(f"{name}.{child_name}" if name else child_name, child) for child_name, child in mod.named_children()]
            stack.extend(reversed(children))  # popped in registration order

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def num_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.size for p in self.parameters() if p.requires_grad or not trainable_only)

    # -------------------------------------------------------------- modes and grads
    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def to(self, dtype: DTypeLike) -> Module:
        """Cast every floating parameter and buffer in place (``model.to(np.float64)``)."""
        dt = np.dtype(dtype)
        for p in self.parameters():
            if p.data.dtype.kind == "f":
                p.data = p.data.astype(dt)
                p.grad = None
        for m in self.modules():
            for name, b in m._buffers.items():
                if b is not None and b.dtype.kind == "f":
                    m._buffers[name] = b.astype(dt)
        return self

    def double(self) -> Module:
        return self.to(np.float64)

    def float(self) -> Module:
        return self.to(np.float32)

    # -------------------------------------------------------------- state
    def state_dict(self) -> OrderedDict[str, Array]:
        """Copies of every parameter and buffer, by dotted name, in PyTorch's order: each module's
        parameters, then its buffers, then its children's. A shared parameter is stored once."""
        out: OrderedDict[str, Array] = OrderedDict()
        seen: set[int] = set()
        for mod_prefix, mod in self.named_modules():
            for name, p in mod._parameters.items():
                if p is not None and id(p) not in seen:
                    seen.add(id(p))
                    out[f"{mod_prefix}.{name}" if mod_prefix else name] = p.data.copy()
            for name, b in mod._buffers.items():
                if b is not None:
                    out[f"{mod_prefix}.{name}" if mod_prefix else name] = np.array(b, copy=True)
        return out

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> tuple[list[str], list[str]]:
        """Copy ``state`` into the parameters and buffers in place.

        Returns ``(missing, unexpected)`` keys. With ``strict`` (default) any missing or
        unexpected key or shape mismatch raises one error listing all of them; nothing is
        changed in that case.
        """
        params = dict(self.named_parameters())
        buffers = {name: (mod, key) for mod_prefix, mod in self.named_modules() for key in mod._buffers
                   if mod._buffers[key] is not None
                   for name in [f"{mod_prefix}.{key}" if mod_prefix else key]}
        expected = set(params) | set(buffers)
        missing = sorted(expected - set(state))
        unexpected = sorted(set(state) - expected)
        mismatched = []
        for name in sorted(expected & set(state)):
            value = np.asarray(state[name].data if isinstance(state[name], Tensor) else state[name])
            have = params[name].shape if name in params else np.asarray(buffers[name][0]._buffers[buffers[name][1]]).shape
            if value.shape != have:
                mismatched.append(f"{name}: checkpoint {value.shape} vs model {have}")
        problems = []
        if strict and missing:
            problems.append(f"missing keys: {', '.join(missing)}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {', '.join(unexpected)}")
        if mismatched:
            problems.append(f"shape mismatches: {'; '.join(mismatched)}")
        if problems:
            raise KeyError(
                f"load_state_dict into {type(self).__name__} failed - " + " | ".join(problems)
                + " (is the checkpoint from a different model or config? use strict=False to load a subset)"
            )
        for name in expected & set(state):
            value = np.asarray(state[name].data if isinstance(state[name], Tensor) else state[name])
            if name in params:
                p = params[name]
                p.data[...] = value.astype(p.data.dtype, copy=False)
            else:
                mod, key = buffers[name]
                buf = mod._buffers[key]
                assert buf is not None
                buf[...] = value
        return missing, unexpected

    # -------------------------------------------------------------- repr
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        children = list(self.named_children())
        if not children:
            return lines[0] + ")"
        for name, child in children:
            child_repr = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child_repr}")
        return "\n".join(lines) + "\n)"


def _as_modules(items: Iterable[Module]) -> list[Module]:
    mods = list(items)
    for i, m in enumerate(mods):
        if not isinstance(m, Module):
            raise TypeError(f"item {i} is a {type(m).__name__}, not a Module")
    return mods
