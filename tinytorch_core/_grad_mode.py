"""Kept so older imports work: grad mode now lives in :mod:`tinytorch_core.state`."""

from tinytorch_core.state import OpObserver, enable_grad, is_grad_enabled, no_grad, set_grad_enabled

__all__ = ["OpObserver", "enable_grad", "is_grad_enabled", "no_grad", "set_grad_enabled"]
