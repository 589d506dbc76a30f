"""A second generator of artworks placed inside a larger picture: other products, page layouts and collages.

`detector.synthetic`'s mock-ups, screenshots and AI collages are frozen (their code and seeds make the report
figures). These are separate families, written apart from the region proposals and never used to choose their
parameters, so that a detector built on one generator's look is measured on another's: prints on posters at a
steep angle with a mat and frame, cushions, prints lying on a table; phone listing pages, search-result grids and
dark-themed pages; AI collages of more panels on gradients, as photo prints with white borders and shadows,
rotated further and overlapping.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from detector.synthetic import Polygon, Synthetic, _cover, _fit, _jpeg, _np, _pil, _rect, restyle

PRODUCTS = ("poster", "cushion", "tabletop")
LAYOUTS = ("phone", "results_grid", "dark_page")


def product(a: np.ndarray, rng: np.random.Generator, scene: np.ndarray) -> Synthetic:
    """The artwork on another product, photographed: a framed poster with a mat on a sharp textured wall seen at a
    steep angle, a cushion (a soft bulge, seams, shading), or a print lying rotated on a table."""
    kind = str(rng.choice(PRODUCTS))
    W, H = 1000, 800
    wall = cv2.resize(_cover(scene, W, H), (W, H), interpolation=cv2.INTER_AREA).astype(np.float32)
    if kind == "poster":
        art = _fit(a, int(rng.integers(300, 460)), int(rng.integers(260, 400)))
        mat = int(rng.integers(20, 50))
        framed = np.full((art.shape[0] + 2 * mat, art.shape[1] + 2 * mat, 3), 245, np.uint8)
        framed[mat : mat + art.shape[0], mat : mat + art.shape[1]] = art
        framed = cv2.copyMakeBorder(framed, 12, 12, 12, 12, cv2.BORDER_CONSTANT, value=(25, 25, 25))
        inner = [(12 + mat, 12 + mat), (12 + mat + art.shape[1], 12 + mat + art.shape[0])]
        return _placed(framed, inner, wall, rng, steep=0.22, kind=kind)
    if kind == "cushion":
        side = int(rng.integers(380, 520))
        art = cv2.resize(_cover(a, side, side), (side, side), interpolation=cv2.INTER_AREA)
        yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
        u, v = xx / (side - 1) * 2 - 1, yy / (side - 1) * 2 - 1
        bulge = 1 - 0.08 * (1 - u**2) * (1 - v**2)  # the centre stands out: the print spreads outwards
        mx, my = (u * bulge + 1) / 2 * (side - 1), (v * bulge + 1) / 2 * (side - 1)
        warped = cv2.remap(art, mx, my, cv2.INTER_LINEAR)
        shade = 0.7 + 0.3 * (1 - 0.5 * (u**2 + v**2))
        cushion = np.clip(warped.astype(np.float32) * shade[..., None], 0, 255).astype(np.uint8)
        return _placed(cushion, [(0, 0), (side, side)], wall, rng, steep=0.08, kind=kind)
    art = _fit(a, int(rng.integers(320, 480)), int(rng.integers(260, 420)))
    printed = cv2.copyMakeBorder(art, 10, 10, 10, 10, cv2.BORDER_CONSTANT, value=(250, 250, 250))
    box = [(10, 10), (10 + art.shape[1], 10 + art.shape[0])]
    return _placed(printed, box, wall, rng, steep=0.12, kind=kind, spin=40)


def _placed(
    item: np.ndarray,
    art_box: list[tuple[int, int]],
    wall: np.ndarray,
    rng: np.random.Generator,
    steep: float,
    kind: str,
    spin: float = 0.0,
) -> Synthetic:
    """`item` warped into the photo at a perspective of up to `steep` of its size (and rotated up to `spin` degrees),
    with a shadow, a light falling across and sensor noise; the region is the art's box inside `item`."""
    H, W = wall.shape[:2]
    ih, iw = item.shape[:2]
    angle = np.radians(float(rng.uniform(-spin, spin)))
    cx, cy = W / 2 + float(rng.uniform(-0.15, 0.15)) * W, H / 2 + float(rng.uniform(-0.12, 0.12)) * H
    corners = np.asarray([[-iw / 2, -ih / 2], [iw / 2, -ih / 2], [iw / 2, ih / 2], [-iw / 2, ih / 2]], np.float32)
    rot = np.asarray([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
    dst = corners @ rot.T + [cx, cy] + rng.uniform(-steep, steep, (4, 2)).astype(np.float32) * [iw, ih]
    src = np.asarray([[0, 0], [iw, 0], [iw, ih], [0, ih]], np.float32)
    m = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    layer = cv2.warpPerspective(item, m, (W, H)).astype(np.float32)
    mask = cv2.warpPerspective(np.full((ih, iw), 255, np.uint8), m, (W, H)).astype(np.float32) / 255
    shadow = cv2.GaussianBlur(np.roll(mask, (12, 10), axis=(0, 1)), (0, 0), 8)
    photo = wall * (1 - 0.45 * shadow[..., None])
    photo = photo * (1 - mask[..., None]) + layer * mask[..., None]
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    light = 0.8 + 0.3 * np.cos(float(rng.uniform(0, 2 * np.pi)) + xx / W * 2.5 + yy / H)
    photo = np.clip(photo * light[..., None] + rng.normal(0, 5, photo.shape), 0, 255).astype(np.uint8)
    (x0, y0), (x1, y1) = art_box
    box = np.asarray([[[x0, y0]], [[x1, y0]], [[x1, y1]], [[x0, y1]]], np.float32)
    region = [(float(x), float(y)) for x, y in cv2.perspectiveTransform(box, m)[:, 0]]
    area = abs(float(cv2.contourArea(np.asarray(region, np.float32)))) / (W * H)
    return Synthetic(_jpeg(photo, 84), "placed_product", f"placed_{kind}", region_in_suspect=region, area_fraction=area)


def page(a: np.ndarray, rng: np.random.Generator, others: list[np.ndarray]) -> Synthetic:
    """The artwork on a listing page of another layout: a phone screenshot (full width, under a status bar), one
    tile of a grid of search results (the others are other works), or a dark-themed page with it on the right."""
    kind = str(rng.choice(LAYOUTS))
    if kind == "phone":
        W, H, bg, ink = 720, 1480, (255, 255, 255), (30, 30, 30)
    elif kind == "results_grid":
        W, H, bg, ink = 1366, 768, (250, 250, 252), (40, 40, 40)
    else:
        W, H, bg, ink = 1440, 900, (24, 26, 30), (225, 225, 225)
    canvas = Image.new("RGB", (W, H), bg)
    d = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=26)
    if kind == "phone":
        d.rectangle((0, 0, W, 60), fill=(0, 0, 0))
        d.text((24, 16), "9:41", fill=(255, 255, 255), font=font)
        art = _fit(a, W - 40, 820)
        x, y = 20, 140
        d.text((24, 80), "< Back        Handmade art print", fill=ink, font=font)
        d.text((24, y + art.shape[0] + 30), "$ 39.00  Free shipping", fill=(200, 30, 30), font=font)
        d.rounded_rectangle((24, H - 120, W - 24, H - 50), 20, fill=(255, 90, 40))
    elif kind == "results_grid":
        d.rectangle((0, 0, W, 80), fill=(255, 255, 255))
        d.text((30, 26), "Results for 'canvas wall art'", fill=ink, font=font)
        cells = [(40 + c * 325, 110 + r * 320) for r in range(2) for c in range(4)]
        pick = int(rng.integers(len(cells)))
        for i, (cx, cy) in enumerate(cells):
            tile = _fit(a if i == pick else others[i % len(others)], 290, 230)
            canvas.paste(_pil(tile), (cx, cy))
            small = ImageFont.load_default(size=18)
            d.text((cx, cy + 245), f"Print #{i + 1}   $ {19 + 3 * i}.99", fill=ink, font=small)
        art = _fit(a, 290, 230)
        x, y = cells[pick]
    else:
        art = _fit(a, 620, 620)
        x, y = W - art.shape[1] - 80, 140
        d.text((60, 160), "LIMITED EDITION GICLEE", fill=ink, font=ImageFont.load_default(size=34))
        d.text((60, 230), "€ 129", fill=(255, 200, 60), font=ImageFont.load_default(size=40))
        for i, o in enumerate(others[:3]):
            thumb = _pil(_fit(o, 110, 110))
            canvas.paste(thumb, (60 + i * 130, 700))
    canvas.paste(_pil(art), (x, y))
    region = _rect(x, y, x + art.shape[1], y + art.shape[0])
    area = art.shape[0] * art.shape[1] / (W * H)
    return Synthetic(_np(canvas), "placed_page", f"page_{kind}", region_in_suspect=region, area_fraction=area)


def collage(
    panels: list[np.ndarray], rng: np.random.Generator, clipart: list[np.ndarray]
) -> tuple[np.ndarray, list[Polygon]]:
    """AI-like re-renderings (`restyle`) of several works as photo prints with white borders and soft shadows,
    rotated up to 20 degrees and overlapping a little, on a colour gradient, with clip art; panels in order."""
    n = len(panels)
    cols = 3 if n > 4 else 2
    rows = int(np.ceil((n + 1) / cols))
    cell = 330
    W, H = cols * cell + 60, rows * cell + 60
    top, bottom = rng.uniform(60, 230, 3), rng.uniform(60, 230, 3)
    t = np.linspace(0, 1, H, dtype=np.float32)[:, None, None]
    base = np.broadcast_to(top * (1 - t) + bottom * t, (H, W, 3)).astype(np.uint8)
    canvas = _pil(np.ascontiguousarray(base)).convert("RGBA")
    regions: list[Polygon] = []
    for i, p in enumerate(panels):
        r, c = divmod(i, cols)
        art = _fit(restyle(p, rng).image, cell - 20, cell - 20)
        ah, aw = art.shape[:2]
        framed = Image.new("RGBA", (aw + 24, ah + 24), (252, 252, 250, 255))
        framed.paste(_pil(art), (12, 12))
        angle = float(rng.uniform(-20, 20))
        shadow = Image.new("RGBA", framed.size, (0, 0, 0, 110)).rotate(angle, expand=True)
        rotated = framed.rotate(angle, expand=True, resample=Image.Resampling.BICUBIC)
        cx, cy = 30 + c * cell + cell // 2 + int(rng.integers(-25, 26)), 30 + r * cell + cell // 2
        ox, oy = cx - rotated.width // 2, cy - rotated.height // 2
        canvas.alpha_composite(shadow.filter(ImageFilter.GaussianBlur(6)), (max(0, ox + 8), max(0, oy + 8)))
        canvas.alpha_composite(rotated, (max(0, ox), max(0, oy)))
        th = np.deg2rad(-angle)
        hw, hh = aw / 2, ah / 2
        centre_x, centre_y = max(0, ox) + rotated.width / 2, max(0, oy) + rotated.height / 2
        pts = [(-hw, -hh), (hw, -hh), (hw, hh), (-hw, hh)]
        regions.append(
            [(centre_x + x * np.cos(th) - y * np.sin(th), centre_y + x * np.sin(th) + y * np.cos(th)) for x, y in pts]
        )
    r, c = divmod(n, cols)
    for k, art in enumerate(clipart[:2]):
        im = _pil(_fit(art, cell // 2 - 10, cell // 2 - 10)).convert("RGBA")
        canvas.alpha_composite(im, (30 + c * cell + k * (cell // 2), 30 + r * cell + cell // 4))
    return _np(canvas.convert("RGB")), regions
