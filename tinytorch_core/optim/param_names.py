"""Optimizer state matched to parameters by name, so a checkpoint survives a change of parameter order.

``Optimizer.state_dict()`` keys its buffers by each parameter's index over all groups, as PyTorch's
does. Checkpoints therefore also record the optimizer's parameters by their names in the model
(``optimizer_params``), and loading moves each saved buffer to the index its parameter has now.

Checkpoints written before ``Module.named_parameters()`` became depth-first (PyTorch's order) have
no names: their groups were built from the old breadth-first order, so within each group the saved
index order is the group's parameters sorted by breadth-first position.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def optimizer_param_names(model: Any, optimizer: Any) -> list[str] | None:
    """The model's names for the optimizer's parameters, in the optimizer's index order (``None`` when
    either lacks the PyTorch API or a parameter does not belong to the model)."""
    named = getattr(model, "named_parameters", None)
    groups = getattr(optimizer, "param_groups", None)
    if not callable(named) or not isinstance(groups, list):
        return None
    by_id = {id(p): name for name, p in named()}
    names = [by_id.get(id(p)) for group in groups for p in group.get("params", [])]
    return None if any(name is None for name in names) else [str(name) for name in names]


def breadth_first_names(model: Any) -> list[str]:
    """Parameter names in the breadth-first order ``named_parameters()`` used before depth-first."""
    names: list[str] = []
    seen_modules: set[int] = set()
    seen_params: set[int] = set()
    queue: list[tuple[str, Any]] = [("", model)]
    while queue:
        prefix, module = queue.pop(0)
        if id(module) in seen_modules:
            continue
        seen_modules.add(id(module))
        for name, p in module._parameters.items():
            if p is not None and id(p) not in seen_params:
                seen_params.add(id(p))
                names.append(f"{prefix}.{name}" if prefix else name)
        for name, child in module.named_children():
            queue.append((f"{prefix}.{name}" if prefix else name, child))
    return names


def legacy_saved_names(model: Any, optimizer: Any) -> list[str] | None:
    """For a checkpoint without ``optimizer_params``: the names in the index order it was saved in."""
    current = optimizer_param_names(model, optimizer)
    if current is None:
        return None
    position = {name: i for i, name in enumerate(breadth_first_names(model))}
    saved: list[str] = []
    start = 0
    for group in optimizer.param_groups:
        names = current[start:start + len(group["params"])]
        saved.extend(sorted(names, key=lambda n: position.get(n, -1)))
        start += len(names)
    return saved


def reorder_state(state: Mapping[str, Any], saved: Sequence[str], current: Sequence[str], where: str) -> dict[str, Any]:
    """``state`` (an ``Optimizer.state_dict()``) with each ``"<index>.<buffer>"`` moved from the index
    parameter ``saved[index]`` had to the one it has in ``current``."""
    if sorted(saved) != sorted(current):
        missing, unexpected = sorted(set(current) - set(saved)), sorted(set(saved) - set(current))
        raise ValueError(f"{where}: the optimizer state is for other parameters (missing: {missing[:6]}, "
                         f"unexpected: {unexpected[:6]}); build the optimizer over the saved model's parameters")
    index = {name: i for i, name in enumerate(current)}
    moved: dict[str, Any] = {}
    for key, value in dict(state["state"]).items():
        number, dot, buffer = str(key).partition(".")
        if not (dot and number.isdigit() and int(number) < len(saved)):
            raise ValueError(f"{where}: corrupt optimizer state key {key!r}")
        moved[f"{index[saved[int(number)]]}.{buffer}"] = value
    return {**state, "state": moved}
