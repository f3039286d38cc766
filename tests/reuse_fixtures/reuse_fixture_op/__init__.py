"""Fixture plugin: the core-only model, and the same model with a plugin-defined op added."""
