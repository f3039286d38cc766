"""Benchmarks run by hand (never by the test suite): TinyGPT against a PyTorch reference. See README.md."""
