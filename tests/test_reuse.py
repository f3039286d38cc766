"""Honesty tests of the reuse report on fixture plugins (tests/reuse_fixtures)."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from registry.manager import PluginManager
from registry.reuse import (
    COMPUTE,
    HEADLINE_METRIC,
    PARAMETERS,
    RUNTIME_INSTANCES,
    RUNTIME_TYPES,
    ReuseReport,
    ReuseTarget,
    UnknownPluginError,
    collect_targets,
    measure,
    reuse_report,
)
from registry.reuse.runtime import RuntimeTally, measure_target
import tinytorch_core as tt
from tinytorch_core import Tensor, get_rng, nn
from tinytorch_core.autograd import Context, Function
from tinytorch_core.gradcheck import gradcheck

FIXTURES = Path(__file__).resolve().parent / "reuse_fixtures"
REPEATS = 2  # timing medians need only a couple of runs on these tiny models


@pytest.fixture(scope="module")
def fixture_plugins() -> Iterator[dict[str, types.ModuleType]]:
    """The three fixture plugin modules, importable for the duration of this file."""
    sys.path.insert(0, str(FIXTURES))
    try:
        import reuse_fixture_core.plugin as core_plugin
        import reuse_fixture_op.plugin as op_plugin
        import reuse_fixture_own.plugin as own_plugin

        yield {"core": core_plugin, "own": own_plugin, "op": op_plugin}
    finally:
        sys.path.remove(str(FIXTURES))


@pytest.fixture(scope="module")
def reports(fixture_plugins: dict[str, types.ModuleType]) -> dict[str, ReuseReport]:
    """One report per fixture plugin, measured once for the whole file."""
    return {
        name: measure(f"{name}_fixture", module, collect_targets(module, name), repeats=REPEATS)
        for name, module in fixture_plugins.items()
    }


def test_reimplementing_linear_and_sgd_scores_clearly_lower(reports: dict[str, ReuseReport]) -> None:
    core, own = reports["core"], reports["own"]
    assert own.headline.percent < 50 < core.headline.percent
    assert own.metric(PARAMETERS).percent == 0.0 and core.metric(PARAMETERS).percent == 100.0
    assert own.metric(RUNTIME_TYPES).percent < core.metric(RUNTIME_TYPES).percent - 50
    assert own.metric(COMPUTE).percent < core.metric(COMPUTE).percent
    # What it wrote itself is on its list of what it had to add, attributed to it.
    own_names = {c.name: c.owner for c in own.plugin_components()}
    assert own_names["reuse_fixture_own.layers.OwnLinear"] == "own_fixture"


def test_reimplementing_plugin_counts_are_exact(reports: dict[str, ReuseReport]) -> None:
    own = reports["own"]
    # Modules: OwnMLP, 2 x OwnLinear, OwnReLU; ops: 2 x OwnLinearFunction, OwnReLUFunction; core: the loss op.
    inst = own.metric(RUNTIME_INSTANCES)
    assert (inst.core, inst.own) == (1, 7) and dict(inst.by_owner) == {"core": 1, "own_fixture": 7}
    types_ = own.metric(RUNTIME_TYPES)
    assert (types_.core, types_.own) == (1, 5)
    params = own.metric(PARAMETERS)
    assert (params.core, params.own) == (0, 8 * 16 + 16 + 16 * 4 + 4)
    by_name = {(c.name, c.kind): c for c in own.components}
    assert by_name[("reuse_fixture_own.layers.OwnLinear", "module")].count == 2
    assert by_name[("reuse_fixture_own.layers.OwnLinearFunction", "op")].owner == "own_fixture"


def test_composing_core_modules_scores_100_percent_at_run_time(reports: dict[str, ReuseReport]) -> None:
    core = reports["core"]
    for name in (RUNTIME_TYPES, RUNTIME_INSTANCES, PARAMETERS, COMPUTE):
        metric = core.metric(name)
        assert metric.percent == 100.0 and metric.own == 0 and metric.share("core") == 100.0, name
    assert core.headline.name == HEADLINE_METRIC and core.headline.percent == 100.0
    # Sequential + 2 Linear + ReLU modules; 2 linear ops, a relu and the cross-entropy loss.
    assert core.metric(RUNTIME_INSTANCES).core == 4 + 4
    assert {c.owner for c in core.components} == {"core"}


def test_adding_a_plugin_op_lowers_the_compute_share(fixture_plugins: dict[str, types.ModuleType]) -> None:
    module = fixture_plugins["op"]
    targets = {t.name: t for t in collect_targets(module)}
    plain = measure("op", module, [targets["plain"]], repeats=REPEATS)
    with_op = measure("op", module, [targets["with_op"]], repeats=REPEATS)
    assert plain.metric(COMPUTE).own == 0 and plain.metric(COMPUTE).percent == 100.0
    assert with_op.metric(COMPUTE).own > 0
    assert with_op.metric(COMPUTE).percent < plain.metric(COMPUTE).percent
    assert with_op.headline.percent < plain.headline.percent
    # Parameters stay all core: the op adds compute, not weights.
    assert with_op.metric(PARAMETERS).percent == 100.0


def test_all_targets_of_a_plugin_are_aggregated(reports: dict[str, ReuseReport]) -> None:
    op = reports["op"]  # "plain" and "with_op": 2 Sequential, 4 Linear, 2 ReLU, 1 SoftplusLayer
    modules = {c.name: c.count for c in op.components if c.kind == "module"}
    assert modules["tinytorch_core.nn.layers.Linear"] == 4
    assert modules["reuse_fixture_op.plugin.SoftplusLayer"] == 1


def test_report_through_a_plugin_manager(fixture_plugins: dict[str, types.ModuleType]) -> None:
    pm = PluginManager(trace=False)
    pm.register(fixture_plugins["core"], name="core_fixture")
    pm.register(fixture_plugins["own"], name="own_fixture")
    report = reuse_report("own_fixture", manager=pm, repeats=1)
    assert report.plugin == "own_fixture"
    assert report.metric(PARAMETERS).percent == 0.0
    with pytest.raises(UnknownPluginError, match=r"core_fixture, own_fixture") as info:
        reuse_report("own_fixtur", manager=pm)
    assert "did you mean 'own_fixture'" in str(info.value)


def test_measuring_restores_the_global_generator(fixture_plugins: dict[str, types.ModuleType]) -> None:
    before = get_rng().bit_generator.state
    module = fixture_plugins["core"]
    measure("core_fixture", module, collect_targets(module), repeats=1)
    assert get_rng().bit_generator.state == before


def _batch() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    return np.ones((2, 3), dtype=np.float32), np.array([0, 1])


class _Tied(nn.Module):
    """A plugin-side module that owns a bias and shares its child's weight."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.Linear(3, 2)
        self.scale = nn.Parameter(np.ones(2))
        self.same_weight = self.inner.weight

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.inner(x) * self.scale
        return out


