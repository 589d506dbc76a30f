"""Semblance detector: turns image bytes into signals, compares them and scores matches (no I/O)."""

import os

# PyTorch's OpenMP threads spin while waiting; on a 2-core machine shared with any other process that makes a
# forward pass 10-70x slower (measured: 33 ms -> 2,290 ms). Passive waiting costs nothing when idle. It must be
# set before torch is first imported, hence here, at the root of the package that imports it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
