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


def points_inside(polygon: Polygon, points: np.ndarray) -> int:
    """How many points lie inside (or on) a convex polygon: on the same side of every edge."""
    if len(polygon) < 3 or len(points) == 0:
        return 0
    a = np.asarray(polygon, dtype=np.float64)
    edge = np.roll(a, -1, axis=0) - a  # (k, 2)
    rel = points[:, None, :].astype(np.float64) - a[None, :, :]  # (n, k, 2)
    cross = edge[None, :, 0] * rel[..., 1] - edge[None, :, 1] * rel[..., 0]
    eps = 1e-6 * float(np.abs(edge).max() or 1.0) ** 2
    return int(((cross >= -eps).all(axis=1) | (cross <= eps).all(axis=1)).sum())


def plausible_homography(h: np.ndarray) -> bool:
    """Reject degenerate transforms (mirror-collapsed, extreme perspective) that RANSAC can still return."""
    det = float(np.linalg.det(h[:2, :2]))
    return 1e-3 < det < 1e3 and abs(float(h[2, 0])) < 0.01 and abs(float(h[2, 1])) < 0.01


def homography_outlines(
    h: np.ndarray, query_size: tuple[int, int], reference_size: tuple[int, int]
) -> tuple[Polygon, Polygon]:
    """The original's frame mapped into the suspect, and that same area mapped back into the original.

    Mapping back the visible part (not the suspect's whole frame) keeps every point on the near side of the
    homography's horizon: a small panel's transform sends the far corners of a large collage to infinity."""

    def project(m: np.ndarray, polygon: Polygon) -> Polygon:
        pts = np.asarray(polygon, dtype=np.float32).reshape(-1, 1, 2)
        return [(float(x), float(y)) for x, y in cv2.perspectiveTransform(pts, m).reshape(-1, 2)]

    (qw, qh), (rw, rh) = query_size, reference_size
    frame = [(0.0, 0.0), (float(rw), 0.0), (float(rw), float(rh)), (0.0, float(rh))]
    in_query = clip_polygon(project(h, frame), qw, qh)
    if polygon_area(in_query) < 1:
        return [], []
    try:
        inv = np.linalg.inv(h)
    except np.linalg.LinAlgError:
        return in_query, []
    in_reference = clip_polygon(project(inv, in_query), rw, rh)
    return in_query, in_reference if polygon_area(in_reference) >= 1 else []
