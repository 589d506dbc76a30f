"""Seeded synthetic derivatives of registered originals: the transformations investigators really meet.

Each generator takes an RGB uint8 original and a numpy Generator and returns a `Synthetic`: the suspect image,
its family and relation, and where the original's content lies (for localisation IoU): `region_in_suspect`
(collage panels, screenshots) and/or `region_in_original` (crops), as pixel polygons.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

Polygon = list[tuple[float, float]]


@dataclass
class Synthetic:
    image: np.ndarray
    family: str
    relation: str
    region_in_suspect: Polygon | None = None
    region_in_original: Polygon | None = None
    area_fraction: float = 1.0
    """Share of the original (crops) or of the canvas (collage panels) the copied content covers."""
    extra_works: list[int] = field(default_factory=list)
    """Other originals (by index) also present, for collages."""


def _pil(a: np.ndarray) -> Image.Image:
    return Image.fromarray(a)


def _np(im: Image.Image) -> np.ndarray:
    return np.asarray(im.convert("RGB"), dtype=np.uint8)


def _rect(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def _jpeg(a: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    _pil(a).save(buf, "JPEG", quality=quality)
    return _np(Image.open(io.BytesIO(buf.getvalue())))


def _crop_area(a: np.ndarray, rng: np.random.Generator, area: float, aspect: float | None = None) -> Synthetic:
    h, w = a.shape[:2]
    ar = aspect if aspect is not None else (w / h) * float(rng.uniform(0.7, 1.4))
    cw = min(w, np.sqrt(area * w * h * ar))
    ch = min(h, cw / ar)
    cw = min(w, area * w * h / ch)
    x0 = float(rng.uniform(0, w - cw))
    y0 = float(rng.uniform(0, h - ch))
    crop = a[int(y0) : int(y0 + ch), int(x0) : int(x0 + cw)]
    return Synthetic(
        crop,
        "crop",
        f"crop_{round(area * 100)}pct",
        region_in_original=_rect(int(x0), int(y0), int(x0 + cw), int(y0 + ch)),
        area_fraction=crop.shape[0] * crop.shape[1] / (h * w),
    )


def jpeg(a: np.ndarray, rng: np.random.Generator) -> Synthetic:
    q = int(rng.choice([10, 20, 30, 50, 70, 90]))
    return Synthetic(_jpeg(a, q), "near_copy", f"jpeg_q{q}")


def resize(a: np.ndarray, rng: np.random.Generator) -> Synthetic:
    f = float(rng.choice([0.1, 0.2, 0.35, 0.5, 1.5, 2.5, 4.0]))
    h, w = a.shape[:2]
    nh, nw = max(8, round(h * f)), max(8, round(w * f))
    if nh * nw > 12_000_000:
        f = (12_000_000 / (h * w)) ** 0.5
        nh, nw = round(h * f), round(w * f)
    return Synthetic(
        cv2.resize(a, (nw, nh), interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC),
        "near_copy",
        f"resize_{int(f * 100)}pct",
    )


def crop(a: np.ndarray, rng: np.random.Generator) -> Synthetic:
    return _crop_area(a, rng, float(rng.choice([0.1, 0.2, 0.3, 0.5, 0.7])))


def reframe(a: np.ndarray, rng: np.random.Generator) -> Synthetic:
    h, w = a.shape[:2]
    target = float(rng.choice([16 / 9, 1.0, 9 / 16, 4 / 5]))
    area = w * (w / target) / (w * h) if target > w / h else h * target * h / (w * h)
    s = _crop_area(a, rng, min(1.0, area), aspect=target)
    s.family, s.relation = "crop", f"reframe_{target:.2f}"
    return s


def rotate(a: np.ndarray, rng: np.random.Generator) -> Synthetic:
    angle = float(rng.choice([-30, -5, 5, 30, 90, 180, 270]))
    im = _pil(a).rotate(angle, expand=True, fillcolor=(255, 255, 255), resample=Image.Resampling.BICUBIC)
    return Synthetic(_np(im), "near_copy", f"rotate_{int(angle)}")


def flip(a: np.ndarray, rng: np.random.Generator) -> Synthetic:
    if rng.random() < 0.5:
        return Synthetic(a[:, ::-1].copy(), "near_copy", "flip_horizontal")
    return Synthetic(a[::-1].copy(), "near_copy", "flip_vertical")


def colour(a: np.ndarray, rng: np.random.Generator) -> Synthetic:
    im = _pil(a)
    kind = str(rng.choice(["hue", "brightness", "contrast", "gamma", "grayscale", "sepia", "saturation"]))
    if kind == "hue":
        hsv = np.asarray(im.convert("HSV")).copy()
        hsv[..., 0] = (hsv[..., 0].astype(int) + int(rng.integers(30, 120))) % 256
        out = Image.fromarray(hsv, "HSV").convert("RGB")
    elif kind == "brightness":
        out = ImageEnhance.Brightness(im).enhance(float(rng.choice([0.5, 0.7, 1.3, 1.6])))
    elif kind == "contrast":
        out = ImageEnhance.Contrast(im).enhance(float(rng.choice([0.5, 0.7, 1.4, 1.8])))
    elif kind == "saturation":
        out = ImageEnhance.Color(im).enhance(float(rng.choice([0.3, 1.8])))
    elif kind == "gamma":
        g = float(rng.choice([0.5, 0.7, 1.5, 2.0]))
        lut = [round(255 * (i / 255) ** g) for i in range(256)] * 3
        out = im.point(lut)
    elif kind == "grayscale":
        out = ImageOps.grayscale(im).convert("RGB")
    else:
        out = ImageOps.colorize(ImageOps.grayscale(im), (40, 26, 13), (255, 240, 192))
    return Synthetic(_np(out), "near_copy", f"colour_{kind}")


def degrade(a: np.ndarray, rng: np.random.Generator) -> Synthetic:
    kind = str(rng.choice(["blur", "noise", "sharpen"]))
    if kind == "blur":
        out = _np(_pil(a).filter(ImageFilter.GaussianBlur(float(rng.choice([1.5, 3.0, 5.0])))))
    elif kind == "noise":
        sigma = float(rng.choice([8, 16, 28]))
        out = np.clip(a.astype(np.float32) + rng.normal(0, sigma, a.shape), 0, 255).astype(np.uint8)
    else:
        out = _np(_pil(a).filter(ImageFilter.UnsharpMask(radius=3, percent=250, threshold=2)))
    return Synthetic(out, "near_copy", f"degrade_{kind}")


def overlay(a: np.ndarray, rng: np.random.Generator) -> Synthetic:
    im = _pil(a).convert("RGBA")
    layer = Image.new("RGBA", im.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    w, h = im.size
    kind = str(rng.choice(["text", "logo", "watermark"]))
    font = ImageFont.load_default(size=max(12, h // 12))
    if kind == "text":
        d.text(
            (w * 0.05, h * 0.8),
            "SALE -50% ART PRINT",
            fill=(255, 255, 0, 255),
            font=font,
            stroke_width=2,
            stroke_fill=(0, 0, 0, 255),
        )
    elif kind == "logo":
        r = min(w, h) * 0.12
        cx, cy = w * 0.85, h * 0.15
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(220, 30, 30, 255))
        d.text((cx - r * 0.6, cy - r * 0.4), "TM", fill=(255, 255, 255, 255), font=font)
    else:
        return Synthetic(overlay_watermark(a), "near_copy", f"overlay_{kind}")
    out = Image.alpha_composite(im, layer).convert("RGB")
    return Synthetic(_np(out), "near_copy", f"overlay_{kind}")


def border(a: np.ndarray, rng: np.random.Generator) -> Synthetic:
    h, w = a.shape[:2]
    p = int(max(h, w) * float(rng.choice([0.05, 0.15, 0.3])))
    colour_ = tuple(int(c) for c in rng.integers(0, 256, 3))
    out = cv2.copyMakeBorder(a, p, p, p, p, cv2.BORDER_CONSTANT, value=colour_)
    return Synthetic(out, "near_copy", "border_padding", region_in_suspect=_rect(p, p, p + w, p + h))


def screenshot(a: np.ndarray, rng: np.random.Generator, others: list[np.ndarray]) -> Synthetic:
    """The original as a product photo on a marketplace-like page with header, price and other listings."""
    page_w, page_h = 1280, 900
    page = Image.new("RGB", (page_w, page_h), (245, 245, 245))
    d = ImageDraw.Draw(page)
    d.rectangle((0, 0, page_w, 70), fill=(35, 47, 62))
    d.text(
        (20, 20), "marketplace  |  art prints  |  search...", fill=(255, 255, 255), font=ImageFont.load_default(size=24)
    )
    h, w = a.shape[:2]
    s = min(700 / w, 700 / h)
    pw, ph = int(w * s), int(h * s)
    x0, y0 = 40, 100
    page.paste(_pil(a).resize((pw, ph), Image.Resampling.LANCZOS), (x0, y0))
    font = ImageFont.load_default(size=28)
    d.text((780, 120), "Original canvas print", fill=(20, 20, 20), font=font)
    d.text((780, 170), "€ 49.99", fill=(180, 20, 20), font=font)
    d.rectangle((780, 230, 1000, 280), fill=(255, 153, 0))
    for i, o in enumerate(others[:3]):
        t = _pil(o).copy()
        t.thumbnail((150, 150))
        page.paste(t, (780 + i * 160, 600))
    return Synthetic(
        _np(page),
        "screenshot",
        "marketplace_page",
        region_in_suspect=_rect(x0, y0, x0 + pw, y0 + ph),
        area_fraction=pw * ph / (page_w * page_h),
    )


def perspective(a: np.ndarray, rng: np.random.Generator, photo: bool = False) -> Synthetic:
    h, w = a.shape[:2]
    m = 0.12 if photo else 0.18
    src = np.asarray([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    jitter = rng.uniform(0, m, (4, 2)) * [w, h]
    pad = int(max(w, h) * 0.1)
    dst = np.asarray(
        [
            [pad + jitter[0, 0], pad + jitter[0, 1]],
            [pad + w - jitter[1, 0], pad + jitter[1, 1]],
            [pad + w - jitter[2, 0], pad + h - jitter[2, 1]],
            [pad + jitter[3, 0], pad + h - jitter[3, 1]],
        ],
        dtype=np.float32,
    )
    mat = cv2.getPerspectiveTransform(src, dst)
    bg = (200, 190, 170) if photo else (255, 255, 255)
    out = cv2.warpPerspective(a, mat, (w + 2 * pad, h + 2 * pad), borderValue=bg)
    region = [(float(x), float(y)) for x, y in dst]
    if not photo:
        return Synthetic(out, "perspective", "perspective_warp", region_in_suspect=region)
    # photographed print: lighting gradient, blur, sensor noise, JPEG
    yy, xx = np.mgrid[0 : out.shape[0], 0 : out.shape[1]].astype(np.float32)
    angle = float(rng.uniform(0, 2 * np.pi))
    grad = np.cos(angle) * xx / out.shape[1] + np.sin(angle) * yy / out.shape[0]
    light = 0.75 + 0.35 * (grad - grad.min()) / max(1e-6, float(grad.max() - grad.min()))
    lit = out.astype(np.float32) * light[..., None] * np.array([1.0, 0.97, 0.9], np.float32)
    lit = cv2.GaussianBlur(lit, (0, 0), 1.2)
    lit = np.clip(lit + rng.normal(0, 6, lit.shape), 0, 255).astype(np.uint8)
    return Synthetic(_jpeg(lit, 80), "photo_of_print", "photo_of_print", region_in_suspect=region)


def collage(panels: list[np.ndarray], rng: np.random.Generator, gutter: bool) -> tuple[np.ndarray, list[Polygon]]:
    """A grid collage of 2-9 panels; returns the canvas and each panel's outline."""
    n = len(panels)
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    cell = 420 if n <= 4 else 300
    g = 16 if gutter else 0
    W, H = cols * cell + (cols + 1) * g, rows * cell + (rows + 1) * g
    canvas = Image.new("RGB", (W, H), (255, 255, 255) if gutter else (0, 0, 0))
    regions: list[Polygon] = []
    for i, p in enumerate(panels):
        r, c = divmod(i, cols)
        x0, y0 = g + c * (cell + g), g + r * (cell + g)
        im = _pil(p)
        if gutter:  # fit whole panel
            im.thumbnail((cell, cell), Image.Resampling.LANCZOS)
            ox, oy = x0 + (cell - im.width) // 2, y0 + (cell - im.height) // 2
            canvas.paste(im, (ox, oy))
            regions.append(_rect(ox, oy, ox + im.width, oy + im.height))
        else:  # fill the cell, cropping the panel's centre
            im = ImageOps.fit(im, (cell, cell), Image.Resampling.LANCZOS)
            canvas.paste(im, (x0, y0))
            regions.append(_rect(x0, y0, x0 + cell, y0 + cell))
    return _np(canvas), regions


