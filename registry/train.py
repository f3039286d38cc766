"""``tinytorch train CONFIG``: build data, model, optimizer and trainer from a config and run it.

``[data] name`` selects a registered dataset factory and ``[model] name`` a model factory; the
other keys are their keyword arguments (checked against the factory's signature). Entries of the
dataset's ``DataSplits.info`` whose names are parameters of the model factory (``vocab_size``,
``block_size``, ``num_classes``, ``tokenizer``...) are passed too, unless the config sets them.
The run directory receives a copy of the config, the resolved config as JSON, ``metrics.jsonl``
and ``checkpoints/last.safetensors``; trainer events are forwarded to the ``tinytorch_on_*`` hooks.
"""

from __future__ import annotations

import argparse
import errno
import inspect
import json
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from registry.components import Component
from registry.config import Config, check_kwargs, check_type, display_path
from registry.data_parallel import data_parallel_for
from registry.errors import CommandError, ComponentNotFoundError, ConfigError, RegistryError, did_you_mean
from registry.manager import PluginManager
from registry.observers import Observers
from registry.run_dir import plan_run
from tinytorch_core.data import Dataset, Subset
from tinytorch_core.fileio import atomic_write_text
from tinytorch_core.training import Callback, History, Trainer, TrainingDivergedError

OPTIMIZERS = ("adamw", "adam", "sgd")
DEFAULT_BATCH_SIZE = 32
DEFAULT_EVAL_BATCHES = 50


@dataclass
class TrainResult:
    """What a run produced: the trainer's history and where its files are."""

    history: History
    run_dir: Path
    final_train_loss: float | None
    final_val_loss: float | None


class HookCallback(Callback):
    """Forwards trainer events to the ``tinytorch_on_*`` hooks of every enabled plugin.

    Each plugin's hook is called on its own (:class:`registry.observers.Observers`): one that raises
    is reported as a warning naming it, and the run goes on.
    """

    def __init__(self, manager: PluginManager, config: Mapping[str, Any]) -> None:
        self.manager = manager
        self.config = config
        self.observers = Observers(manager.pm)

    def on_train_start(self, trainer: Trainer) -> None:
        """``tinytorch_on_train_start(trainer, config)``."""
        self.observers.call("tinytorch_on_train_start", trainer=trainer, config=self.config)

    def on_step_end(self, trainer: Trainer, step: int, loss: float) -> None:
        """``tinytorch_on_step_end(trainer, step, loss)``."""
        self.observers.call("tinytorch_on_step_end", trainer=trainer, step=step, loss=loss)

    def on_eval_end(self, trainer: Trainer, step: int, metrics: Mapping[str, float]) -> None:
        """``tinytorch_on_eval_end(trainer, step, metrics)``."""
        self.observers.call("tinytorch_on_eval_end", trainer=trainer, step=step, metrics=metrics)

    def on_train_end(self, trainer: Trainer) -> None:
        """``tinytorch_on_train_end(trainer, config)``."""
        self.observers.call("tinytorch_on_train_end", trainer=trainer, config=self.config)
        self.observers.summary()


def _parameters(factory: Callable[..., Any]) -> tuple[set[str], bool]:
    """(named parameters, whether it takes ``**kwargs``)."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return set(), True
    named = {n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return named, any(p.kind is p.VAR_KEYWORD for p in params.values())


def _section_kwargs(config: Config, section: str, manager: PluginManager, kind: str) -> tuple[Component, dict[str, Any]]:
    table = dict(config.section(section))
    if "name" not in table:
        raise ConfigError(f"{config.where(section)} needs name = \"<a registered {kind[:-1]}>\"; registered {kind}:"
                          f" {', '.join(manager.components.names(kind)) or '(none: enable a plugin)'}")
    component = _named(manager, kind, str(table.pop("name")), config.where(section, "name"))
    check_kwargs(component.obj, table, config.where(section),
                 f"{kind[:-1]} {component.name!r} (plugin {component.plugin!r})")
    check_kwarg_types(component.obj, table, config.where(section))
    return component, table


def _named(manager: PluginManager, kind: str, name: str, where: str) -> Component:
    """``manager.get``, with the config key that named the component in the message."""
    try:
        return manager.get(kind, name)
    except ComponentNotFoundError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def check_kwarg_types(factory: Callable[..., Any], kwargs: Mapping[str, Any], where: str) -> None:
    """A value whose parameter defaults to a bool/int/float/str must be of that type (ints pass for floats)."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return
    for key, value in kwargs.items():
        default = params[key].default if key in params else None
        if type(default) in (bool, int, float, str):
            check_type(value, type(default), f"{where} {key}")


