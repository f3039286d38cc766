"""Image layers as modules: ``Conv2d``, ``MaxPool2d``, ``AvgPool2d``, ``BatchNorm2d``, ``Flatten``.

Thin modules over the fused ops in :mod:`plugins.vision.functional`; parameters follow
PyTorch's shapes and initialisation so weights can be compared one to one.
"""

from __future__ import annotations

import math

import numpy as np

from plugins.vision import functional as VF
from tinytorch_core import Tensor, get_default_dtype
from tinytorch_core.nn import Module, Parameter, init

__all__ = ["Conv2d", "MaxPool2d", "AvgPool2d", "BatchNorm2d", "Flatten"]


class Conv2d(Module):
    """2-D convolution on NCHW input; ``weight`` is (out_channels, in_channels, kh, kw) as in PyTorch."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if in_channels <= 0 or out_channels <= 0:
            raise ValueError(f"Conv2d needs positive channel counts, got in={in_channels}, out={out_channels}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = VF.pair(kernel_size, "kernel_size")
        self.stride = VF.pair(stride, "stride")
        self.padding = VF.pair(padding, "padding")
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.padding) < 0:
            raise ValueError(
                f"Conv2d: kernel_size and stride must be >= 1 and padding >= 0, got kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}"
            )
        dt = get_default_dtype()
        self.weight = Parameter(np.empty((out_channels, in_channels, *self.kernel_size), dtype=dt))
        # PyTorch's default: kaiming-uniform with a=sqrt(5), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if bias:
            fan_in = in_channels * self.kernel_size[0] * self.kernel_size[1]
            bound = 1.0 / math.sqrt(fan_in)
            self.bias: Parameter | None = Parameter(np.empty(out_channels, dtype=dt))
            init.uniform_(self.bias, -bound, bound)
        else:
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        return VF.conv2d(x, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, bias={self.bias is not None}")


class _Pool2d(Module):
    """Shared constructor and repr of the pooling layers; ``stride`` defaults to ``kernel_size``."""

    def __init__(self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
                 padding: int | tuple[int, int] = 0) -> None:
        super().__init__()
        self.kernel_size = VF.pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else VF.pair(stride, "stride")
        self.padding = VF.pair(padding, "padding")

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """Max pooling; ``stride`` defaults to ``kernel_size``. Ties send the gradient to one element."""

    def forward(self, x: Tensor) -> Tensor:
        return VF.max_pool2d(x, self.kernel_size, self.stride, self.padding)


class AvgPool2d(_Pool2d):
    """Average pooling; ``stride`` defaults to ``kernel_size``; zero padding counts in the mean."""

    def forward(self, x: Tensor) -> Tensor:
        return VF.avg_pool2d(x, self.kernel_size, self.stride, self.padding)


class BatchNorm2d(Module):
    """Per-channel batch normalisation with running statistics, like ``torch.nn.BatchNorm2d``.

    Training normalises with the batch's statistics and updates ``running_mean`` /
    ``running_var`` (unbiased) with ``momentum``; eval normalises with the running statistics.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 track_running_stats: bool = True) -> None:
        super().__init__()
        if num_features <= 0:
            raise ValueError(f"BatchNorm2d needs a positive num_features, got {num_features}")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"BatchNorm2d: momentum must be in [0, 1], got {momentum}")
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        dt = get_default_dtype()
        if affine:
            self.weight: Parameter | None = Parameter(np.ones(num_features, dtype=dt))
            self.bias: Parameter | None = Parameter(np.zeros(num_features, dtype=dt))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=dt))
            self.register_buffer("running_var", np.ones(num_features, dtype=dt))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim == 4 and x.shape[1] != self.num_features:
            raise ValueError(
                f"BatchNorm2d: expected input with {self.num_features} channels (N, {self.num_features}, H, W), "
                f"got shape {x.shape}"
            )
        # Buffers are read through the module each call (``.to()`` replaces them) and updated in place.
        return VF.batch_norm2d(x, self._buffers["running_mean"], self._buffers["running_var"], self.weight,
                               self.bias, training=self.training, momentum=self.momentum, eps=self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.weight is not None}"


class Flatten(Module):
    """Flatten every axis from ``start_dim`` on: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim: int = 1) -> None:
        super().__init__()
        self.start_dim = start_dim

    def forward(self, x: Tensor) -> Tensor:
        if not -x.ndim <= self.start_dim < x.ndim:
            raise ValueError(f"Flatten(start_dim={self.start_dim}) needs an input with more dims, got shape {x.shape}")
        return x.flatten(self.start_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}"
