"""The domain-agnostic training loop: batches in, optimizer steps out.

How a batch becomes a loss is a pluggable ``step_fn(model, batch) -> Tensor``; everything else
(accumulation, clipping, schedules, evaluation, checkpoints, metrics, progress, resume) lives here.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard

import numpy as np

from tinytorch_core.metrics import Metric
from tinytorch_core.nn import Module
from tinytorch_core.serialization import CheckpointError, Stateful, load_checkpoint, resolve_checkpoint_path, save_checkpoint
from tinytorch_core.tensor import get_rng
from tinytorch_core.training.callbacks import Callback
from tinytorch_core.training.metrics_log import MetricsLog
from tinytorch_core.training.progress import Progress
from tinytorch_core.training.run_files import cut_metrics
from tinytorch_core.training.evaluation import checked_loss, evaluate_batches
from tinytorch_core.training.steps import LossFn, StepFn, supervised_step

if TYPE_CHECKING:
    from tinytorch_core.distributed import DataParallel

CHECKPOINT_NAME = "last.safetensors"
_END = object()  # marks the end of the batch stream (a batch itself may be any object)


class OptimizerLike(Protocol):
    """What the Trainer needs from an optimizer (``tinytorch_core.optim.Optimizer`` fits)."""

    @property
    def param_groups(self) -> Sequence[Mapping[str, Any]]: ...

    def step(self) -> None: ...

    def zero_grad(self) -> None: ...

    def state_dict(self) -> Any: ...

    def load_state_dict(self, state: Any, /) -> Any: ...


class SchedulerLike(Protocol):
    """A learning-rate scheduler stepped once per optimizer step."""

    def step(self) -> None: ...


class TrainingDivergedError(FloatingPointError):
    """The loss (or gradient norm) became NaN/inf; training stopped before the weights were touched."""

    def __init__(self, message: str, step: int, loss: float) -> None:
        super().__init__(message)
        self.step = step
        self.loss = loss


@dataclass
class History:
    """What ``fit`` returns: per-step training loss, ``(step, val_loss)`` pairs, ``(step, {metric: value})``
    pairs of every evaluation, final step, seconds taken."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[tuple[int, float]] = field(default_factory=list)
    val_metrics: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    steps: int = 0
    wall_time: float = 0.0


class _FrozenState:
    """A state captured earlier, presented through ``state_dict()`` so checkpoints can save it later."""

    def __init__(self, state: Any) -> None:
        self.state = state

    def state_dict(self) -> Any:
        return self.state

    def load_state_dict(self, state: Any, /) -> None:
        self.state = state


def _has_state(obj: object) -> TypeGuard[Stateful]:
    return callable(getattr(obj, "state_dict", None)) and callable(getattr(obj, "load_state_dict", None))


def _positive(name: str, value: int | None, *, allow_none: bool = True) -> int | None:
    if value is None and allow_none:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"Trainer: {name} must be a positive int{' or None' if allow_none else ''}, got {value!r}")
    return value


