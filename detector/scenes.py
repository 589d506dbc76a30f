"""Seeded scenes that hold an artwork among other things, as the first synthetic generator makes them: a product
mock-up (the art printed on a T-shirt, mug, phone case, tote or canvas, photographed) and an AI-rendered collage.
Frozen with the report's figures; detector.placements is the second generator, never fitted on.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from detector.synthetic import Polygon, Synthetic, _cover, _fit, _jpeg, _np, _pil, restyle

PRODUCTS = ("tshirt", "mug", "phone_case", "tote", "canvas")


def mockup(a: np.ndarray, rng: np.random.Generator, scene: np.ndarray) -> Synthetic:
    """The artwork printed on a product (T-shirt, mug, phone case, tote, framed canvas on a wall) in a product
    photo: folds or a cylinder's curvature, the product's shading, a slight perspective, a photographed
    background (`scene`, an unrelated photo), lighting, noise and JPEG. The art covers 5-30% of the picture."""
    kind = str(rng.choice(PRODUCTS))
    W = H = 900
    bg = cv2.resize(_cover(scene, W, H), (W, H), interpolation=cv2.INTER_AREA)
    bg = cv2.GaussianBlur(bg, (0, 0), float(rng.uniform(2, 6)))  # shallow depth of field
    canvas = bg.astype(np.float32)
    colour_ = np.array(
        rng.choice([[245, 245, 245], [30, 30, 35], [200, 40, 50], [60, 90, 160], [180, 180, 170]]), dtype=np.float32
    )
    mask, box, colour_ = _product(kind, W, H, colour_)
    product = np.broadcast_to(colour_, (H, W, 3)).astype(np.float32)
    x0, y0, x1, y1 = box
    art = _fit(a, x1 - x0, y1 - y0)
    ah, aw = art.shape[:2]
    ox, oy = x0 + (x1 - x0 - aw) // 2, y0 + (y1 - y0 - ah) // 2
    # print the art: folds (cloth) or a cylinder (mug), in the art's own coordinates
    mx, my, shade = _printed_on(kind, aw, ah, rng)
    printed = cv2.remap(art, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT).astype(np.float32)
    product[oy : oy + ah, ox : ox + aw] = printed
    # the product's own shading (one soft light from the side), then onto the background
    light_x = float(rng.uniform(0.2, 0.8)) * W
    gx = np.exp(-(((np.arange(W) - light_x) / (0.7 * W)) ** 2)).astype(np.float32)
    product *= (0.7 + 0.3 * gx)[None, :, None]
    product[oy : oy + ah, ox : ox + aw] *= shade[..., None]
    soft = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), 1.5)[..., None]
    canvas = canvas * (1 - soft) + product * soft
    # a slight perspective of the whole photo, lighting, noise, JPEG
    src = np.array([[0, 0], [W, 0], [W, H], [0, H]], np.float32)
    dst = (src + rng.uniform(-1, 1, (4, 2)).astype(np.float32) * 0.06 * W).astype(np.float32)
    mat = cv2.getPerspectiveTransform(src, dst)
    out = cv2.warpPerspective(np.clip(canvas, 0, 255).astype(np.uint8), mat, (W, H), borderMode=cv2.BORDER_REFLECT)
    out = np.clip(out.astype(np.float32) * float(rng.uniform(0.8, 1.1)) + rng.normal(0, 4, out.shape), 0, 255)
    corners = np.array([[[ox, oy]], [[ox + aw, oy]], [[ox + aw, oy + ah]], [[ox, oy + ah]]], np.float32)
    region = [(float(x), float(y)) for x, y in cv2.perspectiveTransform(corners, mat)[:, 0]]
    return Synthetic(
        _jpeg(out.astype(np.uint8), 82),
        "mockup",
        f"mockup_{kind}",
        region_in_suspect=region,
        area_fraction=aw * ah / (W * H),
    )


def _product(
    kind: str, W: int, H: int, colour_: np.ndarray
) -> tuple[np.ndarray, tuple[int, int, int, int], np.ndarray]:
    """The product's silhouette (a mask of the W x H photo), the box its print fills and its colour (a framed
    canvas's is its frame's)."""
    mask = np.zeros((H, W), np.uint8)
    if kind == "tshirt":
        body = np.array(
            [
                [300, 180],
                [380, 150],
                [520, 150],
                [600, 180],
                [720, 300],
                [640, 360],
                [610, 330],
                [610, 800],
                [290, 800],
                [290, 330],
                [260, 360],
                [180, 300],
            ],
            np.int32,
        )
        cv2.fillPoly(mask, [body], 255)
        box = (345, 260, 555, 520)
    elif kind == "tote":
        cv2.rectangle(mask, (250, 300), (650, 800), 255, -1)
        cv2.ellipse(mask, (450, 300), (120, 140), 0, 180, 360, 255, 18)
        box = (290, 360, 610, 760)
    elif kind == "mug":
        cv2.rectangle(mask, (280, 280), (620, 720), 255, -1)
        cv2.ellipse(mask, (650, 500), (90, 120), 0, -90, 90, 255, 30)
        box = (300, 330, 600, 670)
    elif kind == "phone_case":
        cv2.rectangle(mask, (330, 170), (570, 730), 255, -1)
        box = (345, 185, 555, 715)
    else:  # framed canvas on a wall
        cv2.rectangle(mask, (190, 210), (710, 690), 255, -1)
        colour_ = np.array([60, 45, 30], np.float32)  # the frame
        box = (215, 235, 685, 665)
    return mask, box, colour_


def _printed_on(kind: str, aw: int, ah: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each pixel of an aw x ah print samples the art (x and y maps) and how it is shaded: folds on cloth,
    a cylinder's curvature on a mug, flat otherwise."""
    yy, xx = np.mgrid[0:ah, 0:aw].astype(np.float32)
    if kind in ("tshirt", "tote"):
        amp, period = float(rng.uniform(2, 6)), float(rng.uniform(60, 140))
        mx = xx + amp * np.sin(yy / period * 2 * np.pi)
        my = yy + amp * np.sin(xx / (period * 1.3) * 2 * np.pi)
        shade = 1 - 0.12 * (0.5 + 0.5 * np.sin(xx / period * 2 * np.pi + 1.0))
    elif kind == "mug":
        u = (xx / max(1, aw - 1)) * 2 - 1
        mx = (np.arcsin(np.clip(u * 0.95, -1, 1)) / np.arcsin(0.95) + 1) / 2 * (aw - 1)
        my = yy
        shade = 0.55 + 0.45 * np.cos(u * np.pi / 2.2)
    else:
        mx, my, shade = xx, yy, np.ones_like(xx)
    return np.asarray(mx, np.float32), np.asarray(my, np.float32), np.asarray(shade, np.float32)


