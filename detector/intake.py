"""Decode suspect and original image bytes into one canonical RGB picture, or refuse them with a reason.

Intake is where hostile input arrives (seized devices, marketplace scrapes), so every failure becomes an
`IntakeError` naming the file and the reason, and the pixel cap is checked before any pixel is decoded.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pillow_heif
from PIL import Image, UnidentifiedImageError

from detector import png_chunks
from detector.geometry import Box

if TYPE_CHECKING:
    from detector.views import View

pillow_heif.register_heif_opener()  # seized phone images are HEIC

DEFAULT_MAX_PIXELS = 80_000_000
"""Refuse images with more pixels than this (decompression-bomb guard); configurable per workspace."""

WORKING_SIDE = 1024
"""Longest side of the working copy every signal derives from; coordinates are mapped back to the file's."""

BLANK_SPREAD = 2.0
"""Grey-level standard deviation (0-255) below which a picture is blank: one flat colour plus compression noise.
A blank picture carries nothing any signal can match, and every blank picture looks alike to all of them."""

ACCEPTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "TIFF", "HEIF", "AVIF", "PPM"})


class IntakeError(ValueError):
    """An input that cannot be used, with the file's name and a reason a person can act on."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


@dataclass(frozen=True)
class DecodedImage:
    """One decoded image: canonical RGB working copy plus the facts about the file as received."""

    name: str
    sha256: str
    size_bytes: int
    format: str
    width: int
    height: int
    rgb: np.ndarray
    """uint8 array (h, w, 3), orientation applied, alpha flattened (see `flattened_on`), longest side
    <= WORKING_SIDE."""
    flattened_on: str = ""
    """Background the transparency was flattened on: "white" (the usual), "black" (only when on white the
    picture would be blank: translucent wallpapers drawn in white on transparency), "" if it has no alpha."""
    notes: tuple[str, ...] = ()
    """What intake had to overlook to read the pixels (a PNG's oversized or damaged ancillary chunks), for the
    evidence: the picture is what every viewer shows, and the file is kept byte for byte as received."""

    @cached_property
    def is_blank(self) -> bool:
        """True when the picture is one flat colour (see BLANK_SPREAD): it cannot be compared with anything."""
        return _grey_spread(self.rgb) < BLANK_SPREAD

    @cached_property
    def panels(self) -> list[Box]:
        """Panels if the picture is a collage or grid (see detector.panels), else []; computed once."""
        from detector.panels import find_panels

        return find_panels(self.rgb)

    @cached_property
    def views(self) -> list[View]:
        """The parts of the picture compared on their own besides the whole: collage panels, then region proposals
        (see detector.views); computed once."""
        from detector.views import views_of

        return views_of(self.rgb, self.panels)

    @cached_property
    def light_strokes_filled(self) -> np.ndarray | None:
        """A small copy with thin light overlay strokes (a tiled watermark) filled in, or None when the picture has
        few (see detector.overlay); computed once, for the signals that look past overlays."""
        from detector.overlay import light_strokes_filled

        return light_strokes_filled(self.rgb)

    @property
    def scale(self) -> float:
        """File pixels per working-copy pixel (>= 1)."""
        return max(self.width, self.height) / max(self.rgb.shape[0], self.rgb.shape[1])


def sha256_hex(data: bytes) -> str:
    """SHA-256 of the bytes exactly as received; the identity used by the vault and the reports."""
    return hashlib.sha256(data).hexdigest()


def decode_image(data: bytes, name: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """Decode `data` (the whole file) or raise IntakeError saying why it cannot be used.

    A PNG that Pillow refuses is tried once more with only the chunks that make its pixels, as libpng would read it
    (detector.png_chunks); what was dropped is kept in `notes`."""
    if not data:
        raise IntakeError(name, "empty file (0 bytes)")
    try:
        fmt, width, height, rgb, flattened_on = _decode(data, name, max_pixels)
        notes: tuple[str, ...] = ()
    except IntakeError as first:
        repaired = png_chunks.pixel_chunks_only(data) if first.reason.startswith(_CORRUPT) else None
        if repaired is None:
            raise
        try:
            fmt, width, height, rgb, flattened_on = _decode(repaired[0], name, max_pixels)
        except IntakeError:
            raise first from None
        notes = (f"PNG ancillary chunks ignored to read the pixels, as libpng does: {', '.join(repaired[1])}",)
    return DecodedImage(
        name=name,
        sha256=sha256_hex(data),
        size_bytes=len(data),
        format=fmt,
        width=width,
        height=height,
        rgb=rgb,
        flattened_on=flattened_on,
        notes=notes,
    )


_CORRUPT = "truncated or corrupt image data"


def _decode(data: bytes, name: str, max_pixels: int) -> tuple[str, int, int, np.ndarray, str]:
    """(format, displayed width, displayed height, working RGB, flattened_on) of `data`, or IntakeError."""
    try:
        with warnings.catch_warnings(), _pillow_pixel_limit(max_pixels):
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            fmt = (image.format or "").upper()
            if fmt not in ACCEPTED_FORMATS:
                raise IntakeError(name, f"unsupported image format {fmt or 'unknown'}")
            width, height = image.size
            if width <= 0 or height <= 0:
                raise IntakeError(name, "image has no pixels")
            if width * height > max_pixels:
                raise IntakeError(
                    name,
                    f"refused: {width}x{height} = {width * height:,} pixels exceeds the cap of "
                    f"{max_pixels:,} (possible decompression bomb; raise max_pixels to accept it)",
                )
            if getattr(image, "n_frames", 1) > 1:
                image.seek(0)  # animated GIF/WebP, multi-page TIFF: the first frame is the picture
            if fmt in ("JPEG", "MPO"):
                image.draft("RGB", _draft_size(image.size))  # DCT-domain downscale: far cheaper decode
            image.load()
            # only after load(): PNG's getexif() decodes the pixels itself (before the cap, and its decoder errors
            # would be swallowed by _exif_orientation, leaving a blank image)
            orientation = _exif_orientation(image)
            if orientation in (5, 6, 7, 8):
                width, height = height, width  # report the size as displayed, like the pixels we return
            rgb, flattened_on = _canonical_rgb(image, orientation)
    except IntakeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise IntakeError(name, f"refused as a possible decompression bomb ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise IntakeError(name, "not an image, or an image format this tool cannot read") from exc
    except MemoryError as exc:
        raise IntakeError(name, "refused: decoding it would need more memory than this machine has") from exc
    except Exception as exc:  # hostile bytes make decoders fail in many ways (struct.error, TypeError, RuntimeError)
        raise IntakeError(name, f"{_CORRUPT} ({exc})") from exc
    return fmt, width, height, rgb, flattened_on


@contextmanager
def _pillow_pixel_limit(max_pixels: int) -> Iterator[None]:
    """Raise Pillow's own bomb guard to `max_pixels` while decoding, so a cap raised past Pillow's default works."""
    default = Image.MAX_IMAGE_PIXELS
    if default is None or max_pixels <= default:
        yield
        return
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = default


def _exif_orientation(image: Image.Image) -> int:
    """The EXIF orientation tag (1 = upright), tolerating broken EXIF blocks."""
    try:
        return int(image.getexif().get(0x0112, 1))
    except Exception:  # a corrupt EXIF block must not make a readable image unreadable
        return 1


def _draft_size(size: tuple[int, int]) -> tuple[int, int]:
    """The smallest size JPEG draft mode may decode to while keeping the working resolution."""
    w, h = size
    f = WORKING_SIDE / max(w, h)
    return (max(1, int(w * f)), max(1, int(h * f))) if f < 1 else size


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
"""EXIF orientation -> the transpose that displays it (as ImageOps.exif_transpose, which also rewrites the EXIF
block and so fails on some odd-but-harmless EXIF values)."""


def _canonical_rgb(image: Image.Image, orientation: int) -> tuple[np.ndarray, str]:
    """Apply EXIF orientation, flatten alpha, map 16-bit/CMYK/palette/gray to 8-bit RGB, downscale.

    Returns the pixels and the background the alpha was flattened on ("" when there was no alpha)."""
    if orientation in _TRANSPOSE:
        image = image.transpose(_TRANSPOSE[orientation])
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        image = Image.fromarray(_to_8bit(np.asarray(image, dtype=np.float64), mode), "L")
    elif mode in ("P", "L", "RGB") and "transparency" in image.info:  # palette or tRNS colour-key transparency
        image = image.convert("RGBA")
    flattened_on = ""
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        image, flattened_on = _flatten_alpha(image.convert("RGBA"))
    image = image.convert("RGB")  # CMYK, YCbCr, L, 1, P all end here
    longest = max(image.size)
    if longest > WORKING_SIDE:
        f = WORKING_SIDE / longest
        new = (max(1, round(image.width * f)), max(1, round(image.height * f)))
        image = image.resize(new, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8)), flattened_on


def _to_8bit(arr: np.ndarray, mode: str) -> np.ndarray:
    """Grey levels of a 16-bit, 32-bit integer or float picture on 0-255. Floats on 0-1 (how scientific and HDR
    tools write them) are scaled by 255; integers by their range (16-bit, or 8-bit values stored wide)."""
    arr = np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)
    top = float(arr.max()) if arr.size else 0.0
    if mode == "F" and float(arr.min()) >= 0.0 and top <= 1.0:
        hi = 1.0
    else:
        hi = 65535.0 if mode.startswith("I;16") or top > 255 else 255.0
    return np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _flatten_alpha(rgba: Image.Image) -> tuple[Image.Image, str]:
    """Composite on white, as viewers show transparency; on black instead when on white nothing would be left.

    Some wallpapers are white strokes whose shape lives only in the alpha channel (drawn over a desktop colour):
    on white they vanish, and such a registered work would then match every blank picture."""
    on_white = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    if _grey_spread(_small_rgb(on_white)) >= BLANK_SPREAD:
        return on_white, "white"
    on_black = Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba)
    if _grey_spread(_small_rgb(on_black)) >= BLANK_SPREAD:
        return on_black, "black"
    return on_white, "white"


def _small_rgb(image: Image.Image) -> np.ndarray:
    """An RGB copy of at most 256 px: enough to tell blank from not, and cheap on a full-size file."""
    small = image.convert("RGB")
    small.thumbnail((256, 256))
    return np.asarray(small, dtype=np.uint8)


def _grey_spread(rgb: np.ndarray) -> float:
    """Grey-level standard deviation (0-255) of an RGB picture: below BLANK_SPREAD it is one flat colour."""
    import cv2

    _, std = cv2.meanStdDev(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY))
    return float(std[0, 0])
