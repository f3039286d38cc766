"""The TinyTorch conformance kit's fixtures (plugin_manager, hook_recorder)."""

pytest_plugins = ["registry.testing"]