def ai_collage(
    panels: list[np.ndarray], rng: np.random.Generator, scene: np.ndarray, clipart: list[np.ndarray]
) -> tuple[np.ndarray, list[Polygon]]:
    """What the infringers in the brief sell: AI-like re-renderings (`restyle`) of several works, each rotated a
    little, on a photographed or textured background, with a caption and unrelated clip art beside them.
    Returns the canvas and each panel's outline, in the order of `panels`."""
    n = len(panels)
    cols = int(np.ceil(np.sqrt(n + 1)))  # one cell is left to the clip art and caption
    rows = int(np.ceil((n + 1) / cols))
    cell = 360
    W, H = cols * cell + 40, rows * cell + 120
    if rng.random() < 0.5:
        base = cv2.resize(_cover(scene, W, H), (W, H), interpolation=cv2.INTER_AREA)
    else:  # paper or linen texture
        tone = rng.uniform(180, 240, 3)
        grain = cv2.GaussianBlur(rng.normal(0, 25, (H, W)).astype(np.float32), (0, 0), 1.2)[..., None]
        base = np.clip(tone + grain, 0, 255).astype(np.uint8)
    canvas = _pil(np.ascontiguousarray(base)).convert("RGBA")
    regions: list[Polygon] = []
    for i, p in enumerate(panels):
        r, c = divmod(i, cols)
        art = restyle(p, rng).image
        im = _pil(_fit(art, cell - 40, cell - 40)).convert("RGBA")
        angle = float(rng.uniform(-12, 12))
        rotated = im.rotate(angle, expand=True, resample=Image.Resampling.BICUBIC)
        cx, cy = 20 + c * cell + cell // 2, 100 + r * cell + cell // 2
        ox, oy = cx - rotated.width // 2, cy - rotated.height // 2
        canvas.alpha_composite(rotated, (max(0, ox), max(0, oy)))
        t = np.deg2rad(-angle)
        hw, hh = im.width / 2, im.height / 2
        pts = [(-hw, -hh), (hw, -hh), (hw, hh), (-hw, hh)]
        regions.append([(cx + x * np.cos(t) - y * np.sin(t), cy + x * np.sin(t) + y * np.cos(t)) for x, y in pts])
    # the last cell: unrelated clip art; the caption on top
    r, c = divmod(n, cols)
    for k, art in enumerate(clipart[:2]):
        im = _pil(_fit(art, cell // 2 - 10, cell // 2 - 10)).convert("RGBA")
        canvas.alpha_composite(im, (20 + c * cell + k * (cell // 2), 100 + r * cell + (cell // 4)))
    d = ImageDraw.Draw(canvas)
    caption = str(rng.choice(["MASTERPIECE COLLECTION", "AI ART BUNDLE - 9 PRINTS", "Wall art set, instant download"]))
    d.text((24, 24), caption, fill=(20, 20, 20, 255), font=ImageFont.load_default(size=44))
    return _np(canvas.convert("RGB")), regions