def restyle(a: np.ndarray, rng: np.random.Generator) -> Synthetic:
    """A painterly re-rendering that keeps the composition but replaces texture and palette, standing in for
    style transfer and img2img in the tune split (which has no real AI outputs): edge-preserving stylisation,
    a pencil sketch or a cartoon, then a new palette, a slight warp and a new size."""
    h, w = a.shape[:2]
    f = 512 / max(h, w)
    small = cv2.resize(a, (max(32, round(w * f)), max(32, round(h * f))), interpolation=cv2.INTER_AREA)
    kind = str(rng.choice(["stylization", "pencil", "cartoon", "oil"]))
    if kind == "stylization":
        out = cv2.stylization(small, sigma_s=float(rng.uniform(40, 120)), sigma_r=float(rng.uniform(0.3, 0.6)))
    elif kind == "pencil":
        _, out = cv2.pencilSketch(small, sigma_s=float(rng.uniform(30, 80)), sigma_r=0.08, shade_factor=0.04)
    elif kind == "cartoon":
        smooth = small
        for _ in range(int(rng.integers(3, 7))):
            smooth = cv2.bilateralFilter(smooth, 9, 60, 9)
        levels = int(rng.integers(3, 6))
        poster = (np.floor(smooth.astype(np.float32) / 256 * levels) * (255 / max(1, levels - 1))).astype(np.uint8)
        grey = cv2.medianBlur(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), 7)
        edges = cv2.adaptiveThreshold(grey, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 9, 4)
        out = cv2.bitwise_and(poster, poster, mask=edges)
    else:  # brush strokes: strong anisotropic smoothing plus a canvas texture
        out = cv2.edgePreservingFilter(small, flags=cv2.RECURS_FILTER, sigma_s=float(rng.uniform(60, 150)), sigma_r=0.5)
        strokes = cv2.GaussianBlur(rng.normal(0, 1, out.shape[:2]).astype(np.float32), (0, 0), 2.0)
        line = np.zeros((15, 15), np.float32)
        line[7, :] = 1 / 15
        turn = cv2.getRotationMatrix2D((7, 7), float(rng.uniform(0, 180)), 1.0)
        strokes = cv2.filter2D(strokes, -1, cv2.warpAffine(line, turn, (15, 15)))
        out = np.clip(out.astype(np.float32) + 40 * strokes[..., None], 0, 255).astype(np.uint8)
    # new palette: each channel through its own random monotone curve, sometimes with the hue turned
    lut = np.stack([np.sort(rng.uniform(0, 255, 256)) for _ in range(3)], axis=1).astype(np.uint8)
    blend = float(rng.uniform(0.3, 0.8))
    mapped = np.stack([lut[out[..., c], c] for c in range(3)], axis=-1)
    out = (blend * mapped + (1 - blend) * out).astype(np.uint8)
    # slight warp (generators shift content) and a new output size
    sh, sw = out.shape[:2]
    jitter = 0.03 * np.array([sw, sh], dtype=np.float32)
    src = np.array([[0, 0], [sw, 0], [sw, sh], [0, sh]], dtype=np.float32)
    dst = (src + rng.uniform(-1, 1, (4, 2)).astype(np.float32) * jitter).astype(np.float32)
    out = cv2.warpPerspective(out, cv2.getPerspectiveTransform(src, dst), (sw, sh), borderMode=cv2.BORDER_REFLECT)
    side = int(rng.choice([384, 512, 768]))
    g = side / max(sh, sw)
    out = cv2.resize(out, (max(32, round(sw * g)), max(32, round(sh * g))), interpolation=cv2.INTER_CUBIC)
    return Synthetic(np.ascontiguousarray(out), "restyle", f"restyle_{kind}")


