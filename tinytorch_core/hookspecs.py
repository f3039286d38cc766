"""The hooks a TinyTorch plugin can implement (pluggy project name ``tinytorch``).

Plugins implement these with the ``hookimpl`` marker defined here::

    from tinytorch_core.hookspecs import hookimpl

    @hookimpl
    def tinytorch_register_modules(register):
        register("my_layer", MyLayer, sample_input=lambda: (Tensor(np.ones((2, 3))),))

Registration hooks use the "register callback" style: each receives a ``register``
function bound to the calling plugin, so every component knows who registered it, and
the order plugins load in does not matter. The signature of every ``register`` callback
is ``register(name: str, obj: object, *, description: str = "", **meta)``; the metadata
each kind understands is listed in the hook's docstring. Registering a name twice for the
same kind is an error naming both plugins.

A plugin that builds on other plugins declares them with a module-level
``tinytorch_requires: Requires = ("vision", "language>=0.1")`` (like pytest's
``pytest_plugins``). The registry loads required plugins first, refuses cycles, and lets the
plugin reach their components through a :class:`Components` lookup - never by importing them.
Every registration hook may take a ``components`` argument; a registered factory with a
parameter named ``components`` is called with the same lookup.

Every hook here is documented in ``docs/plugins.md``; a test fails when one is not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import pluggy

if TYPE_CHECKING:
    from collections.abc import Mapping

PROJECT_NAME = "tinytorch"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


#: The type of a plugin module's ``tinytorch_requires``: plugin names, each optionally with a
#: version specifier (``"language>=0.1"``).
Requires = tuple[str, ...]

#: The component kinds a :class:`Components` lookup serves.
LOOKUP_KINDS: tuple[str, ...] = ("modules", "models", "datasets", "tokenizers", "callbacks")


class Components(Protocol):
    """Another plugin's registered components, by kind and name, for a plugin that declared it.

    ``get("models", "vision:simple_cnn")`` returns what the ``vision`` plugin registered as
    ``simple_cnn`` (the factory or class itself); a bare name (``"simple_cnn"``) finds the one
    plugin that registered it. ``kind`` is one of :data:`LOOKUP_KINDS` (singular accepted). A
    plugin not named in the caller's ``tinytorch_requires`` is unreachable: the error names the
    missing declaration. Unknown names raise ``KeyError`` listing what is available.
    """

    def get(self, kind: str, name: str) -> Any:
        """The registered object ``name`` (``"plugin:name"`` or bare) of ``kind``."""
        ...

    def names(self, kind: str) -> list[str]:
        """Every ``"plugin:name"`` of ``kind`` this lookup can reach (the plugin's own and its requirements')."""
        ...


class Register(Protocol):
    """The callback a registration hook receives."""

    def __call__(self, name: str, obj: Any, *, description: str = "", **meta: Any) -> None: ...


class CommandRegistry(Protocol):
    """What ``tinytorch_register_commands`` receives: adds a ``tinytorch`` subcommand."""

    def add_command(
        self,
        name: str,
        run: Any,
        *,
        help: str,
        arguments: Any = None,
    ) -> None:
        """``run(args: argparse.Namespace) -> int | None``; ``arguments(parser)`` adds argparse options."""
        ...


class ConfigSchema(Protocol):
    """What ``tinytorch_add_config_schema`` receives: declares a plugin's config table and its keys."""

    def add_section(self, name: str, keys: Mapping[str, type | tuple[type, ...]], description: str = "") -> None: ...


@hookspec
def tinytorch_register_modalities(register: Register, components: Components) -> None:
    """Declare the modalities this plugin provides: ``register("audio", "waveforms and spectrograms")``.

    ``obj`` is a one-line description string.
    """


@hookspec
def tinytorch_register_modules(register: Register, components: Components) -> None:
    """Register reusable layers: ``register(name, factory)`` where ``factory(**kwargs)`` returns a ``Module``.

    Metadata: ``sample_input`` - a zero-argument callable returning the tuple of inputs for one forward
    pass of ``factory()`` with default arguments (the conformance kit runs forward, a float64 gradient
    check and a ``state_dict`` round trip on it); ``kwargs`` - default constructor arguments for that check.
    """


@hookspec
def tinytorch_register_datasets(register: Register, components: Components) -> None:
    """Register data pipelines: ``register(name, factory)``, ``factory(**config) -> DataSplits``.

    ``DataSplits`` (``tinytorch_core.data``) holds the train and validation datasets and ``info``, a dict
    of facts the model needs (``vocab_size``, ``num_classes``, a tokenizer...). Metadata: ``sample_config``
    - small keyword arguments the conformance kit uses to build it quickly.
    """


