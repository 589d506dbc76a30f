"""Figures for a match: the two images side by side with the matched region outlined and keypoint
correspondences drawn, and an aligned overlay with a difference view. Returns PNG bytes."""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image, ImageDraw

from detector.geometry import Polygon
from detector.intake import DecodedImage

HEIGHT = 420
MAX_WIDTH = 3 * HEIGHT
"""A picture in a figure is at most this wide: a 1000x2 divider drawn 420 px high would be 210,000 px wide, past what
JPEG can hold, so extreme shapes are fitted into a HEIGHT x MAX_WIDTH box instead."""
GAP = 24
OUTLINE = (255, 40, 40)
LINE_COLOURS = ((0, 200, 255), (255, 200, 0), (120, 255, 120), (255, 120, 255))
MAX_LINES = 40


def _jpeg(a: np.ndarray | Image.Image) -> bytes:
    """Figures are illustrations of the comparison (the compared files themselves travel in the bundle), so
    JPEG at quality 90 keeps reports small enough to mail."""
    im = a if isinstance(a, Image.Image) else Image.fromarray(a)
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=90, optimize=True)
    return buf.getvalue()


def _boxed(im: Image.Image, height: int, width: int = MAX_WIDTH) -> Image.Image:
    """`im` scaled to `height`, or less where that would make it wider than `width` (aspect kept)."""
    f = min(height / im.height, width / im.width)
    return im.resize((max(1, round(im.width * f)), max(1, round(im.height * f))), Image.Resampling.LANCZOS)


def _fit(img: DecodedImage, height: int) -> tuple[Image.Image, float]:
    """The working copy fitted into `height` x MAX_WIDTH; returns it and display pixels per file pixel."""
    im = _boxed(Image.fromarray(img.rgb), height)
    return im, im.width / img.width


def side_by_side(
    suspect: DecodedImage,
    original: DecodedImage,
    region: Polygon | None,
    reference_region: Polygon | None,
    pairs: list[list[float]] | None,
) -> bytes:
    """Suspect (left) and registered original (right), regions outlined, up to 40 correspondences joined."""
    left, fl = _fit(suspect, HEIGHT)
    right, fr = _fit(original, HEIGHT)
    canvas = Image.new("RGB", (left.width + GAP + right.width, max(left.height, right.height)), "white")
    canvas.paste(left, (0, 0))
    canvas.paste(right, (left.width + GAP, 0))
    d = ImageDraw.Draw(canvas)
    ox = left.width + GAP
    if pairs:
        step = max(1, len(pairs) // MAX_LINES)
        for i, (qx, qy, rx, ry) in enumerate(pairs[::step][:MAX_LINES]):
            colour = LINE_COLOURS[i % len(LINE_COLOURS)]
            a, b = (qx * fl, qy * fl), (ox + rx * fr, ry * fr)
            d.line([a, b], fill=colour, width=1)
            d.ellipse([a[0] - 2, a[1] - 2, a[0] + 2, a[1] + 2], outline=colour)
            d.ellipse([b[0] - 2, b[1] - 2, b[0] + 2, b[1] + 2], outline=colour)
    if region:
        d.polygon([(x * fl, y * fl) for x, y in region], outline=OUTLINE, width=3)
    if reference_region:
        d.polygon([(ox + x * fr, y * fr) for x, y in reference_region], outline=OUTLINE, width=3)
    return _jpeg(canvas)


def aligned_overlay(
    suspect: DecodedImage,
    original: DecodedImage,
    homography: np.ndarray | None,
    region: Polygon | None,
    reference_region: Polygon | None,
) -> bytes | None:
    """Three panels: the suspect's matched area, the original aligned onto it, and their absolute difference.

    With a keypoint homography the original is warped into the suspect's frame; otherwise the two matched
    boxes are resized to the same size. None when there is no region to compare."""
    q = suspect.rgb
    qs = q.shape[1] / suspect.width  # working pixels per file pixel
    rs = original.rgb.shape[1] / original.width
    if homography is not None:
        to_q = np.diag([qs, qs, 1.0]) @ homography @ np.diag([1 / rs, 1 / rs, 1.0])
        warped = cv2.warpPerspective(original.rgb, to_q, (q.shape[1], q.shape[0]))
        mask = cv2.warpPerspective(np.full(original.rgb.shape[:2], 255, np.uint8), to_q, (q.shape[1], q.shape[0]))
        ys, xs = np.nonzero(mask)
        if len(xs) == 0:
            return None
        x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
        a, b, m = q[y0:y1, x0:x1], warped[y0:y1, x0:x1], mask[y0:y1, x0:x1] > 0
    elif region and reference_region:
        a = _crop(q, region, qs)
        b = _crop(original.rgb, reference_region, rs)
        if a.size == 0 or b.size == 0:
            return None
        b = cv2.resize(b, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_AREA)
        m = np.ones(a.shape[:2], bool)
    else:
        return None
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16)).mean(axis=2).astype(np.uint8)
    span = max(1, int(diff.max()))
    scaled = (diff.astype(np.float32) * (255.0 / span)).astype(np.uint8)
    heat = cv2.applyColorMap(scaled, cv2.COLORMAP_INFERNO)[..., ::-1].copy()
    heat[~m] = 255
    panels = [Image.fromarray(np.ascontiguousarray(x)) for x in (a, b, heat)]
    panels = [_boxed(p, 300) for p in panels]
    canvas = Image.new("RGB", (sum(p.width for p in panels) + 2 * GAP, max(p.height for p in panels)), "white")
    x = 0
    for p in panels:
        canvas.paste(p, (x, 0))
        x += p.width + GAP
    return _jpeg(canvas)


def _crop(rgb: np.ndarray, poly: Polygon, scale: float) -> np.ndarray:
    xs = [p[0] * scale for p in poly]
    ys = [p[1] * scale for p in poly]
    x0, x1 = max(0, int(min(xs))), min(rgb.shape[1], int(np.ceil(max(xs))))
    y0, y1 = max(0, int(min(ys))), min(rgb.shape[0], int(np.ceil(max(ys))))
    return np.ascontiguousarray(rgb[y0:y1, x0:x1])
