"""Runtime measurement: build each reuse target's model, run forward + backward, attribute everything.

Attribution, one rule for modules, ops, parameters and time: a thing's *owner* is whoever wrote the
Python module that defines it - ``core`` for ``tinytorch_core``, a plugin's name for that plugin's
package (the measured plugin, or a plugin it requires and builds on), ``other`` for anything else
(a third-party library).
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tinytorch_core import Tensor, get_rng, manual_seed
from tinytorch_core import functional as F
from tinytorch_core.autograd import OpEvent, record_ops
from tinytorch_core.nn import Module
from tinytorch_core.tensor import set_rng_state
from tinytorch_core.training.steps import supervised_step

from registry.reuse.targets import ReuseTarget

CORE = "core"
OTHER = "other"


def owner_of(module_name: str, owners: Mapping[str, str]) -> str:
    """``core``, the plugin whose package (longest match in ``owners``: package -> plugin) defines
    ``module_name``, or ``other``."""
    if module_name == "tinytorch_core" or module_name.startswith("tinytorch_core."):
        return CORE
    matches = [p for p in owners if module_name == p or module_name.startswith(p + ".")]
    return owners[max(matches, key=len)] if matches else OTHER


@dataclass
class RuntimeTally:
    """Counts and timings over all of a plugin's reuse targets."""

    kinds: dict[str, tuple[str, str]] = field(default_factory=dict)  # component -> (kind, owner)
    counts: Counter[str] = field(default_factory=Counter)  # module instances, op forward applications
    params: Counter[str] = field(default_factory=Counter)  # owner -> parameter elements
    seconds: dict[str, float] = field(default_factory=dict)  # owner -> median seconds, summed over targets


def _op_name(event: OpEvent) -> str:
    """Built-in ops get their defining module as prefix, so every op name is dotted."""
    return event.op if "." in event.op else f"{event.defined_in}.{event.op}"


def _loss(target: ReuseTarget, model: Module, batch: Any) -> Tensor:
    loss = (target.loss_fn or supervised_step(F.cross_entropy))(model, batch)
    if not isinstance(loss, Tensor) or loss.data.size != 1:
        raise TypeError("the loss must be a scalar Tensor; check the target's loss_fn")
    return loss


def measure_target(target: ReuseTarget, owners: Mapping[str, str], tally: RuntimeTally, repeats: int = 5) -> None:
    """Run one target: one counted pass (which also warms up), then ``repeats`` timed passes.

    The global random generator is seeded for the run and restored afterwards. Raises
    ``RuntimeError`` naming the target when its batch or step fails.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    saved_state = dict(get_rng().bit_generator.state)
    try:
        manual_seed(0)
        model = _build(target)
        _count_modules(model, owners, tally)
        try:
            with record_ops() as events:
                _loss(target, model, target.sample_batch()).backward()
        except Exception as exc:
            raise RuntimeError(f"reuse target {target.name!r}: forward + backward on sample_batch() failed with"
                               f" {type(exc).__name__}: {exc}") from exc
        for event in events:
            name = _op_name(event)
            tally.kinds[name] = ("op", owner_of(event.defined_in, owners))
            tally.counts[name] += event.phase == "forward"  # a backward step is not another use
        runs: list[Counter[str]] = []
        for _ in range(repeats):
            model.zero_grad()
            batch = target.sample_batch()
            start = time.perf_counter()
            with record_ops() as events:
                _loss(target, model, batch).backward()
            total = time.perf_counter() - start
            run: Counter[str] = Counter()
            for event in events:  # time inside non-core ops is theirs; the rest (glue included) is core's
                who = owner_of(event.defined_in, owners)
                if who != CORE:
                    run[who] += event.seconds  # type: ignore[assignment]
            run[CORE] = max(total - sum(run.values()), 0.0)  # type: ignore[assignment]
            runs.append(run)
        for who in set().union(*runs):
            tally.seconds[who] = tally.seconds.get(who, 0.0) + statistics.median(r.get(who, 0.0) for r in runs)
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


def _count_modules(model: Module, owners: Mapping[str, str], tally: RuntimeTally) -> None:
    seen: set[int] = set()
    for _, module in model.named_modules():
        cls = type(module)
        name = f"{cls.__module__}.{cls.__qualname__}"
        who = owner_of(cls.__module__, owners)
        tally.kinds[name] = ("module", who)
        tally.counts[name] += 1
        # A parameter belongs to the module that holds it directly; a shared one counts once.
        for pname, p in module.named_parameters():
            if "." not in pname and id(p) not in seen:  # undotted: held by this module itself
                seen.add(id(p))
                tally.params[who] += int(p.data.size)
