"""Fixture plugin that only composes core modules (expected: 100% core at run time)."""
