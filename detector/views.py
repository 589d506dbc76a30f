"""The views of a suspect beyond the whole picture: each part that may hold one artwork alone.

Two detectors give them: collage panels (detector.panels: axis-aligned, between gutters or at seams) and region
proposals (detector.proposals: straight-edged quadrilaterals such as a print on a product, the picture in a listing
page, a rotated panel on a photographed background), the latter rectified onto an upright rectangle. Each view is
compared with the originals as if it had been uploaded alone; its outline localises what it matched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from detector.geometry import Box, Polygon
from detector.proposals import Proposal, find_proposals, rectify


@dataclass(frozen=True, eq=False)  # pixel arrays: compared by identity, not by value
class View:
    """One part of the suspect: its outline (normalised), its pixels (rectified for a proposal) and the transform
    from those pixels back to the working copy's."""

    kind: Literal["panel", "region"]
    outline: Box | Proposal
    pixels: np.ndarray
    to_suspect: np.ndarray
    """3x3 perspective transform from the view's pixel coordinates to the working copy's."""

    @property
    def bounds(self) -> Box:
        """The axis-aligned box around the view (normalised)."""
        return self.outline if isinstance(self.outline, Box) else self.outline.bounds

    def to_polygon(self, width: int, height: int) -> Polygon:
        """The view's outline in pixels of a picture of `width` x `height`."""
        return self.outline.to_polygon(width, height)


def describe() -> dict[str, object]:
    """The views' settings, for the evidence's method section (a reproduction reads which views there were)."""
    import detector.proposals as p

    return {
        "panels": "detector.panels (gutters, then seams)",
        "proposals": {
            "analysis_side": p.ANALYSIS_SIDE,
            "area": [p.MIN_AREA, p.MAX_AREA],
            "min_side_support": p.MIN_SIDE_SUPPORT,
            "edge_strength": p.EDGE_STRENGTH,
            "max_corner_skew": p.MAX_CORNER_SKEW,
            "max_proposals": p.MAX_PROPOSALS,
        },
    }


def views_of(rgb: np.ndarray, panels: list[Box], proposals: bool = True) -> list[View]:
    """The collage panels first (cut from the working copy), then the region proposals that are not panels
    (`proposals` False: none, as before they existed)."""
    h, w = rgb.shape[:2]
    out: list[View] = []
    for b in panels:
        x0, y0 = round(b.x0 * w), round(b.y0 * h)
        pixels = np.ascontiguousarray(rgb[y0 : round(b.y1 * h), x0 : round(b.x1 * w)])
        shift = np.asarray([[1, 0, x0], [0, 1, y0], [0, 0, 1]], dtype=np.float64)
        out.append(View("panel", b, pixels, shift))
    for p in find_proposals(rgb, tuple(panels)) if proposals else []:
        pixels = rectify(rgb, p)
        ph, pw = pixels.shape[:2]
        corners = np.asarray([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32)
        back = cv2.getPerspectiveTransform(corners, np.asarray(p.to_polygon(w, h), np.float32))
        out.append(View("region", p, pixels, back.astype(np.float64)))
    return out