def _describe(exc: BaseException) -> str:
    """An exception as text that is never just its class name."""
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    if (isinstance(exc, (ValueError, OSError)) or (isinstance(exc, KeyError) and " " in text)) and text:
        return text  # these carry a sentence; a KeyError with a bare key does not
    return f"{type(exc).__name__}: {text}" if text else f"{type(exc).__name__} (no message)"


def build_component(component: Component, kwargs: Mapping[str, Any], where: str) -> Any:
    """Call a registered factory; what it raises becomes one line naming the config section and plugin."""
    try:
        return component.obj(**kwargs)
    except RegistryError:
        raise
    except Exception as exc:
        raise ConfigError(f"{where}: {component.kind[:-1]} {component.name!r} (plugin {component.plugin!r}) failed"
                          f" with these settings: {_describe(exc)}; fix the value in {where}"
                          " (--debug shows the traceback)") from exc


#: ``[train]`` keys that must be positive (> 0) or non-negative (>= 0).
POSITIVE = ("steps", "epochs", "batch_size", "eval_every", "eval_batches", "grad_accum_steps", "checkpoint_every",
            "grad_clip", "lr")
NON_NEGATIVE = ("warmup_steps", "log_every", "weight_decay", "min_lr", "momentum", "eps")


def check_train_values(config: Config) -> None:
    """Ranges of the ``[train]`` numbers, so a bad value is named by its key, not by where it breaks."""
    train = config.section("train")
    for key in POSITIVE + NON_NEGATIVE:
        value = train.get(key)
        if value is None:
            continue
        bound = "> 0" if key in POSITIVE else ">= 0"
        if not (value > 0 if key in POSITIVE else value >= 0) or value != value or value == float("inf"):
            raise ConfigError(f"{config.where('train', key)} must be a finite number {bound}, got {value!r}")
    betas = train.get("betas")
    if betas is not None and (len(betas) != 2 or not all(
            isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1 for b in betas)):
        raise ConfigError(f"{config.where('train', 'betas')} must be two numbers in [0, 1), e.g. [0.9, 0.999];"
                          f" got {betas!r}")


def build_optimizer(model: Any, train: Mapping[str, Any], where: str) -> Any:
    """AdamW/Adam/SGD over the model's parameters; weight decay only on >= 2-D parameters (weights,
    not biases or norm gains)."""
    from tinytorch_core import optim

    name = str(train.get("optimizer", "adamw")).lower()
    if name not in OPTIMIZERS:
        raise ConfigError(f"{where} optimizer: unknown optimizer {name!r}{did_you_mean(name, OPTIMIZERS)};"
                          f" choose one of {', '.join(OPTIMIZERS)}")
    lr = float(train.get("lr", 1e-3))
    decay = float(train.get("weight_decay", 0.01 if name == "adamw" else 0.0))
    groups = [g for g in optim.optimizer_groups(model.parameters(), decay) if g["params"]]
    if not groups:
        raise ConfigError(f"the model has no parameters to train ({where})")
    if name == "sgd":
        return optim.SGD(groups, lr=lr, momentum=float(train.get("momentum", 0.0)),
                         nesterov=bool(train.get("nesterov", False)))
    betas_list = train.get("betas", [0.9, 0.999])
    if len(betas_list) != 2:
        raise ConfigError(f"{where} betas must have two numbers, e.g. [0.9, 0.999]; got {betas_list!r}")
    betas = (float(betas_list[0]), float(betas_list[1]))
    cls = optim.AdamW if name == "adamw" else optim.Adam
    return cls(groups, lr=lr, betas=betas, eps=float(train.get("eps", 1e-8)))