@hookspec
def tinytorch_register_tokenizers(register: Register, components: Components) -> None:
    """Register tokenizers: ``register(name, cls)``; instances have ``encode(str) -> list[int]``,
    ``decode(list[int]) -> str`` and ``vocab_size``. Metadata: ``sample_text`` for the round-trip check;
    ``trainable=True`` when ``cls().train(text, vocab_size)`` must run first.
    """


@hookspec
def tinytorch_register_models(register: Register, components: Components) -> None:
    """Register trainable models: ``register(name, factory)``, ``factory(**kwargs) -> Module``.

    Metadata: ``sample_batch`` - zero-argument callable returning ``(inputs, targets)`` for a small
    model built with ``sample_kwargs``; ``sample_kwargs`` - small constructor arguments; ``loss_fn`` -
    ``loss_fn(model, batch) -> Tensor`` when the default (cross-entropy of ``model(inputs)`` against
    ``targets``) does not fit.
    """


@hookspec
def tinytorch_register_callbacks(register: Register, components: Components) -> None:
    """Register trainer callbacks by name (usable from a config's ``[train] callbacks``):
    ``register(name, factory)`` with ``factory(**kwargs) -> tinytorch_core.training.Callback``.
    """


@hookspec
def tinytorch_register_metrics(register: Register, components: Components) -> None:
    """Register evaluation metrics by name (usable from a config's ``[train] metrics`` and a model's
    ``metrics`` metadata): ``register(name, factory)`` with ``factory(**kwargs) -> tinytorch_core.metrics.Metric``.

    Parameters of ``factory`` named like entries of the dataset's ``DataSplits.info`` (``num_classes``,
    ``tokenizer``...) receive them. The Trainer computes each metric on the validation split at every
    evaluation, logs it as ``val_<metric.name>`` and passes it to ``tinytorch_on_eval_end``. A model
    registers the metrics reported by default with ``register(name, factory, metrics=("accuracy",))``.
    """


@hookspec
def tinytorch_register_commands(cli: CommandRegistry, components: Components) -> None:
    """Add subcommands to the ``tinytorch`` CLI with ``cli.add_command(name, run, help=..., arguments=...)``."""


@hookspec
def tinytorch_register_reuse_targets(register: Register, components: Components) -> None:
    """Say what the reuse report measures for this plugin: ``register(name, model_factory)``.

    Metadata: ``sample_batch`` - zero-argument callable returning ``(inputs, targets)``; ``loss_fn`` -
    ``loss_fn(model, batch) -> Tensor`` (default: cross-entropy of ``model(inputs)`` against ``targets``).
    """


@hookspec(historic=True)
def tinytorch_add_config_schema(schema: ConfigSchema) -> None:
    """Declare the plugin's own config table and its keys' types, so typos and wrong types are caught.

    Historic: a plugin registered later still receives the call.
    """


@hookspec
def tinytorch_on_train_start(trainer: Any, config: Mapping[str, Any]) -> None:
    """Training is about to start (``trainer`` is a ``tinytorch_core.training.Trainer``; its ``val_loader``
    is the validation data the evaluations will use, or None).

    An observer: if it raises, ``tinytorch train`` warns naming the plugin and the run goes on.
    """


@hookspec
def tinytorch_on_step_end(trainer: Any, step: int, loss: float) -> None:
    """One optimizer step finished with this training loss.

    An observer: if it raises, ``tinytorch train`` warns naming the plugin and the run goes on.
    """


@hookspec
def tinytorch_on_eval_end(trainer: Any, step: int, metrics: Mapping[str, float]) -> None:
    """An evaluation finished; ``metrics`` holds at least ``val_loss``.

    An observer: if it raises, ``tinytorch train`` warns naming the plugin and the run goes on.
    """


@hookspec
def tinytorch_on_train_end(trainer: Any, config: Mapping[str, Any]) -> None:
    """Training finished normally and its checkpoint is saved: the planned steps or epochs ran, the
    data ran out, or a callback set ``trainer.stop_training``.

    Not called when training stops with an exception: on Ctrl-C (``KeyboardInterrupt``) the trainer
    saves a resumable checkpoint and re-raises, and a diverged loss (``TrainingDivergedError``) or any
    other error propagates without this hook.

    The language plugin uses this to print a sample after the README's main job. An observer: if it
    raises, ``tinytorch train`` warns naming the plugin and still exits 0 (the run is complete).
    """
