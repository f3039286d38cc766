"""Runtime measurement: build each reuse target's model, run forward + backward, attribute everything.

Attribution rule (one rule for modules, ops and parameters): a thing is *core* when the Python module
that defines it is ``tinytorch_core`` or below, *plugin* when it is the plugin's package or below, and
*other* otherwise (a third-party library the plugin pulls in; counted on the plugin side of every
metric, since it is not core).
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinytorch_core import Tensor, get_rng, manual_seed
from tinytorch_core import functional as F
from tinytorch_core.autograd import OpEvent, record_ops
from tinytorch_core.nn import Module
from tinytorch_core.tensor import set_rng_state

from registry.reuse.static import is_core_module
from registry.reuse.targets import ReuseTarget

#: Module that defines the built-in tensor ops (``"add"``, ``"matmul"``...), as ``OpEvent.defined_in`` says.
BUILTIN_OP_MODULE = "tinytorch_core.tensor"


def origin(module_name: str, package: str) -> str:
    """``"core"``, ``"plugin"`` or ``"other"`` for the Python module that defines something."""
    if is_core_module(module_name):
        return "core"
    if module_name == package or module_name.startswith(package + "."):
        return "plugin"
    return "other"


def op_display_name(event: OpEvent) -> str:
    """Built-in ops get their defining module as prefix so every op name is dotted."""
    return event.op if "." in event.op else f"{event.defined_in}.{event.op}"


@dataclass
class RuntimeTally:
    """Counts and timings over all of a plugin's reuse targets."""

    module_types: dict[str, type] = field(default_factory=dict)  # display name -> class
    module_instances: Counter[str] = field(default_factory=Counter)
    op_calls: Counter[str] = field(default_factory=Counter)  # display name -> forward applications
    op_defined_in: dict[str, str] = field(default_factory=dict)
    params: Counter[str] = field(default_factory=Counter)  # origin -> parameter elements
    core_seconds: float = 0.0  # median per target, summed over targets
    plugin_seconds: float = 0.0
    backward_ran: bool = False


def _module_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _run_step(target: ReuseTarget, model: Module, batch: Any) -> None:
    """One forward (model + loss) and one backward."""
    if target.loss_fn is not None:
        loss = target.loss_fn(model, batch)
    else:
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise ValueError("sample_batch() must return (inputs, targets) when no loss_fn is registered")
        inputs, labels = batch
        out = model(_as_input(inputs))
        if not isinstance(out, Tensor):
            raise TypeError(f"the model returned {type(out).__name__}, not a Tensor; register a loss_fn(model, batch)")
        loss = F.cross_entropy(out, labels)
    if not isinstance(loss, Tensor) or loss.data.size != 1:
        raise TypeError("the loss must be a scalar Tensor; check the target's loss_fn")
    loss.backward()


def _as_input(x: Any) -> Any:
    """Floating arrays become Tensors (as the Trainer does); integer arrays (token ids) pass as they are."""
    if isinstance(x, np.ndarray) and x.dtype.kind == "f":
        return Tensor(x)
    return x


def measure_target(target: ReuseTarget, package: str, tally: RuntimeTally, repeats: int = 5) -> None:
    """Run one target: one counted pass (which also warms up) then ``repeats`` timed passes.

    The global random generator is seeded for the run and restored afterwards. Raises ``RuntimeError``
    naming the target when its factory, batch or step fails.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    saved_state = dict(get_rng().bit_generator.state)
    try:
        manual_seed(0)
        model = _build(target)
        _count_modules(model, package, tally)
        with record_ops() as events:
            _guarded_step(target, model)
        _count_ops(events, tally)
        tally.backward_ran = tally.backward_ran or any(e.phase == "backward" for e in events)
        core_s: list[float] = []
        plugin_s: list[float] = []
        for _ in range(repeats):
            model.zero_grad()
            batch = target.sample_batch()
            start = time.perf_counter()
            with record_ops() as events:
                _run_step(target, model, batch)
            total = time.perf_counter() - start
            mine = sum(e.seconds for e in events if origin(e.defined_in, package) != "core")
            plugin_s.append(mine)
            core_s.append(max(total - mine, 0.0))
        tally.core_seconds += statistics.median(core_s)
        tally.plugin_seconds += statistics.median(plugin_s)
    finally:
        set_rng_state(saved_state)


def _build(target: ReuseTarget) -> Module:
    try:
        model = target.model_factory()
    except Exception as exc:
        raise RuntimeError(f"reuse target {target.name!r}: model_factory() raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(model, Module):
        raise TypeError(f"reuse target {target.name!r}: model_factory() returned {type(model).__name__}, not a Module")
    model.train()
    return model


def _guarded_step(target: ReuseTarget, model: Module) -> None:
    try:
        _run_step(target, model, target.sample_batch())
    except Exception as exc:
        raise RuntimeError(
            f"reuse target {target.name!r}: forward + backward on sample_batch() failed with "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def _count_modules(model: Module, package: str, tally: RuntimeTally) -> None:
    seen: set[int] = set()
    for _, mod in model.named_modules():
        cls = type(mod)
        name = _module_name(cls)
        tally.module_types[name] = cls
        tally.module_instances[name] += 1
        where = origin(cls.__module__, package)
        # A parameter belongs to the module that owns it directly; a shared one counts once.
        for p in mod._parameters.values():
            if p is None or id(p) in seen:
                continue
            seen.add(id(p))
            tally.params[where] += int(p.data.size)


def _count_ops(events: Sequence[OpEvent], tally: RuntimeTally) -> None:
    for e in events:
        name = op_display_name(e)
        tally.op_defined_in[name] = e.defined_in
        if e.phase == "forward":
            tally.op_calls[name] += 1
        else:
            tally.op_calls.setdefault(name, 0)  # an op seen only in backward still exists