def _named_entries(entries: Any, where: str, kind: str) -> list[tuple[str, dict[str, Any]]]:
    """``["name", {name = "other", key = value}]`` as ``(name, kwargs)`` pairs ([train] callbacks and metrics)."""
    pairs: list[tuple[str, dict[str, Any]]] = []
    for entry in entries:
        if isinstance(entry, str):
            pairs.append((entry, {}))
        elif isinstance(entry, dict) and isinstance(entry.get("name"), str):
            pairs.append((entry["name"], {k: v for k, v in entry.items() if k != "name"}))
        else:
            raise ConfigError(f"{where}: entries are {kind} names or {{name = ..., ...}} tables, got {entry!r}")
    return pairs


def _built(manager: PluginManager, kind: str, pairs: list[tuple[str, dict[str, Any]]], where: str,
           info: Mapping[str, Any]) -> list[Any]:
    """Each named component of ``kind`` built with its kwargs, dataset ``info`` filling parameters it names."""
    made: list[Any] = []
    for name, kwargs in pairs:
        component = _named(manager, kind, name, where)
        named, _ = _parameters(component.obj)
        kwargs.update({key: value for key, value in info.items() if key in named and key not in kwargs})
        check_kwargs(component.obj, kwargs, where, f"{kind[:-1]} {name!r} (plugin {component.plugin!r})")
        made.append(build_component(component, kwargs, where))
    return made


def _callbacks(config: Config, manager: PluginManager) -> list[Callback]:
    where = config.where("train", "callbacks")
    return _built(manager, "callbacks", _named_entries(config.section("train").get("callbacks", []), where, "callback"),
                  where, {})


def _metrics(config: Config, manager: PluginManager, model: Component, info: Mapping[str, Any]) -> list[Any]:
    """The metrics named by ``[train] metrics`` (names or ``{name = ..., key = value}`` tables), else those
    the model's registration lists in its ``metrics`` metadata; dataset info fills matching parameters."""
    entries = config.section("train").get("metrics")
    where = config.where("train", "metrics")
    if entries is None:
        entries, where = list(model.meta.get("metrics", ())), f"model {model.name!r} (plugin {model.plugin!r}) metrics"
    return _built(manager, "metrics", _named_entries(entries, where, "metric"), where, info)


def _evaluation_sample(val: Dataset, size: int, seed: int | None) -> Dataset:
    """The validation set, or a fixed random subset of ``size`` samples when it is larger.

    Evaluation reads the first ``eval_batches`` batches; a random subset (the same every
    evaluation) keeps that a fair sample even when neighbouring samples are alike, e.g. the
    overlapping windows of a text corpus.
    """
    if size <= 0 or len(val) <= size:
        return val
    picks = np.sort(np.random.default_rng(seed).choice(len(val), size=size, replace=False))
    return Subset(val, picks)


def run_directory(config: Config) -> Path:
    """``[output] dir``, default ``runs/<config stem>`` (relative to the working directory)."""
    configured = config.section("output").get("dir")
    stem = config.path.stem if config.path is not None else "run"
    return Path(configured) if configured else Path("runs") / stem


