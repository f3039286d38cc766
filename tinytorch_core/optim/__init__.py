"""Optimizers (SGD, Adam, AdamW), gradient clipping and learning-rate schedulers."""

from tinytorch_core.optim.adam import Adam, AdamW
from tinytorch_core.optim.clip import clip_grad_norm_
from tinytorch_core.optim.optimizer import Optimizer, ParamGroup, ParamsArg, optimizer_groups
from tinytorch_core.optim.schedulers import LambdaLR, LRScheduler, StepLR, WarmupCosineLR
from tinytorch_core.optim.sgd import SGD

__all__ = [
    "Optimizer", "ParamGroup", "ParamsArg", "optimizer_groups", "SGD", "Adam", "AdamW", "clip_grad_norm_",
    "LRScheduler", "WarmupCosineLR", "StepLR", "LambdaLR",
]
