"""Semblance detector: turns image bytes into signals, compares them and scores matches (no I/O)."""

__version__ = "0.1.0"
