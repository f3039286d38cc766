"""Components the core provides to every run, registered by the registry itself (owner ``core``):
the domain-agnostic metrics and the TensorBoard callback.

Factories are looked up lazily, so ``tinytorch --help`` imports none of them.
"""

from __future__ import annotations

from registry.components import Component, ComponentRegistry
from tinytorch_core.lazy import LazyFactory

#: The owner shown for these components; a plugin registering one of their names is a clash with it.
CORE_OWNER = "core"

_METRICS = (
    ("accuracy", "Accuracy", "share of argmax predictions equal to the integer targets"),
    ("mae", "MeanAbsoluteError", "mean absolute error of the outputs against the targets"),
    ("mse", "MeanSquaredError", "mean squared error of the outputs against the targets"),
    ("perplexity", "Perplexity", "exp of the mean cross-entropy of logits against integer targets"),
)


def register_core_components(registry: ComponentRegistry) -> None:
    """Add the core's metrics and callbacks to ``registry``."""
    for name, cls, description in _METRICS:
        registry.add(Component("metrics", name, LazyFactory("tinytorch_core.metrics", cls), CORE_OWNER, description))
    registry.add(Component(
        "callbacks", "tensorboard", LazyFactory("tinytorch_core.training.tensorboard", "TensorBoardCallback"),
        CORE_OWNER, "TensorBoard event files in RUN_DIR/tensorboard (tensorboardX, the plot extra)",
    ))
