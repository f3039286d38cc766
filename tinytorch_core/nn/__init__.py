"""Neural-network building blocks: ``Module``, ``Parameter`` and standard layers."""

from tinytorch_core.nn import init
from tinytorch_core.nn.layers import (
    GELU,
    Dense,
    Dropout,
    Embedding,
    Identity,
    LayerNorm,
    Linear,
    ModuleDict,
    ModuleList,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)
from tinytorch_core.nn.module import Module, Parameter

__all__ = [
    "Module", "Parameter", "Linear", "Dense", "ReLU", "GELU", "Tanh", "Sigmoid", "Softmax", "Identity",
    "LayerNorm", "Dropout", "Embedding", "Sequential", "ModuleList", "ModuleDict", "init",
]