def composite(a: np.ndarray, rng: np.random.Generator) -> Synthetic:
    """Several transformations chained: crop, colour change, overlay, recompression."""
    s = _crop_area(a, rng, float(rng.uniform(0.4, 0.8)))
    c = colour(s.image, rng)
    o = overlay(c.image, rng)
    out = _jpeg(o.image, int(rng.integers(30, 80)))
    return Synthetic(
        out,
        "composite",
        f"crop+{c.relation}+{o.relation}+jpeg",
        region_in_original=s.region_in_original,
        area_fraction=s.area_fraction,
    )


def crop_small(a: np.ndarray, rng: np.random.Generator) -> Synthetic:
    """A small detail (10-30% of the area), then rotated, watermarked or recompressed hard: what a seller cuts
    from a painting to sell as a print of its own."""
    c = _crop_area(a, rng, float(rng.uniform(0.1, 0.3)))
    kind = str(rng.choice(["rotate", "watermark", "recompress"]))
    out = c.image
    if kind == "rotate":
        h, w = out.shape[:2]
        angle = float(rng.choice([-1, 1]) * rng.uniform(5, 30))
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        cos, sin = abs(m[0, 0]), abs(m[0, 1])
        nw, nh = int(h * sin + w * cos), int(h * cos + w * sin)
        m[0, 2] += nw / 2 - w / 2
        m[1, 2] += nh / 2 - h / 2
        out = cv2.warpAffine(out, m, (nw, nh), borderValue=(255, 255, 255))
    elif kind == "watermark":
        out = overlay_watermark(out)
    out = _jpeg(out, int(rng.integers(25, 50)) if kind == "recompress" else 85)
    return Synthetic(
        out,
        "crop_small",
        f"crop_{round(c.area_fraction * 100)}pct_{kind}",
        region_in_original=c.region_in_original,
        area_fraction=c.area_fraction,
    )


