"""``check_plugin``: does a plugin keep the promises every TinyTorch plugin makes?

Checks, each reported as a :class:`Failure` (an empty list means the plugin conforms):

- entry point: it resolves, and its name matches the distribution (``NAME`` or ``tinytorch-NAME``)
  so users can enable and disable it by either name;
- hooks: every hookimpl validates (names, arguments, no defaults) and the registration hooks run;
- requirements: the installed plugins it declares in ``tinytorch_requires`` load first (only its own
  components are checked);
- clashes: none of its component names clash with the other installed plugins';
- modules: forward on ``sample_input``, float64 finite-difference gradient check, ``state_dict`` round trip;
- datasets: batches from ``sample_config`` have one consistent schema (train and val) and are
  identical when rebuilt under the same seed;
- tokenizers: ``decode(encode(sample_text)) == sample_text``;
- models: a few Adam steps on the fixed ``sample_batch`` lower the loss;
- commands: ``tinytorch NAME --help`` works.
"""

from __future__ import annotations

import argparse
import contextlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from registry import discovery
from registry.components import Component
from registry.errors import DuplicateComponentError, PluginError, names_list

#: Models and modules bigger than this get their gradient checked on inputs and a few small
#: parameters only: central differences cost two forward passes per element.
GRADCHECK_MAX_ELEMENTS = 2000

#: Adam steps the model check may take before the loss must have gone down.
MODEL_CHECK_STEPS = 5


@dataclass(frozen=True)
class Failure:
    """One failed check: which check, on which component, and what went wrong."""

    check: str
    component: str
    message: str

    def __str__(self) -> str:
        return f"[{self.check}] {self.component}: {self.message}"


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _isolated_manager() -> Any:
    from registry.manager import PluginManager

    manager = PluginManager(trace=False)
    manager.load(discovery=False, env={})
    return manager


def check_plugin(name_or_module: str | ModuleType | object) -> list[Failure]:
    """Run the conformance checks on an installed plugin (by entry-point name) or a plugin object."""
    if not isinstance(name_or_module, str):
        name = getattr(name_or_module, "__name__", type(name_or_module).__name__).rsplit(".", 1)[-1]
        return check_plugin_object(name_or_module, name)
    name = name_or_module
    installed = [p for p in discovery.discover() if p.name == name]
    if not installed:
        available = [p.name for p in discovery.discover()]
        return [Failure("entry point", name, f"no installed plugin named {name!r} in the entry-point group"
                        f" {discovery.ENTRY_POINT_GROUP!r}; installed: {names_list(available)}")]
    failures: list[Failure] = []
    entry = installed[0]
    if len(installed) > 1:
        dists = ", ".join(str(p.distribution) for p in installed)
        failures.append(Failure("entry point", name, f"declared by several distributions: {dists}"))
    if entry.source == "third-party" and entry.distribution is not None:
        dist = discovery.normalize_distribution(entry.distribution)
        if dist not in (name, f"tinytorch-{name}"):
            failures.append(Failure(
                "entry point", name,
                f"entry-point name {name!r} does not match distribution {entry.distribution!r};"
                f" name the entry point after the distribution (tinytorch-{name} -> {name}) so users can"
                " enable and disable it by either name",
            ))
    try:
        plugin = entry.load()
    except Exception as exc:  # third-party import-time failure
        return failures + [Failure("entry point", name, f"{entry.target} does not import: {_describe(exc)}")]
    return failures + check_plugin_object(plugin, name, installed_name=name)


def check_plugin_object(plugin: object, name: str, *, installed_name: str | None = None) -> list[Failure]:
    """The checks that need only the plugin object (and, for clashes, the other installed plugins)."""
    manager = _isolated_manager()
    try:
        _register_requirements(manager, plugin, name)
    except Exception as exc:  # a required plugin that does not load: report, do not crash
        return [Failure("requirements", name, f"a required plugin does not load: {_describe(exc)}")]
    try:
        manager.register(plugin, name=name)
    except PluginError as exc:
        return [Failure("hooks", name, str(exc))]
    failures = _check_clashes(plugin, name, installed_name)
    checks: dict[str, Callable[[Component], list[Failure]]] = {
        "modules": check_module,
        "datasets": check_dataset,
        "tokenizers": check_tokenizer,
        "models": check_model,
        "commands": check_command,
        "modalities": check_modality,
    }
    for kind, check in checks.items():
        for component in (c for c in manager.list(kind) if c.plugin == name):
            try:
                failures.extend(check(component))
            except Exception as exc:  # a check must report, never crash the run
                failures.append(Failure(kind, component.name, f"check crashed: {_describe(exc)}"))
    return failures


