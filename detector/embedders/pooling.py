"""Pooling a CNN feature map into one global and many regional descriptors (GeM over an R-MAC-style grid).

One forward pass gives the whole feature map; pooling sub-windows of it describes crops of the image at
almost no extra cost, which is what lets a crop of an original, or one panel of a collage, still match.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from detector.geometry import Box

GEM_P = 3.0
REGION_SCALES = (0.6, 0.4)
"""Region side as a fraction of the map's side; 0.6 gives a 2x2 grid, 0.4 a 3x3 grid (R-MAC's l=2, l=3)."""


def gem(fmap: torch.Tensor, p: float = GEM_P) -> torch.Tensor:
    """Generalised-mean pooling of (C, h, w) to (C,)."""
    return fmap.clamp(min=1e-6).pow(p).mean(dim=(-2, -1)).pow(1.0 / p)


def region_grid(h: int, w: int, scales: tuple[float, ...] = REGION_SCALES) -> list[tuple[int, int, int, int]]:
    """Windows (y0, y1, x0, x1) in cell units: the whole map, then overlapping grids at each scale."""
    windows = [(0, h, 0, w)]
    for s in scales:
        rh, rw = max(1, round(h * s)), max(1, round(w * s))
        n = max(2, math.ceil(1 / s))  # windows per axis, overlapping
        ys = sorted({round(i * (h - rh) / (n - 1)) for i in range(n)})
        xs = sorted({round(i * (w - rw) / (n - 1)) for i in range(n)})
        for y in ys:
            for x in xs:
                win = (y, y + rh, x, x + rw)
                if win not in windows:
                    windows.append(win)
    return windows


def pool_regions(fmap: torch.Tensor) -> tuple[np.ndarray, tuple[Box, ...]]:
    """GeM of the whole map and of every grid window; returns (n, C) float32 and the boxes."""
    _, h, w = fmap.shape
    windows = region_grid(h, w)
    powered = fmap.clamp(min=1e-6).pow(GEM_P)
    vecs = torch.stack([powered[:, y0:y1, x0:x1].mean(dim=(-2, -1)) for y0, y1, x0, x1 in windows])
    vecs = vecs.pow(1.0 / GEM_P)
    boxes = tuple(Box(x0 / w, y0 / h, x1 / w, y1 / h) for y0, y1, x0, x1 in windows)
    return vecs.float().numpy(), boxes
