"""Safe, atomic checkpoints: safetensors arrays plus one JSON metadata document, never pickle.

A TinyTorch checkpoint is a plain safetensors file. Arrays are stored as safetensors tensors; everything
else (step, RNG state, optimizer hyper-parameters, user metadata) is one JSON string under the
safetensors metadata key ``"tinytorch"``. Loading therefore never executes code, and any safetensors
reader can inspect the weights.

Writes go through :func:`tinytorch_core.fileio.atomic_write_bytes` (temp file in the destination
directory, fsync, ``os.replace``), so a crash mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from tinytorch_core.fileio import atomic_write_bytes
from tinytorch_core.safetensors_header import CheckpointError, Header, parse_json, read_header, read_tensors
from tinytorch_core.optim.param_names import legacy_saved_names, optimizer_param_names, reorder_state
from tinytorch_core.tensor import Tensor, get_rng, set_rng_state

__all__ = [
    "CheckpointError", "FORMAT_VERSION", "METADATA_KEY", "save", "load", "load_header", "check_finite",
    "save_checkpoint", "load_checkpoint", "resolve_checkpoint_path",
]

METADATA_KEY = "tinytorch"
FORMAT_NAME = "tinytorch-checkpoint"
FORMAT_VERSION = 1
#: Our JSON metadata document is refused above this size (a tokenizer's vocabulary is a few MB).
MAX_METADATA_BYTES = 64 * 2**20

PathLike = str | os.PathLike[str]


class Stateful(Protocol):
    """Anything with PyTorch-style ``state_dict()`` / ``load_state_dict()`` (optimizers, schedulers, loaders)."""

    def state_dict(self) -> Any: ...

    def load_state_dict(self, state: Any, /) -> Any: ...


class ModuleLike(Protocol):
    """The part of ``nn.Module`` a checkpoint needs."""

    def state_dict(self) -> Mapping[str, np.ndarray]: ...

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> Any: ...


# ---------------------------------------------------------------------------------------------
# Raw files: arrays + JSON metadata
# ---------------------------------------------------------------------------------------------

def save(path: PathLike, tensors: Mapping[str, np.ndarray], metadata: Mapping[str, Any] | None = None) -> None:
    """Atomically write ``tensors`` (name -> array) and JSON-serialisable ``metadata`` to ``path``.

    The previous file at ``path``, if any, stays intact unless the new one was fully written and synced.
    """
    import safetensors.numpy

    target = Path(path)
    arrays: dict[str, np.ndarray] = {}
    for name, value in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"save({target}): tensor names must be str, got {type(name).__name__} {name!r}")
        array = value.data if isinstance(value, Tensor) else value
        if not isinstance(array, np.ndarray):
            raise TypeError(
                f"save({target}): tensor {name!r} is a {type(value).__name__}, expected a numpy array; "
                "put non-array values in metadata instead"
            )
        if array.dtype == object:
            raise TypeError(f"save({target}): tensor {name!r} has dtype object, which cannot be stored safely")
        # np.asarray, not np.ascontiguousarray: the latter turns 0-d arrays into shape (1,).
        arrays[name] = np.asarray(array, order="C")
    document = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "metadata": dict(metadata or {})}
    try:
        header_json = json.dumps(document, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"save({target}): metadata is not JSON-serialisable ({exc}); store arrays as tensors") from None
    payload = safetensors.numpy.save(arrays, metadata={METADATA_KEY: header_json})
    atomic_write_bytes(target, payload)


def load(path: PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a file written by :func:`save`; returns ``(tensors, metadata)``.

    The header, every tensor's extent and the metadata are validated against the real file before
    any tensor is read (see :mod:`tinytorch_core.safetensors_header`); tensors are then read one
    at a time. Raises ``FileNotFoundError`` for a missing file and :class:`CheckpointError` (a
    ``ValueError``) naming the file and the problem for a truncated, corrupt, hostile or foreign file.
    """
    header, metadata = load_header(path)
    return read_tensors(header), metadata


def load_header(path: PathLike) -> tuple[Header, dict[str, Any]]:
    """The validated header and our metadata of a file written by :func:`save`, without reading any
    tensor: callers check the shapes (``header.tensors``) before :func:`read_tensors`."""
    header = read_header(path)
    source = header.path
    text = header.metadata.get(METADATA_KEY)
    if text is None:
        raise CheckpointError(
            f"{source}: not a TinyTorch checkpoint (safetensors file without the {METADATA_KEY!r} metadata entry)"
        )
    if len(text) > MAX_METADATA_BYTES:
        raise CheckpointError(f"{source}: corrupt checkpoint: its metadata is {len(text)} bytes, more than "
                              f"{MAX_METADATA_BYTES}")
    document = parse_json(text, "metadata", source)
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{source}: not a TinyTorch checkpoint (metadata has no format {FORMAT_NAME!r})")
    version = document.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{source}: checkpoint format version {version!r} is newer than this TinyTorch reads "
            f"({FORMAT_VERSION}); upgrade tinytorch-numpy"
        )
    metadata = document.get("metadata")
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{source}: corrupt checkpoint metadata (expected an object)")
    return header, metadata