def train_from_config(
    config: Config,
    manager: PluginManager,
    *,
    run_dir: Path | None = None,
    resume: Path | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> TrainResult:
    """Build everything the config names and train; returns the history and the run directory.

    Nothing is written until the config, data, model (and, resuming, the checkpoint) are validated;
    the run directory is chosen and locked by :func:`registry.run_dir.plan_run`.
    """
    from tinytorch_core import manual_seed
    from tinytorch_core.data import DataLoader

    train = config.section("train")
    where = config.where("train")
    steps = train.get("steps")
    epochs = train.get("epochs")
    if steps is None and epochs is None:
        raise ConfigError(f"{where} needs steps = N (optimizer steps to take)")
    check_train_values(config)
    batch_size = int(train.get("batch_size", DEFAULT_BATCH_SIZE))
    # Early, so that under mpiexec any later error on one rank ends every rank (registry.cli.main).
    parallel = data_parallel_for(train, where, batch_size)  # None unless launched by mpiexec
    seed = int(train.get("seed", 0))
    manual_seed(seed)

    dataset, data_kwargs = _section_kwargs(config, "data", manager, "datasets")
    splits = build_component(dataset, data_kwargs, config.where("data"))
    if not hasattr(splits, "train"):
        raise ConfigError(f"dataset {dataset.name!r} (plugin {dataset.plugin!r}) returned"
                          f" {type(splits).__name__}, not tinytorch_core.data.DataSplits")
    model_component, model_kwargs = _section_kwargs(config, "model", manager, "models")
    named, _ = _parameters(model_component.obj)
    for key, value in getattr(splits, "info", {}).items():
        if key in named and key not in model_kwargs:
            model_kwargs[key] = value
    model = build_component(model_component, model_kwargs, config.where("model"))

    optimizer = build_optimizer(model, train, where)
    scheduler = None
    total = int(steps) if steps is not None else None
    if ("warmup_steps" in train or train.get("cosine")) and total is not None:
        from tinytorch_core.optim import WarmupCosineLR

        warmup = int(train.get("warmup_steps", 0))
        if total >= 1 and warmup >= total and (parallel is None or parallel.is_main):
            # A short run of a long config (--set train.steps=50): warm up over all but the last step.
            print(f"note: {where} warmup_steps={warmup} is not below steps={total}; "
                  f"warming up over {total - 1} steps", file=sys.stderr)
            warmup = total - 1
        scheduler = WarmupCosineLR(optimizer, warmup_steps=warmup, total_steps=total,
                                   min_lr=float(train.get("min_lr", 0.0)))

    train_loader: Any = DataLoader(splits.train, batch_size=batch_size, shuffle=bool(train.get("shuffle", True)),
                                   drop_last=len(splits.train) > batch_size, seed=seed)
    eval_batches = int(train.get("eval_batches", DEFAULT_EVAL_BATCHES))
    val_loader: Any = None if splits.val is None else DataLoader(
        _evaluation_sample(splits.val, eval_batches * batch_size, seed), batch_size=batch_size)
    if parallel is not None:  # each rank takes its share of every global batch
        train_loader = parallel.shard(train_loader)
        val_loader = None if val_loader is None else parallel.shard(val_loader, even=False)

    loss_fn = model_component.meta.get("loss_fn")
    trainer = Trainer(
        model,
        optimizer,
        step_fn=loss_fn,
        grad_clip=train.get("grad_clip"),
        scheduler=scheduler,
        grad_accum_steps=int(train.get("grad_accum_steps", 1)),
        eval_every=train.get("eval_every"),
        eval_batches=eval_batches,
        checkpoint_every=train.get("checkpoint_every"),
        # Plugin hooks and [train] callbacks (samples, accuracy, TensorBoard) run on rank 0 only; the
        # Trainer shares a stop_training they set with every rank.
        callbacks=[HookCallback(manager, config.data), *_callbacks(config, manager)]
        if parallel is None or parallel.is_main else [],
        progress=progress and bool(train.get("progress", True)),
        log_every=int(train.get("log_every", 100)),
        metrics=_metrics(config, manager, model_component, getattr(splits, "info", {})),
        distributed=parallel,
    )
    # Only rank 0 of a data-parallel run chooses, locks and writes the run directory.
    main = parallel is None or parallel.is_main
    plan = plan_run(config, run_dir or run_directory(config), resume=resume, overwrite=overwrite) if main else None
    try:
        if plan is not None and plan.note:
            print(f"note: {plan.note}", file=sys.stderr)
        directory = plan.directory if plan is not None else (resume or run_dir or run_directory(config))
        if plan is not None:
            trainer.run_dir = directory
        trainer.resume_hint = f"tinytorch train {config.name} --resume {display_path(directory)}"
        if resume is not None:
            _resume_trainer(trainer, directory, train_loader)
            if total is not None and trainer.step >= total:  # training again would only log the end twice
                if main:
                    print(f"note: {display_path(directory)} already reached step {trainer.step} of {total};"
                          f" nothing to train: raise train.steps (e.g. --set train.steps={2 * total}) to continue"
                          " it", file=sys.stderr)
                return TrainResult(History(steps=trainer.step), directory, None, None)
        if plan is not None:
            _save_config_copy(config, directory, keep_toml=resume is not None)
        try:
            history = trainer.fit(train_loader, val_loader, max_steps=total, epochs=epochs)
        except TrainingDivergedError as exc:
            raise ConfigError(_diverged(exc, config, trainer)) from exc
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            raise CommandError(f"{exc}: the disk is full; free some space (or set [output] dir on another disk),"
                               f" then continue with {trainer.resume_hint}") from exc
    finally:
        if plan is not None:
            plan.release()
    tail = history.train_loss[-10:]
    return TrainResult(
        history=history,
        run_dir=directory,
        final_train_loss=sum(tail) / len(tail) if tail else None,
        final_val_loss=history.val_loss[-1][1] if history.val_loss else None,
    )


def _rank() -> int:
    group = sys.modules.get("tinytorch_core.distributed.group")
    return int(group.rank()) if group is not None else 0


def _resume_trainer(trainer: Trainer, directory: Path, train_loader: Any) -> None:
    """Load the run's checkpoint (which also cuts its metrics back to the checkpoint's step)."""
    from tinytorch_core.serialization import CheckpointError

    checkpoint = directory / "checkpoints" / "last.safetensors"
    try:
        trainer.resume(checkpoint, train_loader)
    except (CheckpointError, KeyError, ValueError) as exc:
        raise ConfigError(f"--resume {display_path(directory)}: cannot continue from {display_path(checkpoint)}:"
                          f" {_describe(exc)}; resume with the config the run was started with, or start a new"
                          " run without --resume") from exc


def _diverged(exc: TrainingDivergedError, config: Config, trainer: Trainer) -> str:
    lr = config.section("train").get("lr", 1e-3)
    kept = trainer.checkpoint_path
    saved = (f"; the last good checkpoint is {display_path(kept)}" if kept is not None and kept.exists()
             else "")
    clip = "" if config.section("train").get("grad_clip") else " or set grad_clip = 1.0"
    return (f"training diverged at step {exc.step} (loss {exc.loss}): lower {config.where('train', 'lr')}"
            f" (now {lr:g}, e.g. --set train.lr={float(lr) / 10:g}){clip} in {config.where('train')}{saved}")


def _save_config_copy(config: Config, directory: Path, *, keep_toml: bool = False) -> None:
    """``config.toml`` (the file as written) and ``config.json`` (after ``--set`` overrides).

    A resumed run keeps the ``config.toml`` it was started with; ``config.json`` records what it runs with now.
    """
    if config.path is not None and not (keep_toml and (directory / "config.toml").exists()):
        atomic_write_text(directory / "config.toml", config.path.read_text(encoding="utf-8"))
    atomic_write_text(directory / "config.json", json.dumps(config.data, indent=2, default=str) + "\n")


def run_train(args: argparse.Namespace, manager: PluginManager, config: Config) -> int:
    """The ``tinytorch train`` command."""
    resume = Path(args.resume) if args.resume else None
    started = time.perf_counter()
    result = train_from_config(config, manager, resume=resume, progress=not args.no_progress,
                               overwrite=bool(getattr(args, "overwrite", False)))
    wall = time.perf_counter() - started
    if _rank() != 0:  # in a data-parallel run rank 0 reports for all
        return 0
    parts = [f"steps {result.history.steps}"]
    if result.final_train_loss is not None:
        parts.append(f"final train loss {result.final_train_loss:.4f}")
    if result.final_val_loss is not None:
        parts.append(f"val loss {result.final_val_loss:.4f}")
    print("; ".join(parts))
    print(f"run directory: {display_path(result.run_dir)}")
    # Last line: how long the job took (data, model, training, evaluation, sample) and its pace.
    print(f"wall time {wall:.1f} s; {result.history.steps / wall if wall > 0 else 0.0:.2f} steps/s")
    return 0