def _register_requirements(manager: Any, plugin: object, name: str) -> None:
    """Register the installed plugins ``plugin`` requires (and theirs), required ones first."""
    from registry.dependencies import read_requires

    try:
        requirements = read_requires(plugin, name)
    except ValueError:
        return  # the hooks check reports the malformed declaration
    installed = {p.name: p for p in discovery.discover()}
    for requirement in requirements:
        if requirement.name in manager.plugins or requirement.name not in installed:
            continue  # missing ones: the hooks check reports them
        required = installed[requirement.name].load()
        _register_requirements(manager, required, requirement.name)
        manager.register(required, name=requirement.name)


def _check_clashes(plugin: object, name: str, installed_name: str | None) -> list[Failure]:
    """Load the other installed plugins (leniently) and register this one beside them."""
    from registry.manager import PluginManager

    manager = PluginManager(trace=False)
    others = [p.name for p in discovery.discover() if p.name != (installed_name or name)]
    manager.load(env={"TINYTORCH_PLUGINS": ",".join(others)}, raise_on_failure=False, warn=False)
    try:
        manager.register(plugin, name=name)
    except DuplicateComponentError as exc:
        return [Failure("clashes", name, str(exc))]
    except PluginError:
        return []  # already reported by the hooks check
    return []


def _float64_inputs(values: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """Inputs converted for a float64 check: floating tensors/arrays become float64 leaf tensors."""
    from tinytorch_core import Tensor

    converted: list[Any] = []
    leaves: list[Any] = []
    for value in values:
        data = value.data if isinstance(value, Tensor) else value
        if isinstance(data, np.ndarray) and np.issubdtype(data.dtype, np.floating):
            leaf = Tensor(data.astype(np.float64), requires_grad=True, dtype=np.float64)
            converted.append(leaf)
            leaves.append(leaf)
        else:
            converted.append(value)
    return converted, leaves


def _first_tensor(output: Any) -> Any:
    from tinytorch_core import Tensor

    if isinstance(output, Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], Tensor):
        return output[0]
    raise TypeError(f"forward returned {type(output).__name__}, expected a Tensor")


def _sample_tuple(sample: Any, what: str) -> tuple[Any, ...]:
    if not callable(sample):
        raise TypeError(f"{what} must be a zero-argument callable")
    value = sample()
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def check_module(component: Component) -> list[Failure]:
    """Forward on ``sample_input``, float64 gradient check, ``state_dict`` round trip."""
    from tinytorch_core import manual_seed
    from tinytorch_core.gradcheck import gradcheck

    name, meta = component.name, component.meta
    if "sample_input" not in meta:
        return [Failure("modules", name, "no sample_input metadata: register(..., sample_input=lambda: (x,))")]
    kwargs = dict(meta.get("kwargs", {}))
    manual_seed(0)
    module = component.obj(**kwargs)
    module.eval()  # dropout off: the check must be deterministic
    inputs = _sample_tuple(meta["sample_input"], "sample_input")
    try:
        output = _first_tensor(module(*inputs))
    except Exception as exc:  # plugin code
        return [Failure("modules", name, f"forward on sample_input failed: {_describe(exc)}")]
    failures: list[Failure] = []
    if not np.all(np.isfinite(output.data)):
        failures.append(Failure("modules", name, "forward on sample_input gave non-finite values"))

    manual_seed(1)
    fresh = component.obj(**kwargs)
    fresh.eval()
    try:
        fresh.load_state_dict(module.state_dict())
        again = _first_tensor(fresh(*inputs))
        if not np.array_equal(again.data, output.data):
            failures.append(Failure("modules", name, "state_dict round trip changed the output"))
    except Exception as exc:  # plugin code
        failures.append(Failure("modules", name, f"state_dict round trip failed: {_describe(exc)}"))

    module.double()
    converted, leaves = _float64_inputs(inputs)
    params = sorted(module.parameters(), key=lambda p: p.data.size)
    budget = GRADCHECK_MAX_ELEMENTS - sum(leaf.data.size for leaf in leaves)
    for param in params:
        if param.data.size <= budget:
            leaves.append(param)
            budget -= param.data.size
    if not leaves:
        return failures + [Failure("modules", name, "nothing to gradient-check: no floating input or small parameter")]
    try:
        gradcheck(lambda: _first_tensor(module(*converted)), leaves)
    except Exception as exc:  # GradcheckError or plugin code
        failures.append(Failure("modules", name, f"float64 gradient check failed: {_describe(exc)}"))
    return failures


def _schema(batch: Sequence[np.ndarray]) -> list[tuple[str, tuple[int, ...]]]:
    return [(str(np.asarray(a).dtype), tuple(np.asarray(a).shape[1:])) for a in batch]


def _batches(component: Component, count: int) -> tuple[list[tuple[np.ndarray, ...]], list[tuple[np.ndarray, ...]]]:
    from tinytorch_core import manual_seed
    from tinytorch_core.data import DataLoader

    manual_seed(0)
    splits = component.obj(**dict(component.meta.get("sample_config", {})))
    train = list(_take(DataLoader(splits.train, batch_size=4, shuffle=True, seed=0), count))
    val = [] if splits.val is None else list(_take(DataLoader(splits.val, batch_size=4), 1))
    return train, val