def check_finite(tensors: Mapping[str, np.ndarray], source: PathLike, what: str = "weight") -> None:
    """Raise :class:`CheckpointError` naming the first floating tensor holding NaN or inf: a diverged
    run's weights must not silently produce garbage."""
    for name, array in tensors.items():
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            bad = int(array.size - np.count_nonzero(np.isfinite(array)))
            raise CheckpointError(f"{source}: {what} {name!r} holds NaN or inf ({bad} of {array.size} values); "
                                  "the checkpoint comes from a diverged run, use an earlier one")


# ---------------------------------------------------------------------------------------------
# Nested states (optimizer, scheduler, loader): arrays go to tensors, the rest to JSON
# ---------------------------------------------------------------------------------------------

def _encode(value: Any, prefix: str, arrays: dict[str, np.ndarray]) -> Any:
    """Turn a nested state into JSON, moving every array to ``arrays[prefix...]`` and leaving a reference.

    Tuples and dicts with non-string keys (PyTorch-style ``{param_index: state}``) are tagged so they come
    back as the same types.
    """
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, np.ndarray):
        arrays[prefix] = value
        return {"__array__": prefix}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        if all(isinstance(key, str) and not key.startswith("__") for key in value):
            return {key: _encode(item, f"{prefix}.{key}", arrays) for key, item in value.items()}
        return {"__items__": [[_encode(key, f"{prefix}.key{i}", arrays), _encode(item, f"{prefix}.{i}", arrays)]
                              for i, (key, item) in enumerate(value.items())]}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(item, f"{prefix}.{i}", arrays) for i, item in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(item, f"{prefix}.{i}", arrays) for i, item in enumerate(value)]
    raise TypeError(f"cannot store {type(value).__name__} at {prefix!r} in a checkpoint (only arrays and JSON values)")


def _decode(value: Any, arrays: Mapping[str, np.ndarray], source: Path) -> Any:
    """Inverse of :func:`_encode`."""
    if isinstance(value, list):
        return [_decode(item, arrays, source) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"__array__"}:
        key = value["__array__"]
        if key not in arrays:
            raise CheckpointError(f"{source}: corrupt checkpoint (metadata refers to missing array {key!r})")
        return arrays[key]
    if set(value) == {"__tuple__"}:
        return tuple(_decode(item, arrays, source) for item in value["__tuple__"])
    if set(value) == {"__items__"}:
        return {_hashable(_decode(k, arrays, source)): _decode(v, arrays, source) for k, v in value["__items__"]}
    return {key: _decode(item, arrays, source) for key, item in value.items()}


def _hashable(key: Any) -> Any:
    return tuple(_hashable(k) for k in key) if isinstance(key, list) else key


# ---------------------------------------------------------------------------------------------
# Training checkpoints
# ---------------------------------------------------------------------------------------------

_MODEL_PREFIX = "model."
_OPTIM_PREFIX = "optim"
_SCHED_PREFIX = "sched"
_LOADER_PREFIX = "loader"


def save_checkpoint(
    path: PathLike,
    model: ModuleLike,
    optimizer: Stateful | None = None,
    step: int = 0,
    extra: Mapping[str, Any] | None = None,
    scheduler: Any = None,
    loader: Stateful | None = None,
    rng_state: Mapping[str, Any] | None = None,
) -> None:
    """Atomically save everything needed to resume training exactly.

    Model parameters/buffers become tensors ``model.<name>``; optimizer (and scheduler/loader) arrays become
    ``optim.*`` (``sched.*``, ``loader.*``) tensors; their other fields, ``step``, the global RNG state (or
    ``rng_state`` when the caller snapshotted it earlier) and ``extra`` go into the JSON metadata.
    """
    arrays: dict[str, np.ndarray] = {_MODEL_PREFIX + name: value for name, value in model.state_dict().items()}
    state = rng_state if rng_state is not None else get_rng().bit_generator.state
    metadata: dict[str, Any] = {
        "kind": "training_checkpoint",
        "step": int(step),
        "model_class": type(model).__name__,
        "rng_state": _encode(dict(state), "rng", arrays),
        "extra": dict(extra or {}),
    }
    if optimizer is not None:
        metadata["optimizer"] = _encode(optimizer.state_dict(), _OPTIM_PREFIX, arrays)
        metadata["optimizer_class"] = type(optimizer).__name__
        names = optimizer_param_names(model, optimizer)
        if names is not None:  # loading matches the state to parameters by these names, not by index
            metadata["optimizer_params"] = names
    if scheduler is not None:
        metadata["scheduler"] = _encode(scheduler_state(scheduler), _SCHED_PREFIX, arrays)
    if loader is not None:
        metadata["loader"] = _encode(loader.state_dict(), _LOADER_PREFIX, arrays)
    save(path, arrays, metadata)


