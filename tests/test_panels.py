"""Collage panel detection on generated collages and on ordinary pictures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detector.panels import find_panels

DEMO = Path(__file__).resolve().parents[1] / "samples" / "demo"


def originals() -> list[np.ndarray]:
    return [np.asarray(Image.open(p).convert("RGB")) for p in sorted((DEMO / "originals").iterdir())]


def grid(images: list[np.ndarray], cols: int, gutter: int, cell: int = 300) -> tuple[np.ndarray, list[tuple]]:
    rows = -(-len(images) // cols)
    canvas = np.full((rows * cell + (rows + 1) * gutter, cols * cell + (cols + 1) * gutter, 3), 255, np.uint8)
    boxes = []
    for i, a in enumerate(images):
        r, c = divmod(i, cols)
        im = Image.fromarray(a).resize((cell, cell))
        x, y = gutter + c * (cell + gutter), gutter + r * (cell + gutter)
        canvas[y : y + cell, x : x + cell] = np.asarray(im)
        h, w = canvas.shape[:2]
        boxes.append((x / w, y / h, (x + cell) / w, (y + cell) / h))
    return canvas, boxes


@pytest.mark.parametrize(("n", "cols"), [(2, 2), (3, 3), (4, 2), (6, 3)])
def test_panels_of_a_collage_with_gutters_are_found(n: int, cols: int) -> None:
    imgs = (originals() * 3)[:n]
    canvas, truth = grid(imgs, cols, gutter=16)
    found = find_panels(canvas)
    assert len(found) == n
    for t in truth:
        best = min(found, key=lambda b: abs(b.x0 - t[0]) + abs(b.y0 - t[1]) + abs(b.x1 - t[2]) + abs(b.y1 - t[3]))
        assert abs(best.x0 - t[0]) < 0.02 and abs(best.y1 - t[3]) < 0.02


def test_panels_butting_without_gutters_are_split_at_their_seam() -> None:
    canvas, _ = grid(originals()[:3], 3, gutter=0)
    assert len(find_panels(canvas)) == 3


@pytest.mark.parametrize("name", ["vangogh-night-cafe.jpg", "vangogh-pere-tanguy.jpg"])
def test_an_ordinary_picture_is_not_a_collage(name: str) -> None:
    assert find_panels(np.asarray(Image.open(DEMO / "originals" / name).convert("RGB"))) == []
