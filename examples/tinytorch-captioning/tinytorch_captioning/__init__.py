"""tinytorch-captioning: a third-party TinyTorch plugin that captions images by composing the vision and
language plugins' components through the registry (it imports neither)."""

__version__ = "0.1.0"