def test_a_shared_parameter_counts_once() -> None:
    tally = RuntimeTally()
    measure_target(ReuseTarget("tied", _Tied, _batch), {__name__: "me"}, tally, repeats=1)
    total = sum(tally.params.values())
    assert total == 3 * 2 + 2 + 2  # weight once, Linear's bias, the wrapper's scale


def test_malformed_targets_get_clear_errors(fixture_plugins: dict[str, types.ModuleType]) -> None:
    with pytest.raises(ValueError, match="registers no reuse target"):
        measure("empty", fixture_plugins["core"], [])
    with pytest.raises(ValueError, match="'core' names an owner"):
        measure("core", fixture_plugins["core"], collect_targets(fixture_plugins["core"]))

    class NoBatch:
        @staticmethod
        def tinytorch_register_reuse_targets(register: Any) -> None:
            register("m", lambda: nn.Linear(2, 2))

    with pytest.raises(ValueError, match=r"reuse target 'm' of plugin 'nobatch' has no sample_batch"):
        collect_targets(NoBatch(), "nobatch")
    not_a_module = ReuseTarget("bad", lambda: object(), _batch)  # type: ignore[arg-type, return-value]
    with pytest.raises(TypeError, match="returned object, not a Module"):
        measure_target(not_a_module, {__name__: "me"}, RuntimeTally())
    wrong_shape = ReuseTarget("shape", lambda: nn.Linear(5, 2), _batch)
    with pytest.raises(RuntimeError, match="reuse target 'shape': forward \\+ backward on sample_batch\\(\\) failed"):
        measure_target(wrong_shape, {__name__: "me"}, RuntimeTally())