class Trainer:
    """Train ``model`` with ``optimizer``; see :meth:`fit`.

    ``step_fn(model, batch) -> loss`` defines how a batch becomes a scalar loss; by default batches are
    ``(x, y)`` and the loss is ``loss_fn(model(x), y)`` (``loss_fn`` defaults to ``CrossEntropyLoss()``).
    ``grad_accum_steps`` micro-batches make one optimizer step (each loss scaled by 1/k, so the gradient
    equals that of one k-times-larger batch). ``grad_clip`` clips the global gradient norm. The
    ``scheduler`` is stepped after every optimizer step. With a ``val_loader``, the model is evaluated
    every ``eval_every`` steps on at most ``eval_batches`` batches and at the end. With ``run_dir``,
    ``run_dir/checkpoints/last.safetensors`` is written every ``checkpoint_every`` steps and at the end,
    and one JSON line per step goes to ``run_dir/metrics.jsonl``. Each :class:`~tinytorch_core.metrics.Metric`
    in ``metrics`` is computed on the validation batches at every evaluation and reported as ``val_<name>``
    beside ``val_loss`` (in the log, the progress line, ``history.val_metrics`` and ``on_eval_end``). With
    ``distributed`` (a :class:`~tinytorch_core.distributed.DataParallel`) every rank trains on its shard of
    each batch and only rank 0 writes files and progress (see docs/distributed.md).
    """

    def __init__(
        self,
        model: Module,
        optimizer: OptimizerLike,
        loss_fn: LossFn | None = None,
        *,
        step_fn: StepFn | None = None,
        grad_clip: float | None = None,
        scheduler: SchedulerLike | None = None,
        grad_accum_steps: int = 1,
        eval_every: int | None = None,
        eval_batches: int | None = None,
        checkpoint_every: int | None = None,
        run_dir: str | os.PathLike[str] | None = None,
        callbacks: Iterable[Callback] = (),
        progress: bool = True,
        log_every: int | None = 100,
        metrics: Iterable[Metric] = (),
        distributed: DataParallel | None = None,
    ) -> None:
        if not isinstance(model, Module):
            raise TypeError(f"Trainer: model must be a tinytorch_core.nn.Module, got {type(model).__name__}")
        if step_fn is not None and loss_fn is not None:
            raise ValueError("Trainer: give either loss_fn (used by the default step) or step_fn, not both")
        if grad_clip is not None and not (isinstance(grad_clip, (int, float)) and grad_clip > 0):
            raise ValueError(f"Trainer: grad_clip must be a positive number or None, got {grad_clip!r}")
        if log_every is not None and (not isinstance(log_every, int) or log_every < 0):
            raise ValueError(f"Trainer: log_every must be an int >= 0 or None, got {log_every!r}")
        if step_fn is None:
            if loss_fn is None:
                from tinytorch_core.losses import CrossEntropyLoss

                loss_fn = CrossEntropyLoss()
            step_fn = supervised_step(loss_fn)
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.step_fn: StepFn = step_fn
        self.grad_clip = float(grad_clip) if grad_clip is not None else None
        self.scheduler = scheduler
        self.grad_accum_steps = _positive("grad_accum_steps", grad_accum_steps, allow_none=False) or 1
        self.eval_every = _positive("eval_every", eval_every)
        self.eval_batches = _positive("eval_batches", eval_batches)
        self.checkpoint_every = _positive("checkpoint_every", checkpoint_every)
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.callbacks: list[Callback] = list(callbacks)
        self.progress = progress
        self.log_every = log_every
        self.metrics: list[Metric] = list(metrics)
        for metric in self.metrics:
            if not isinstance(metric, Metric):
                raise TypeError(f"Trainer: metrics must be tinytorch_core.metrics.Metric instances, got {type(metric).__name__}")
        self.step = 0  # optimizer steps completed, across resumes
        self.epoch = 0  # passes over the training loader completed
        self.stop_training = False  # a callback may set this to end fit() after the current step
        self.history = History()
        self.val_loader: Iterable[Any] | None = None  # the current fit's validation data, for callbacks and hooks
        #: How the Ctrl-C message says to resume (a CLI sets its own command line here).
        self.resume_hint: str | None = None
        # --- data parallel (tinytorch_core.distributed): gradients averaged first, files on rank 0 only
        self.distributed = distributed
        if distributed is not None:
            self.callbacks.insert(0, distributed)
            if not distributed.is_main:
                self.run_dir, self.progress, self.log_every = None, False, None

    # ----------------------------------------------------------------------------- public API

    @property
    def checkpoint_path(self) -> Path | None:
        """Where checkpoints go: ``run_dir/checkpoints/last.safetensors`` (None without a run_dir)."""
        return self.run_dir / "checkpoints" / CHECKPOINT_NAME if self.run_dir is not None else None

    @property
    def lr(self) -> float:
        """The first parameter group's current learning rate."""
        return float(self.optimizer.param_groups[0]["lr"])

    def fit(
        self,
        train_loader: Iterable[Any],
        val_loader: Iterable[Any] | None = None,
        max_steps: int | None = None,
        epochs: int | None = None,
        resume_from: str | os.PathLike[str] | None = None,
    ) -> History:
        """Train until ``max_steps`` optimizer steps or ``epochs`` passes over ``train_loader``, whichever is first.

        ``max_steps``/``epochs`` count from the start of training, so a resumed run given the same numbers
        stops where the uninterrupted one would. ``resume_from`` (a checkpoint or run directory) restores the
        model, optimizer, scheduler, step, global RNG and loader position first; the continued losses then
        equal the uninterrupted run's exactly. Raises :class:`TrainingDivergedError` on a NaN/inf loss;
        on Ctrl-C saves a checkpoint (with a ``run_dir``) and re-raises.
        """
        if max_steps is None and epochs is None:
            raise ValueError("Trainer.fit: give max_steps or epochs (or both) so training knows when to stop")
        _positive("max_steps", max_steps)
        _positive("epochs", epochs)
        if resume_from is not None:
            self.resume(resume_from, train_loader)
        self.history = history = History()
        self.stop_training = False
        self.val_loader = val_loader
        started = time.perf_counter()
        metrics = MetricsLog(self.run_dir / "metrics.jsonl") if self.run_dir is not None else None
        display = Progress(bar=self.progress, log_every=self.log_every,
                           total=self._planned_steps(train_loader, max_steps, epochs), start=self.step)
        batches = self._batch_stream(train_loader, epochs)
        self.model.train()
        for callback in self.callbacks:
            callback.on_train_start(self)
        snapshot = self._snapshot(train_loader)
        last_checkpoint_step = -1
        try:
            with display:
                while (max_steps is None or self.step < max_steps) and not self.stop_training:
                    lr = self.lr
                    # Overflow on the way to a NaN loss is reported once, by the finiteness checks, not as warnings.
                    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                        loss = self._optimizer_step(batches)
                    if loss is None:
                        break
                    if self.distributed is not None:
                        loss = self.distributed.mean(loss)
                    self.step += 1
                    if self.scheduler is not None:
                        self.scheduler.step()
                    # Everything needed to resume exactly from here, taken before eval/callbacks can be interrupted.
                    snapshot = self._snapshot(train_loader)
                    history.train_loss.append(loss)
                    for callback in self.callbacks:
                        callback.on_step_end(self, self.step, loss)
                    record: dict[str, Any] = {"step": self.step, "train_loss": loss, "lr": lr}
                    if val_loader is not None and self.eval_every and self.step % self.eval_every == 0:
                        record.update(self._evaluate_and_report(val_loader, display))
                    display.update(self.step, loss)
                    if metrics is not None:
                        record["elapsed"] = round(time.perf_counter() - started, 4)
                        metrics.write(record)
                    if self.checkpoint_every and self.step % self.checkpoint_every == 0 and self.run_dir is not None:
                        self._save_if_finite(train_loader)
                        last_checkpoint_step = self.step
                    if self.distributed is not None:  # a callback on rank 0 may stop every rank
                        self.stop_training = self.distributed.any(self.stop_training)
                if val_loader is not None and (not history.val_loss or history.val_loss[-1][0] != self.step):
                    results = self._evaluate_and_report(val_loader, display)
                    if metrics is not None:
                        metrics.write({"step": self.step, **results,
                                       "elapsed": round(time.perf_counter() - started, 4)})
                if self.run_dir is not None and last_checkpoint_step != self.step:
                    self._save_if_finite(train_loader)
        except KeyboardInterrupt:
            self._save_on_interrupt(snapshot)
            raise
        finally:
            if metrics is not None:
                metrics.close()
            history.steps = self.step
            history.wall_time = time.perf_counter() - started
        for callback in self.callbacks:
            callback.on_train_end(self)
        return history

    def evaluate(self, loader: Iterable[Any], max_batches: int | None = None) -> float:
        """Mean loss over ``loader`` (weighted by batch size) in eval mode without a graph; train mode is restored."""
        return self.evaluate_metrics(loader, max_batches, metrics=())["val_loss"]

    def evaluate_metrics(self, loader: Iterable[Any], max_batches: int | None = None,
                         metrics: Iterable[Metric] | None = None) -> dict[str, float]:
        """``{"val_loss": ..., "val_<name>": ...}`` over ``loader``: the mean loss and each metric (default: the
        Trainer's ``metrics``), in eval mode without a graph; train mode is restored (see
        :func:`~tinytorch_core.training.evaluation.evaluate_batches`)."""
        _positive("max_batches", max_batches)
        chosen = self.metrics if metrics is None else list(metrics)
        reduce = self.distributed.sum_floats if self.distributed is not None else None
        return evaluate_batches(self.model, self.step_fn, self.loss_fn, loader, max_batches, chosen, reduce)

    def save_checkpoint(self, train_loader: object = None, path: str | os.PathLike[str] | None = None) -> Path:
        """Atomically save model, optimizer, scheduler, step, epoch, RNG and (stateful) loader position."""
        target = Path(path) if path is not None else self.checkpoint_path
        if target is None:
            raise ValueError("Trainer.save_checkpoint: no path given and the Trainer has no run_dir")
        loader = train_loader if _has_state(train_loader) else None
        save_checkpoint(target, self.model, self.optimizer, step=self.step, scheduler=self.scheduler,
                        loader=loader, extra={"trainer": {"epoch": self.epoch}})
        return target

    def resume(self, path: str | os.PathLike[str], train_loader: object = None) -> dict[str, Any]:
        """Restore model, optimizer, scheduler, step, epoch, global RNG and the loader's position from ``path``."""
        source = resolve_checkpoint_path(path)
        meta = load_checkpoint(source, self.model, self.optimizer, self.scheduler, restore_rng=True)
        if _has_state(train_loader) and "loader" in meta:
            train_loader.load_state_dict(meta["loader"])
        extra = meta.get("extra")
        trainer_meta = extra.get("trainer") if isinstance(extra, dict) else None
        counts: list[Any] = [meta.get("step"), trainer_meta.get("epoch", 0) if isinstance(trainer_meta, dict) else 0]
        for what, value in zip(("step", "epoch"), counts):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise CheckpointError(f"{source}: invalid training checkpoint: its {what} is {value!r}, not an int"
                                      " >= 0; the file was edited or is corrupt: resume from another checkpoint")
        self.step, self.epoch = int(counts[0]), int(counts[1])
        if self.run_dir is not None:  # steps logged after this checkpoint are about to be redone
            cut_metrics(self.run_dir / "metrics.jsonl", self.step)
        return meta

    # ----------------------------------------------------------------------------- internals

    def _planned_steps(self, loader: object, max_steps: int | None, epochs: int | None) -> int | None:
        """The step the run will end at, for the ETA; None when it cannot be known in advance."""
        planned = max_steps
        if epochs is not None:
            try:
                per_epoch = len(loader)  # type: ignore[arg-type]
            except TypeError:
                return planned
            by_epochs = math.ceil(epochs * per_epoch / self.grad_accum_steps)
            planned = by_epochs if planned is None else min(planned, by_epochs)
        return planned

    def _batch_stream(self, loader: Iterable[Any], epochs: int | None) -> Iterator[Any]:
        """Batches across epochs, counting ``self.epoch`` as each pass over the loader ends."""
        empty_passes = 0
        while epochs is None or self.epoch < epochs:
            served = 0
            for batch in loader:
                served += 1
                yield batch
            self.epoch += 1
            # One empty pass is normal right after resuming at an epoch's end; two mean nothing more will come.
            empty_passes = empty_passes + 1 if served == 0 else 0
            if empty_passes >= 2:
                raise ValueError(
                    "Trainer.fit: train_loader yielded no batches (empty dataset, or a one-shot iterator that is "
                    "used up); pass a re-iterable loader such as tinytorch_core.data.DataLoader"
                )

    def _optimizer_step(self, batches: Iterator[Any]) -> float | None:
        """One optimizer step over ``grad_accum_steps`` micro-batches; None when the batches have run out."""
        self.optimizer.zero_grad()
        k = self.grad_accum_steps
        total, count = 0.0, 0
        for _ in range(k):
            batch = next(batches, _END)
            if batch is _END:
                break
            loss = self.step_fn(self.model, batch)
            value = checked_loss(loss, "step_fn")
            self._check_finite(value, "loss")
            # Scaling each micro-loss by 1/k makes the summed gradient that of the mean over all k micro-batches.
            loss.backward(np.asarray(1.0 / k, dtype=loss.dtype) if k > 1 else None)
            total += value
            count += 1
        if count == 0:
            return None
        if count < k:  # the last pass ended mid-accumulation: rescale to a mean over the batches we had
            for p in self.model.parameters():
                if p.grad is not None:
                    p.grad *= k / count
        for callback in self.callbacks:  # e.g. DataParallel averages gradients here, before clipping
            callback.on_before_optimizer_step(self, self.optimizer)
        if self.grad_clip is not None:
            from tinytorch_core.optim import clip_grad_norm_

            norm = clip_grad_norm_(self.model.parameters(), self.grad_clip)
            self._check_finite(norm, "gradient norm")
        self.optimizer.step()
        return total / count

    def _check_finite(self, value: float, what: str, step: int | None = None) -> None:
        """Raise :class:`TrainingDivergedError` for a NaN/inf ``value`` seen in ``step`` (default: the one running)."""
        if math.isfinite(value):
            return
        step = self.step + 1 if step is None else step
        kept = self.checkpoint_path
        where = (f" The last good checkpoint is kept at {kept}." if kept is not None and kept.exists()
                 else " No checkpoint was written (set run_dir and checkpoint_every to keep one).")
        raise TrainingDivergedError(
            f"training diverged at step {step}: the {what} is {value}. Try a lower learning rate (now {self.lr:g}) "
            f"or gradient clipping (Trainer(grad_clip=1.0)), and check the inputs for NaN/inf.{where}",
            step=step, loss=value,
        )

    def _save_if_finite(self, train_loader: object) -> None:
        """Checkpoint, unless an update produced NaN/inf weights: then the last good checkpoint must survive."""
        for name, param in self.model.named_parameters():
            if not np.isfinite(param.data).all():
                self._check_finite(float("nan"), f"parameter {name!r} after the update", step=self.step)
        self.save_checkpoint(train_loader)

    def _evaluate_and_report(self, val_loader: Iterable[Any], display: Progress) -> dict[str, float]:
        results = self.evaluate_metrics(val_loader, self.eval_batches)
        val = results["val_loss"]
        self.history.val_loss.append((self.step, val))
        self.history.val_metrics.append((self.step, results))
        shown = ", ".join(f"{name} {value:.4f}" for name, value in results.items())
        display.message(f"step {self.step}: {shown}")
        for callback in self.callbacks:
            callback.on_eval_end(self, self.step, results)
        return results

    def _snapshot(self, train_loader: object) -> dict[str, Any] | None:
        """RNG and loader state at a step boundary, so a Ctrl-C checkpoint resumes exactly (only with a run_dir)."""
        if self.run_dir is None:
            return None
        return {
            "rng": get_rng().bit_generator.state,
            "loader": train_loader.state_dict() if _has_state(train_loader) else None,
            "epoch": self.epoch,
        }

    def _save_on_interrupt(self, snapshot: dict[str, Any] | None) -> None:
        target = self.checkpoint_path
        if snapshot is None or target is None:
            print(f"\nInterrupted at step {self.step}; no checkpoint saved (Trainer has no run_dir).", file=sys.stderr)
            return
        loader = _FrozenState(snapshot["loader"]) if snapshot["loader"] is not None else None
        save_checkpoint(target, self.model, self.optimizer, step=self.step, scheduler=self.scheduler,
                        loader=loader, extra={"trainer": {"epoch": snapshot["epoch"]}}, rng_state=snapshot["rng"])
        print(
            f"\nInterrupted at step {self.step}; checkpoint saved to {target}. "
            f"Resume with {self.resume_hint or f'Trainer.fit(..., resume_from={str(self.run_dir)!r})'}.",
            file=sys.stderr,
        )
