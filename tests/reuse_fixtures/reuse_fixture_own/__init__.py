"""Fixture plugin that re-implements Linear, ReLU and SGD instead of using the core's."""