def test_fixture_ops_pass_gradcheck(fixture_plugins: dict[str, types.ModuleType]) -> None:
    """The fixtures' own ops are real differentiable ops: check them like any other."""
    from reuse_fixture_op.plugin import Softplus
    from reuse_fixture_own.layers import OwnLinearFunction, OwnReLUFunction

    rng = np.random.default_rng(3)
    x = Tensor(rng.standard_normal((4, 3)), requires_grad=True, dtype=np.float64)
    w = Tensor(rng.standard_normal((2, 3)), requires_grad=True, dtype=np.float64)
    b = Tensor(rng.standard_normal(2), requires_grad=True, dtype=np.float64)
    assert gradcheck(lambda: OwnLinearFunction.apply(x, w, b), [x, w, b])
    assert gradcheck(lambda: Softplus.apply(x), [x])
    away_from_kink = Tensor(np.where(np.abs(x.data) < 0.1, 0.5, x.data), requires_grad=True, dtype=np.float64)
    assert gradcheck(lambda: OwnReLUFunction.apply(away_from_kink), [away_from_kink])


def test_to_json_round_trips_and_unknown_metric_names_the_known_ones(reports: dict[str, ReuseReport]) -> None:
    import json

    report = reports["own"]
    data = json.loads(report.to_json())
    assert data == report.to_dict()
    assert data["headline"] == {"metric": HEADLINE_METRIC, "reused_percent": 12.5,
                                "percent_by_owner": {"core": 12.5, "own_fixture": 87.5}}
    assert report.to_json() == report.to_json(), "serialisation must be deterministic"
    with pytest.raises(KeyError, match=r"metrics: runtime components \(types\), runtime components"):
        report.metric("flops")


# ---------------------------------------------------------------- what moving scatter to the core buys
_SRC = np.array([0, 1, 2, 3, 4, 5, 0, 2])
_DST = np.array([1, 2, 3, 4, 5, 0, 3, 5])


class _OwnScatter(Function):
    """What a graph plugin had to write before the core had index_add."""

    @staticmethod
    def forward(ctx: Context, messages: Any, index: Any, n: int) -> Any:
        out = np.zeros((n, messages.shape[1]), dtype=messages.dtype)
        np.add.at(out, index, messages)
        ctx.index = index
        return out

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple[Any, None, None]:
        return grad[ctx.index], None, None


class _MessagePassing(nn.Module):
    """One graph-convolution step: messages along edges, summed into their target nodes."""

    def __init__(self, core_scatter: bool) -> None:
        super().__init__()
        self.core_scatter = core_scatter
        self.message = nn.Linear(4, 4)
        self.head = nn.Linear(4, 3)

    def forward(self, x: Tensor) -> Tensor:
        messages = self.message(x[_SRC])
        if self.core_scatter:
            summed = tt.index_add(Tensor(np.zeros((6, 4), dtype=np.float32)), 0, _DST, messages)
        else:
            summed = _OwnScatter.apply(messages, _DST, 6)
        out: Tensor = self.head(summed.relu())
        return out


def _graph_batch() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    return np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32), np.array([0, 1, 2, 0, 1, 2])


def test_core_index_add_moves_the_scatter_from_the_plugin_to_the_core() -> None:
    """The measurement behind moving scatter/index_add into the core: a graph plugin's own scatter
    Function counts as its own work; the core op counts as reuse."""
    own = measure("graph", __name__, [ReuseTarget("own", lambda: _MessagePassing(False), _graph_batch)], repeats=1)
    core = measure("graph", __name__, [ReuseTarget("core", lambda: _MessagePassing(True), _graph_batch)], repeats=1)
    owners = {c.name: c.owner for c in own.components + core.components}
    assert owners[f"{__name__}._OwnScatter"] == "graph" and owners["tinytorch_core.scatter._IndexAdd"] == "core"
    assert own.headline.own == core.headline.own + 1  # the one op it no longer writes
    assert core.headline.percent > own.headline.percent
    print(f"graph step reused: {own.headline.percent:.1f}% with its own scatter, {core.headline.percent:.1f}% with"
          " tinytorch_core.index_add")