def _take(loader: Any, count: int) -> list[tuple[np.ndarray, ...]]:
    out: list[tuple[np.ndarray, ...]] = []
    for batch in loader:
        out.append(tuple(np.asarray(a) for a in batch))
        if len(out) == count:
            break
    return out


def check_dataset(component: Component) -> list[Failure]:
    """Batches share one schema (dtype and per-example shape), train and val; same seed -> same batches."""
    name = component.name
    if "sample_config" not in component.meta:
        return [Failure("datasets", name, "no sample_config metadata: register(..., sample_config={...small kwargs})")]
    train, val = _batches(component, 2)
    if not train:
        return [Failure("datasets", name, "the training split yields no batch")]
    failures: list[Failure] = []
    expected = _schema(train[0])
    declared = component.meta.get("schema")
    for label, batch in [("train", b) for b in train] + [("val", b) for b in val]:
        if _schema(batch) != expected:
            failures.append(Failure("datasets", name, f"{label} batch schema {_schema(batch)} differs from {expected}"))
    if declared is not None and [tuple(s) for s in declared] != [(d, s) for d, s in expected]:
        failures.append(Failure("datasets", name, f"batches have schema {expected}, declared {declared}"))
    train_again, _ = _batches(component, 2)
    if len(train_again) != len(train) or any(
        not np.array_equal(a, b) for first, second in zip(train, train_again) for a, b in zip(first, second)
    ):
        failures.append(Failure("datasets", name, "batches differ when rebuilt with the same seed (not deterministic)"))
    return failures


def check_tokenizer(component: Component) -> list[Failure]:
    """``decode(encode(sample_text)) == sample_text`` (after ``train`` for trainable tokenizers)."""
    name, meta = component.name, component.meta
    text = meta.get("sample_text")
    if not isinstance(text, str) or not text:
        return [Failure("tokenizers", name, "no sample_text metadata: register(..., sample_text=\"...\")")]
    tokenizer = component.obj()
    if meta.get("trainable"):
        tokenizer.train(text, int(meta.get("vocab_size", 300)))
    ids = tokenizer.encode(text)
    decoded = tokenizer.decode(ids)
    if decoded != text:
        return [Failure("tokenizers", name, f"round trip changed the text: {text[:40]!r} -> {decoded[:40]!r}")]
    return []


def check_model(component: Component) -> list[Failure]:
    """A few Adam steps on the fixed ``sample_batch`` lower the loss."""
    from tinytorch_core import manual_seed
    from tinytorch_core.optim import Adam
    from tinytorch_core.training import default_step

    name, meta = component.name, component.meta
    if "sample_batch" not in meta:
        return [Failure("models", name, "no sample_batch metadata: register(..., sample_batch=lambda: (x, y))")]
    manual_seed(0)
    model = component.obj(**dict(meta.get("sample_kwargs", {})))
    model.eval()  # dropout off: the loss must be comparable between steps
    batch = _sample_tuple(meta["sample_batch"], "sample_batch")
    loss_fn: Callable[[Any, Sequence[Any]], Any] = meta.get("loss_fn") or default_step
    optimizer = Adam(model.parameters(), lr=float(meta.get("check_lr", 1e-2)))
    first = float(loss_fn(model, batch).item())
    if not np.isfinite(first):
        return [Failure("models", name, f"loss on sample_batch is {first}")]
    last = first
    for _ in range(MODEL_CHECK_STEPS):
        optimizer.zero_grad()
        loss = loss_fn(model, batch)
        loss.backward()
        optimizer.step()
        last = float(loss_fn(model, batch).item())
        if last < first:
            return []
    return [Failure("models", name, f"{MODEL_CHECK_STEPS} Adam steps did not lower the loss ({first:.4g} -> {last:.4g})")]


def check_command(component: Component) -> list[Failure]:
    """``tinytorch NAME --help`` exits 0."""
    parser = argparse.ArgumentParser(prog=f"tinytorch {component.name}", description=component.description)
    arguments = component.meta.get("arguments")
    buffer = io.StringIO()
    if arguments is not None:
        try:
            arguments(parser)
        except Exception as exc:  # plugin code
            return [Failure("commands", component.name, f"arguments(parser) raised {_describe(exc)}")]
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            parser.parse_args(["--help"])
    except SystemExit as exit_:
        if exit_.code in (0, None):
            return []
        return [Failure("commands", component.name, f"--help exited with {exit_.code}: {buffer.getvalue()[-200:]}")]
    return [Failure("commands", component.name, "--help did not exit")]


def check_modality(component: Component) -> list[Failure]:
    """A modality's object is its one-line description."""
    if not isinstance(component.obj, str) or not component.obj.strip():
        return [Failure("modalities", component.name, "register(name, description) needs a non-empty description string")]
    return []
