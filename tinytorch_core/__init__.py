"""TinyTorch core: domain-agnostic tensors with autograd, layers, optimizers, losses, data and training.

The core knows nothing of images or text; modalities arrive as plugins (see ``registry``).
"""

from tinytorch_core import _malloc
from tinytorch_core.scatter import gather, index_add, scatter_add
from tinytorch_core.state import enable_grad, is_grad_enabled, no_grad
from tinytorch_core.tensor import (
    Tensor,
    cat,
    concatenate,
    default_dtype,
    get_default_dtype,
    get_rng,
    manual_seed,
    matmul,
    set_default_dtype,
    split,
    stack,
    tensor,
    where,
)

_malloc.keep_freed_memory()
_malloc.no_huge_page_advice()

__version__ = "0.1.0"

__all__ = [
    "Tensor", "tensor", "no_grad", "enable_grad", "is_grad_enabled", "manual_seed", "get_rng",
    "default_dtype", "get_default_dtype", "set_default_dtype", "matmul", "concatenate", "cat", "stack",
    "split", "where", "scatter_add", "index_add", "gather", "__version__",
]
