"""Reuse targets: what a plugin asks the reuse report to run, collected from its hook.

A plugin implements ``tinytorch_register_reuse_targets(register)`` and calls
``register(name, model_factory, sample_batch=..., loss_fn=...)``. This module calls that hook on one
plugin object with its own ``register`` callback, so the report works on any plugin, with or without
the registry's plugin manager.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tinytorch_core import Tensor
from tinytorch_core.nn import Module

HOOK_NAME = "tinytorch_register_reuse_targets"

LossFn = Callable[[Module, Any], Tensor]


@dataclass(frozen=True)
class ReuseTarget:
    """One model the report builds and runs for a plugin.

    ``model_factory()`` builds the model; ``sample_batch()`` returns ``(inputs, targets)``;
    ``loss_fn(model, batch)`` returns the scalar loss (``None``: cross-entropy of ``model(inputs)``
    against ``targets``).
    """

    name: str
    model_factory: Callable[[], Module]
    sample_batch: Callable[[], Any]
    loss_fn: LossFn | None = None
    description: str = ""


def plugin_package(plugin: object) -> str:
    """The importable package whose source is the plugin's: the package holding its module.

    A plugin module ``acme.audio.plugin`` belongs to ``acme.audio``; a package registered itself
    (``acme_audio/__init__.py``) or a single-module plugin is its own package; a plugin object that
    is not a module is located by its class's module.
    """
    if isinstance(plugin, types.ModuleType):
        name = plugin.__name__
        package = plugin.__package__
        if getattr(plugin, "__path__", None) is not None:
            return name
        return package or name
    module_name = type(plugin).__module__
    parent = module_name.rpartition(".")[0]
    return parent or module_name


def collect_targets(plugin: object, plugin_name: str = "") -> list[ReuseTarget]:
    """Call the plugin's reuse-target hook with a collecting ``register``; ``[]`` when it has none.

    Raises ``ValueError`` naming the plugin and target when a registration is malformed.
    """
    label = plugin_name or plugin_package(plugin)
    hook = getattr(plugin, HOOK_NAME, None)
    if hook is None:
        return []
    found: list[ReuseTarget] = []

    def register(name: str, obj: Any, *, description: str = "", **meta: Any) -> None:
        found.append(make_target(label, name, obj, description, meta))

    hook(register=register)
    names = [t.name for t in found]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"plugin {label!r} registered the reuse target(s) {', '.join(dup)} twice; give each a unique name")
    return found


def make_target(plugin: str, name: str, factory: Any, description: str, meta: dict[str, Any]) -> ReuseTarget:
    """Validate one registration and turn it into a :class:`ReuseTarget` (errors name plugin and target)."""
    where = f"reuse target {name!r} of plugin {plugin!r}"
    if not isinstance(name, str) or not name:
        raise ValueError(f"plugin {plugin!r} registered a reuse target without a name; call register('name', factory, ...)")
    if not callable(factory):
        raise TypeError(f"{where}: the model factory must be callable (a zero-argument function returning a Module)")
    sample_batch = meta.pop("sample_batch", None)
    if not callable(sample_batch):
        raise ValueError(
            f"{where} has no sample_batch; register it with sample_batch=lambda: (inputs, targets) "
            "so the report can run one forward + backward"
        )
    loss_fn = meta.pop("loss_fn", None)
    if loss_fn is not None and not callable(loss_fn):
        raise TypeError(f"{where}: loss_fn must be callable as loss_fn(model, batch) -> Tensor")
    return ReuseTarget(name=name, model_factory=factory, sample_batch=sample_batch, loss_fn=loss_fn, description=description)