def load_checkpoint(
    path: PathLike,
    model: ModuleLike | None = None,
    optimizer: Stateful | None = None,
    scheduler: Any = None,
    loader: Stateful | None = None,
    *,
    restore_rng: bool = False,
) -> dict[str, Any]:
    """Restore whatever is given from a :func:`save_checkpoint` file; returns its metadata.

    ``path`` may be a checkpoint file or a run directory (its ``checkpoints/last.safetensors`` is used).
    The model is loaded strictly: a different architecture raises ``KeyError`` listing missing/unexpected
    keys. Asking for optimizer/scheduler/loader state the file does not hold raises :class:`CheckpointError`.
    With ``restore_rng`` the global random generator continues exactly where the saved run was.
    The returned dict holds ``step``, ``extra``, ``rng_state`` and the raw saved states.
    """
    source = resolve_checkpoint_path(path)
    tensors, metadata = load(source)
    if metadata.get("kind") != "training_checkpoint":
        raise CheckpointError(f"{source}: a TinyTorch tensor file but not a training checkpoint (no model/step)")
    if model is not None:
        weights = {name[len(_MODEL_PREFIX):]: value for name, value in tensors.items() if name.startswith(_MODEL_PREFIX)}
        check_finite({_MODEL_PREFIX + name: value for name, value in weights.items()}, source)
        try:
            model.load_state_dict(weights, strict=True)
        except KeyError as exc:
            message = exc.args[0] if exc.args else str(exc)
            raise KeyError(f"{source}: {message}") from None
    decoded: dict[str, Any] = dict(metadata)
    for name, target in (("optimizer", optimizer), ("scheduler", scheduler), ("loader", loader)):
        if name in metadata:
            decoded[name] = _decode(metadata[name], tensors, source)
        if target is None:
            continue
        if name not in metadata:
            raise CheckpointError(f"{source}: checkpoint holds no {name} state (it was saved without one)")
        if name == "scheduler":
            load_scheduler_state(target, decoded[name])
        elif name == "optimizer":
            target.load_state_dict(_by_current_index(source, metadata, decoded[name], model, target))
        else:
            target.load_state_dict(decoded[name])
    if "rng_state" not in metadata or "step" not in metadata:
        missing = " and ".join(k for k in ("step", "rng_state") if k not in metadata)
        raise CheckpointError(f"{source}: training checkpoint metadata lacks {missing}; the file was edited or"
                              " written by another program: resume from another checkpoint")
    decoded["rng_state"] = _decode(metadata["rng_state"], tensors, source)
    if restore_rng:
        set_rng_state(decoded["rng_state"])
    return decoded


def _by_current_index(source: Path, metadata: Mapping[str, Any], state: Any, model: ModuleLike | None,
                      optimizer: Stateful) -> Any:
    """The saved optimizer state re-indexed to the parameters' current order (see ``optim.param_names``)."""
    current = optimizer_param_names(model, optimizer) if model is not None else None
    if current is None or not isinstance(state, Mapping) or not isinstance(state.get("state"), Mapping):
        return state
    saved = metadata.get("optimizer_params")
    if saved is None:  # written before checkpoints named the optimizer's parameters
        saved = legacy_saved_names(model, optimizer)
    if not (isinstance(saved, list) and all(isinstance(n, str) for n in saved)):
        raise CheckpointError(f"{source}: corrupt checkpoint metadata (optimizer_params is not a list of names)")
    if saved == current:
        return state
    try:
        return reorder_state(state, saved, current, str(source))
    except ValueError as exc:
        raise CheckpointError(str(exc)) from None


def resolve_checkpoint_path(path: PathLike) -> Path:
    """A checkpoint file as given, or ``<run_dir>/checkpoints/last.safetensors`` for a run directory."""
    candidate = Path(path)
    if candidate.is_dir():
        last = candidate / "checkpoints" / "last.safetensors"
        if not last.exists():
            raise FileNotFoundError(f"no checkpoint in run directory {candidate}: {last} does not exist")
        return last
    return candidate


def scheduler_state(scheduler: Any) -> Any:
    """A scheduler's state: its own ``state_dict()`` or, like PyTorch, its attributes minus the optimizer."""
    if callable(getattr(scheduler, "state_dict", None)):
        return scheduler.state_dict()
    return {key: value for key, value in vars(scheduler).items()
            if key != "optimizer" and isinstance(value, (bool, int, float, str, list, tuple, type(None)))}


def load_scheduler_state(scheduler: Any, state: Any) -> None:
    """Inverse of :func:`scheduler_state`."""
    if callable(getattr(scheduler, "load_state_dict", None)):
        scheduler.load_state_dict(state)
        return
    for key, value in state.items():
        setattr(scheduler, key, value)