def overlay_watermark(a: np.ndarray) -> np.ndarray:
    """A tiled, semi-transparent shop watermark."""
    im = _pil(a).convert("RGBA")
    layer = Image.new("RGBA", im.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    w, h = im.size
    font = ImageFont.load_default(size=max(12, h // 12))
    for y in range(0, h, max(30, h // 6)):
        for x in range(0, w, max(80, w // 4)):
            d.text((x, y), "© shop", fill=(255, 255, 255, 110), font=font)
    return _np(Image.alpha_composite(im, layer).convert("RGB"))


def _cover(a: np.ndarray, w: int, h: int) -> np.ndarray:
    """The centre of `a` cut to the aspect of w x h (to be resized to it)."""
    ih, iw = a.shape[:2]
    f = max(w / iw, h / ih)
    cw, ch = min(iw, round(w / f)), min(ih, round(h / f))
    x0, y0 = (iw - cw) // 2, (ih - ch) // 2
    return np.ascontiguousarray(a[y0 : y0 + ch, x0 : x0 + cw])


def _fit(a: np.ndarray, w: int, h: int) -> np.ndarray:
    """`a` scaled (aspect kept) to fit inside w x h."""
    ih, iw = a.shape[:2]
    f = min(w / iw, h / ih)
    return cv2.resize(a, (max(8, round(iw * f)), max(8, round(ih * f))), interpolation=cv2.INTER_AREA)


SINGLE: dict[str, Callable[[np.ndarray, np.random.Generator], Synthetic]] = {
    "jpeg": jpeg,
    "resize": resize,
    "crop": crop,
    "reframe": reframe,
    "rotate": rotate,
    "flip": flip,
    "colour": colour,
    "degrade": degrade,
    "overlay": overlay,
    "border": border,
    "composite": composite,
    "perspective": lambda a, r: perspective(a, r, photo=False),
    "photo_of_print": lambda a, r: perspective(a, r, photo=True),
    "restyle": restyle,
    "crop_small": crop_small,
}
