"""Light overlay strokes: a tiled, semi-transparent watermark ("© shop" every few centimetres) or caption text.

Over a dark or low-contrast picture such strokes take ORB's strongest corners and pull the neural embedding
towards "text on a dark background". A white top-hat finds strokes thinner than `STROKE_KERNEL`; the
morphological opening is what the picture looks like without them. Real fine detail (stars, window lights,
sea foam) is filled too, so signals use the filled copy only as a second view beside the suspect as it is.
"""

from __future__ import annotations

import cv2
import numpy as np

WORKING_SIDE = (320, 640)
"""The filled copy's longest side falls in this range, as the keypoint signal's working copy does: stroke widths
are judged at a known scale."""
STROKE_KERNEL = 5
"""Light strokes thinner than this (pixels of the working copy) count as overlay."""
STROKE_CONTRAST = 25
"""How much brighter than its surroundings (grey levels) a pixel must be to count as part of a light stroke."""
OVERLAY_SHARE = 0.06
"""Pictures with at least this share of light-stroke pixels count as overlaid. Typical photos have under 0.035
(90th percentile of the dev distractors), tiled watermarks 0.075 and up."""


def working_shape(h: int, w: int) -> tuple[int, int]:
    """(height, width) of the working copy of an h x w picture: longest side brought into `WORKING_SIDE`."""
    longest = max(h, w)
    f = min(max(1.0, WORKING_SIDE[0] / longest), WORKING_SIDE[1] / longest)
    return (h, w) if f == 1.0 else (max(1, round(h * f)), max(1, round(w * f)))


def working_copy(image: np.ndarray) -> np.ndarray:
    """`image` (RGB or grey) resized so its longest side falls in `WORKING_SIDE` (unchanged when it does)."""
    h, w = image.shape[:2]
    shape = working_shape(h, w)
    if shape == (h, w):
        return image
    return cv2.resize(image, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def light_strokes_filled(rgb: np.ndarray) -> np.ndarray | None:
    """The working copy with its thin light strokes replaced by the opening, or None when they are few."""
    small = working_copy(rgb)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (STROKE_KERNEL, STROKE_KERNEL))
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY) if small.ndim == 3 else small
    strokes = (grey.astype(np.int16) - cv2.morphologyEx(grey, cv2.MORPH_OPEN, kernel)) > STROKE_CONTRAST
    if float(strokes.mean()) < OVERLAY_SHARE:
        return None
    strokes = cv2.dilate(strokes.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)  # and their antialiasing
    filled = small.copy()
    filled[strokes] = cv2.morphologyEx(small, cv2.MORPH_OPEN, kernel)[strokes]
    return filled
