"""Boxes and outlines shared by the signals: normalised boxes in [0, 1] and pixel polygons."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

Polygon = list[tuple[float, float]]
"""Closed outline as (x, y) points in the image's own displayed pixel coordinates."""


@dataclass(frozen=True)
class Box:
    """Axis-aligned box in normalised image coordinates (0..1 on each axis)."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def area(self) -> float:
        return max(0.0, self.x1 - self.x0) * max(0.0, self.y1 - self.y0)

    def to_polygon(self, width: int, height: int) -> Polygon:
        """The box as a 4-point pixel outline of an image of `width` x `height`."""
        x0, y0, x1, y1 = self.x0 * width, self.y0 * height, self.x1 * width, self.y1 * height
        return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


FULL = Box(0.0, 0.0, 1.0, 1.0)


def polygon_area(poly: Polygon) -> float:
    """Shoelace area of a simple polygon."""
    n = len(poly)
    s = 0.0
    for i in range(n):
        x0, y0 = poly[i]
        x1, y1 = poly[(i + 1) % n]
        s += x0 * y1 - x1 * y0
    return abs(s) / 2.0


def clip_polygon(poly: Polygon, width: float, height: float) -> Polygon:
    """Clip a convex outline to the image rectangle [0, width] x [0, height]."""
    if len(poly) < 3:
        return []
    rect = np.asarray([(0, 0), (width, 0), (width, height), (0, height)], dtype=np.float32)
    area, inter = cv2.intersectConvexConvex(np.asarray(poly, dtype=np.float32), rect)
    if area <= 0 or inter is None:
        return []
    return [(float(x), float(y)) for x, y in inter.reshape(-1, 2)]


def polygon_iou(a: Polygon, b: Polygon) -> float:
    """Intersection over union of two convex polygons (used to score localisation)."""
    if len(a) < 3 or len(b) < 3:
        return 0.0
    pa = np.asarray(a, dtype=np.float32)
    pb = np.asarray(b, dtype=np.float32)
    inter, _ = cv2.intersectConvexConvex(pa, pb)
    union = polygon_area(a) + polygon_area(b) - inter
    return float(inter / union) if union > 0 else 0.0
