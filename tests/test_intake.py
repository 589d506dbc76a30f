"""detector.intake.decode_image on real encoded images: formats, orientation, alpha, bit depth, hostile input."""

from __future__ import annotations

import csv
import hashlib
import io
import random
import struct
import warnings
import zlib
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from detector.intake import (
    ACCEPTED_FORMATS,
    WORKING_SIDE,
    DecodedImage,
    IntakeError,
    decode_image,
    sha256_hex,
)

RED = (255, 0, 0)
BLUE = (0, 0, 255)
WHITE = (255, 255, 255)


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **params)
    return buf.getvalue()


def noise(w: int, h: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def halves(w: int, h: int, left: tuple[int, int, int], right: tuple[int, int, int]) -> Image.Image:
    """An RGB picture whose left half is `left` and right half is `right` (layout survives lossy codecs)."""
    arr = np.empty((h, w, 3), np.uint8)
    arr[:, : w // 2] = left
    arr[:, w // 2 :] = right
    return Image.fromarray(arr, "RGB")


def region_mean(arr: np.ndarray, rows: slice, cols: slice) -> np.ndarray:
    return np.asarray(arr[rows, cols].reshape(-1, 3).mean(axis=0))


def assert_colour(actual: np.ndarray, expected: tuple[int, int, int], tol: float) -> None:
    assert np.abs(actual - np.array(expected, dtype=float)).max() <= tol, f"{actual} != {expected} (tol {tol})"


def check_decoded(d: DecodedImage, data: bytes, name: str, fmt: str, w: int, h: int) -> None:
    assert d.name == name
    assert d.format == fmt
    assert (d.width, d.height) == (w, h)
    assert d.size_bytes == len(data)
    assert d.sha256 == hashlib.sha256(data).hexdigest()
    assert d.rgb.dtype == np.uint8 and d.rgb.flags.c_contiguous
    assert d.rgb.shape == (h, w, 3)  # small images are not resized


# --- formats ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "params"),
    [
        ("PNG", {}),
        ("BMP", {}),
        ("TIFF", {}),
        ("TIFF", {"compression": "tiff_deflate"}),
        ("WEBP", {"lossless": True}),
    ],
    ids=["png", "bmp", "tiff", "tiff-deflate", "webp-lossless"],
)
def test_lossless_formats_decode_pixel_exact(fmt: str, params: dict[str, object]) -> None:
    arr = noise(37, 23)
    data = encode(Image.fromarray(arr, "RGB"), fmt, **params)
    d = decode_image(data, f"pic.{fmt.lower()}")
    check_decoded(d, data, f"pic.{fmt.lower()}", fmt, 37, 23)
    np.testing.assert_array_equal(d.rgb, arr)


@pytest.mark.parametrize(("fmt", "tol"), [("JPEG", 6), ("WEBP", 10)])
def test_lossy_formats_keep_colours_and_layout(fmt: str, tol: float) -> None:
    data = encode(halves(64, 48, RED, BLUE), fmt, quality=95)
    d = decode_image(data, "pic")
    check_decoded(d, data, "pic", fmt, 64, 48)
    assert_colour(region_mean(d.rgb, slice(None), slice(4, 28)), RED, tol)
    assert_colour(region_mean(d.rgb, slice(None), slice(36, 60)), BLUE, tol)


def test_heif_decodes() -> None:
    try:
        data = encode(halves(64, 48, RED, BLUE), "HEIF", quality=95)
    except Exception as exc:  # the HEVC encoder is an optional part of libheif
        pytest.skip(f"pillow_heif cannot encode HEIF here: {exc}")
    d = decode_image(data, "phone.heic")
    check_decoded(d, data, "phone.heic", "HEIF", 64, 48)
    assert_colour(region_mean(d.rgb, slice(None), slice(4, 28)), RED, 20)
    assert_colour(region_mean(d.rgb, slice(None), slice(36, 60)), BLUE, 20)


def test_gif_single_frame_pixel_exact() -> None:
    data = encode(halves(20, 10, RED, BLUE), "GIF")
    d = decode_image(data, "a.gif")
    check_decoded(d, data, "a.gif", "GIF", 20, 10)
    assert_colour(region_mean(d.rgb, slice(None), slice(0, 10)), RED, 0)
    assert_colour(region_mean(d.rgb, slice(None), slice(10, 20)), BLUE, 0)


@pytest.mark.parametrize(("fmt", "tol"), [("GIF", 0), ("WEBP", 8)])
@pytest.mark.parametrize(("first", "second"), [(RED, BLUE), (BLUE, RED)])
def test_animation_uses_first_frame(
    fmt: str, tol: float, first: tuple[int, int, int], second: tuple[int, int, int]
) -> None:
    frames = [Image.new("RGB", (16, 12), first), Image.new("RGB", (16, 12), second)]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(io.BytesIO(data)) as probe:
        assert probe.n_frames == 2  # precondition: really animated
    d = decode_image(data, f"anim.{fmt.lower()}")
    check_decoded(d, data, f"anim.{fmt.lower()}", fmt, 16, 12)
    assert_colour(region_mean(d.rgb, slice(None), slice(None)), first, tol)


# --- orientation, alpha, bit depth, colour spaces ------------------------------------------------------------


@pytest.mark.parametrize(
    ("orientation", "size", "top", "bottom", "left", "right"),
    [
        # stored: 40 wide x 20 tall, left half red, right half blue
        (1, (40, 20), None, None, RED, BLUE),
        (3, (40, 20), None, None, BLUE, RED),  # rotate 180
        (6, (20, 40), RED, BLUE, None, None),  # rotate 90 clockwise: stored left edge becomes the top
        (8, (20, 40), BLUE, RED, None, None),  # rotate 90 counter-clockwise
    ],
)
def test_exif_orientation_is_applied(
    orientation: int,
    size: tuple[int, int],
    top: tuple[int, int, int] | None,
    bottom: tuple[int, int, int] | None,
    left: tuple[int, int, int] | None,
    right: tuple[int, int, int] | None,
) -> None:
    image = halves(40, 20, RED, BLUE)
    exif = image.getexif()
    exif[0x0112] = orientation
    data = encode(image, "JPEG", quality=95, exif=exif)
    d = decode_image(data, "photo.jpg")
    w, h = size
    assert (d.width, d.height) == (w, h)  # reported as displayed
    assert d.rgb.shape == (h, w, 3)
    if top is not None and bottom is not None:
        assert_colour(region_mean(d.rgb, slice(2, h // 2 - 3), slice(None)), top, 8)
        assert_colour(region_mean(d.rgb, slice(h // 2 + 3, h - 2), slice(None)), bottom, 8)
    if left is not None and right is not None:
        assert_colour(region_mean(d.rgb, slice(None), slice(2, w // 2 - 3)), left, 8)
        assert_colour(region_mean(d.rgb, slice(None), slice(w // 2 + 3, w - 2)), right, 8)


def test_odd_exif_value_neither_breaks_decoding_nor_orientation() -> None:
    # a well-formed EXIF block whose tag 0x0145 (TileByteCounts, numeric) holds ASCII text: harmless to read, but
    # ImageOps.exif_transpose re-serialises EXIF and used to fail on it (struct.error), refusing a readable photo
    text = b"2020:01:01 00:00:00\0"
    ifd = (
        struct.pack(">H", 2)
        + struct.pack(">HHIHH", 0x0112, 3, 1, 6, 0)  # Orientation = 6
        + struct.pack(">HHII", 0x0145, 2, len(text), 8 + 2 + 2 * 12 + 4)
        + struct.pack(">I", 0)
    )
    exif = b"Exif\0\0MM\0\x2a" + struct.pack(">I", 8) + ifd + text
    data = encode(halves(40, 20, RED, BLUE), "JPEG", quality=95, exif=exif)
    d = decode_image(data, "odd-exif.jpg")
    assert (d.width, d.height) == (20, 40) and d.rgb.shape == (40, 20, 3)
    assert_colour(region_mean(d.rgb, slice(2, 17), slice(None)), RED, 8)
    assert_colour(region_mean(d.rgb, slice(23, 38), slice(None)), BLUE, 8)


def test_rgba_is_composited_on_white() -> None:
    arr = np.zeros((10, 30, 4), np.uint8)
    arr[:, :10] = (255, 0, 0, 255)  # opaque red
    arr[:, 10:20] = (0, 0, 255, 0)  # fully transparent (colour must not show)
    arr[:, 20:] = (0, 0, 0, 128)  # half-transparent black -> mid grey
    data = encode(Image.fromarray(arr, "RGBA"), "PNG")
    d = decode_image(data, "alpha.png")
    check_decoded(d, data, "alpha.png", "PNG", 30, 10)
    assert_colour(region_mean(d.rgb, slice(None), slice(0, 10)), RED, 0)
    assert_colour(region_mean(d.rgb, slice(None), slice(10, 20)), WHITE, 0)
    assert_colour(region_mean(d.rgb, slice(None), slice(20, 30)), (127, 127, 127), 1)


def test_white_strokes_drawn_only_in_alpha_are_flattened_on_black() -> None:
    """A translucent wallpaper: white everywhere, its stripes only in the alpha channel. On white it would be
    blank (and match every blank picture); on black its stripes survive."""
    arr = np.full((40, 60, 4), 255, np.uint8)
    arr[..., 3] = 0
    arr[:, ::10, 3] = 200  # a stripe every 10 columns
    d = decode_image(encode(Image.fromarray(arr, "RGBA"), "PNG"), "stripes.png")
    assert d.flattened_on == "black" and not d.is_blank
    assert d.rgb[:, 0].mean() > 190 and d.rgb[:, 5].mean() < 5


def test_ordinary_transparency_stays_on_white_and_opaque_images_record_no_background() -> None:
    arr = np.zeros((10, 30, 4), np.uint8)
    arr[:, :10] = (255, 0, 0, 255)
    assert decode_image(encode(Image.fromarray(arr, "RGBA"), "PNG"), "logo.png").flattened_on == "white"
    assert decode_image(encode(halves(10, 10, RED, BLUE), "PNG"), "opaque.png").flattened_on == ""


def test_flat_pictures_are_blank_and_pictures_with_content_are_not() -> None:
    rng = np.random.default_rng(3)
    flat = np.clip(rng.normal(128, 0.8, (64, 64, 3)), 0, 255).astype(np.uint8)  # one colour + sensor noise
    assert decode_image(encode(Image.fromarray(flat), "PNG"), "flat.png").is_blank
    assert decode_image(encode(Image.new("RGBA", (20, 20), (0, 0, 0, 0)), "PNG"), "empty.png").is_blank
    gradient = np.tile(np.linspace(60, 90, 64, dtype=np.uint8)[None, :, None], (64, 1, 3))  # a gentle sky
    assert not decode_image(encode(Image.fromarray(gradient), "PNG"), "sky.png").is_blank
    assert not decode_image(encode(halves(10, 10, RED, BLUE), "PNG"), "halves.png").is_blank


def test_la_grayscale_alpha_is_composited_on_white() -> None:
    arr = np.zeros((4, 8, 2), np.uint8)
    arr[:, :4] = (50, 255)
    arr[:, 4:] = (50, 0)
    d = decode_image(encode(Image.fromarray(arr, "LA"), "PNG"), "la.png")
    assert_colour(region_mean(d.rgb, slice(None), slice(0, 4)), (50, 50, 50), 0)
    assert_colour(region_mean(d.rgb, slice(None), slice(4, 8)), WHITE, 0)


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_with_transparency(fmt: str) -> None:
    image = Image.new("P", (8, 4), 0)
    image.putpalette([255, 0, 0, 0, 255, 0] + [0, 0, 0] * 254)  # 0 = red, 1 = green (transparent)
    for x in range(4, 8):
        for y in range(4):
            image.putpixel((x, y), 1)
    data = encode(image, fmt, transparency=1)
    with Image.open(io.BytesIO(data)) as probe:
        assert probe.mode == "P" and probe.info.get("transparency") == 1  # precondition
    d = decode_image(data, f"pal.{fmt.lower()}")
    assert_colour(region_mean(d.rgb, slice(None), slice(0, 4)), RED, 0)
    assert_colour(region_mean(d.rgb, slice(None), slice(4, 8)), WHITE, 0)  # not green


@pytest.mark.parametrize(
    ("mode", "fill", "key"),
    [("L", 90, 0), ("RGB", (10, 20, 30), (1, 2, 3))],
)
def test_colour_key_transparency_is_composited_on_white(
    mode: str, fill: int | tuple[int, ...], key: int | tuple[int, ...]
) -> None:
    image = Image.new(mode, (6, 2), fill)
    image.putpixel((0, 0), key)  # the tRNS colour: this pixel is transparent
    data = encode(image, "PNG", transparency=key)
    d = decode_image(data, "trns.png")
    assert tuple(d.rgb[0, 0]) == WHITE
    opaque = (fill, fill, fill) if isinstance(fill, int) else fill
    assert tuple(d.rgb[1, 5]) == opaque


def test_16bit_grayscale_maps_to_8bit() -> None:
    exact = np.arange(256, dtype=np.uint16) * 257  # k*257 is the 16-bit twin of the 8-bit value k
    ramp = np.linspace(0, 65535, 256).round().astype(np.uint16)
    arr = np.stack([exact, ramp, np.full(256, 200, np.uint16), np.full(256, 65535, np.uint16)])
    data = encode(Image.fromarray(arr), "PNG")
    with Image.open(io.BytesIO(data)) as probe:
        assert probe.mode.startswith("I;16")  # precondition: Pillow really reads it as 16-bit
    d = decode_image(data, "depth16.png")
    check_decoded(d, data, "depth16.png", "PNG", 256, 4)
    assert (d.rgb[..., 0] == d.rgb[..., 1]).all() and (d.rgb[..., 1] == d.rgb[..., 2]).all()
    np.testing.assert_array_equal(d.rgb[0, :, 0], np.arange(256))
    np.testing.assert_array_equal(d.rgb[1, :, 0], np.round(ramp / 257.0).astype(np.uint8))
    assert (d.rgb[2] == 1).all()  # a dark 16-bit value (200/65535) stays dark, not 200/255
    assert (d.rgb[3] == 255).all()


def test_cmyk_jpeg_converts_to_rgb() -> None:
    image = Image.new("CMYK", (32, 16), (0, 255, 255, 0))  # red
    image.paste((255, 255, 0, 0), (16, 0, 32, 16))  # blue
    data = encode(image, "JPEG", quality=95)
    with Image.open(io.BytesIO(data)) as probe:
        assert probe.mode == "CMYK"  # precondition
    d = decode_image(data, "print.jpg")
    check_decoded(d, data, "print.jpg", "JPEG", 32, 16)
    assert_colour(region_mean(d.rgb, slice(None), slice(2, 12)), RED, 12)
    assert_colour(region_mean(d.rgb, slice(None), slice(20, 30)), BLUE, 12)


def test_grayscale_png_is_exact_and_grayscale_jpeg_close() -> None:
    gradient = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (8, 1))  # 64 x 8
    image = Image.fromarray(gradient, "L")
    png = encode(image, "PNG")
    d = decode_image(png, "gray.png")
    check_decoded(d, png, "gray.png", "PNG", 64, 8)
    np.testing.assert_array_equal(d.rgb, np.repeat(gradient[..., None], 3, axis=2))
    jpg = decode_image(encode(image, "JPEG", quality=95), "gray.jpg")
    assert jpg.rgb.shape == (8, 64, 3)
    assert (jpg.rgb[..., 0] == jpg.rgb[..., 2]).all()
    assert np.abs(jpg.rgb[..., 0].astype(int) - gradient).mean() < 3


def test_sha256_is_of_the_bytes_as_received() -> None:
    data = encode(Image.fromarray(noise(9, 7), "RGB"), "PNG")
    d = decode_image(data, "h.png")
    assert d.sha256 == hashlib.sha256(data).hexdigest() == sha256_hex(data)
    padded = data + b"trailing junk"  # same pixels, different file: a different identity
    assert decode_image(padded, "h.png").sha256 == hashlib.sha256(padded).hexdigest() != d.sha256


# --- working copy size ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "size", "expected_shape"),
    [
        ("PNG", (3000, 1500), (512, 1024, 3)),
        ("PNG", (1500, 3000), (1024, 512, 3)),
        ("JPEG", (4000, 3000), (768, 1024, 3)),  # JPEG goes through draft (DCT-domain) downscaling
        ("PNG", (WORKING_SIDE, 300), (300, WORKING_SIDE, 3)),
    ],
)
def test_large_images_are_downscaled_to_working_side(
    fmt: str, size: tuple[int, int], expected_shape: tuple[int, int, int]
) -> None:
    w, h = size
    data = encode(halves(w, h, RED, BLUE), fmt, quality=90) if fmt == "JPEG" else encode(halves(w, h, RED, BLUE), fmt)
    d = decode_image(data, "big")
    assert (d.width, d.height) == (w, h)  # the file's size, not the working copy's
    assert d.rgb.shape == expected_shape
    assert max(d.rgb.shape[:2]) == min(WORKING_SIDE, max(w, h))
    assert d.scale == pytest.approx(max(w, h) / max(expected_shape[:2]))
    assert d.scale >= 1
    rw = expected_shape[1]
    assert_colour(region_mean(d.rgb, slice(None), slice(0, rw // 2 - 4)), RED, 6)
    assert_colour(region_mean(d.rgb, slice(None), slice(rw // 2 + 4, rw)), BLUE, 6)


def test_large_rotated_jpeg_reports_displayed_size_and_scale() -> None:
    image = halves(3000, 2000, RED, BLUE)
    exif = image.getexif()
    exif[0x0112] = 6
    d = decode_image(encode(image, "JPEG", quality=90, exif=exif), "portrait.jpg")
    assert (d.width, d.height) == (2000, 3000)
    assert d.rgb.shape == (1024, 683, 3)
    assert d.scale == pytest.approx(3000 / 1024)
    assert_colour(region_mean(d.rgb, slice(0, 500), slice(None)), RED, 6)
    assert_colour(region_mean(d.rgb, slice(524, 1024), slice(None)), BLUE, 6)


# --- bad input ---------------------------------------------------------------------------------------------


def assert_refused(data: bytes, name: str, *reason_words: str, max_pixels: int | None = None) -> IntakeError:
    with pytest.raises(IntakeError) as info:
        if max_pixels is None:
            decode_image(data, name)
        else:
            decode_image(data, name, max_pixels=max_pixels)
    err = info.value
    assert err.name == name
    assert str(err).startswith(f"{name}: ")
    assert err.reason and err.reason in str(err)
    for word in reason_words:
        assert word in err.reason, f"{word!r} not in {err.reason!r}"
    return err


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    assert_refused(path.read_bytes(), str(path), "empty file")


def test_text_file_renamed_jpg(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("Meeting notes: this is not a photograph.\n" * 20)
    assert_refused(path.read_bytes(), str(path), "not an image")


def test_truncated_jpeg() -> None:
    data = encode(Image.fromarray(noise(256, 256), "RGB"), "JPEG", quality=90)
    assert_refused(data[: len(data) // 2], "half.jpg", "truncated or corrupt")


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _bilevel_png(w: int, h: int, idat: bytes | None = None) -> bytes:
    """A real 1-bit PNG of w x h black pixels; all-zero rows compress about 1000:1, so huge sizes stay tiny."""
    if idat is None:
        comp = zlib.compressobj(9)
        row = b"\0" * (1 + (w + 7) // 8)
        idat = b"".join(comp.compress(row) for _ in range(h)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


@pytest.mark.parametrize("where", ["zlib-header", "middle"])
def test_corrupt_png_idat(where: str) -> None:
    # a smooth picture, so the IDAT stream is Huffman-coded (flipping bytes of incompressible noise, stored verbatim,
    # only changes pixels: Pillow checks neither the IDAT CRC nor the zlib checksum)
    yy, xx = np.mgrid[0:64, 0:96]
    arr = np.stack([xx * 2, yy * 3, (xx + yy) % 256], axis=2).astype(np.uint8)
    data = bytearray(encode(Image.fromarray(arr, "RGB"), "PNG"))
    start = data.index(b"IDAT") + 4
    length = struct.unpack(">I", data[start - 8 : start - 4])[0]
    first = start if where == "zlib-header" else start + length // 2
    for i in range(first, first + 16):
        data[i] ^= 0xFF
    assert_refused(bytes(data), "corrupt.png", "truncated or corrupt")


def test_decompression_bomb_header_is_refused() -> None:
    data = _bilevel_png(30_000, 30_000)
    assert len(data) < 200_000  # 900 megapixels in a small file
    assert_refused(data, "bomb.png", "decompression bomb")


def test_small_max_pixels_refuses_before_decoding() -> None:
    ok = encode(Image.new("RGB", (200, 100), RED), "PNG")
    assert decode_image(ok, "ok.png", max_pixels=20_000).rgb.shape == (100, 200, 3)  # exactly at the cap
    err = assert_refused(ok, "big.png", "refused", "200x100", "exceeds the cap", max_pixels=19_999)
    assert "20,000 pixels" in err.reason
    # the pixel data is garbage: the cap must fire before any decoding is attempted
    header_only = _bilevel_png(5_000, 5_000, idat=b"not zlib data at all")
    assert_refused(header_only, "huge.png", "refused", "exceeds the cap", max_pixels=1_000_000)


def test_pixel_cap_fires_before_any_pixel_is_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[str] = []
    real_load = ImageFile.ImageFile.load

    def spy(self: ImageFile.ImageFile) -> object:
        loads.append(self.format or "")
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    png = _bilevel_png(3_000, 3_000)  # valid and decodable, but over the cap below
    assert_refused(png, "wide.png", "refused", "exceeds the cap", max_pixels=1_000_000)
    assert loads == []  # PNG's getexif() used to decode the whole image before the cap was checked
    decode_image(png, "wide.png", max_pixels=9_000_000)
    assert loads  # the spy does see real decodes


def test_max_pixels_raised_past_pillow_limit_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)  # stand-in for Pillow's ~89 MP default
    data = _bilevel_png(3_000, 2_000)  # 6 MP: over twice Pillow's limit (its hard error, not just its warning)
    assert_refused(data, "scan.png", max_pixels=5_000_000)
    d = decode_image(data, "scan.png", max_pixels=6_000_000)
    assert (d.width, d.height) == (3_000, 2_000)
    assert d.rgb.shape == (683, 1024, 3) and (d.rgb == 0).all()
    assert Image.MAX_IMAGE_PIXELS == 1_000_000  # Pillow's guard is restored for everyone else


def test_unsupported_format_is_refused() -> None:
    data = encode(Image.new("RGB", (8, 8), RED), "PCX")
    assert_refused(data, "x.pcx", "unsupported image format PCX")


def test_netpbm_is_read() -> None:
    d = decode_image(encode(Image.new("RGB", (8, 8), RED), "PPM"), "x.ppm")
    assert d.format == "PPM" and tuple(d.rgb[0, 0]) == RED


def test_gif_with_truncated_second_frame_descriptor() -> None:
    gif = encode(Image.new("P", (8, 8), 0), "GIF")
    assert gif.endswith(b";")
    assert_refused(gif[:-1] + b",\x00\x00", "cut.gif", "truncated or corrupt")  # used to leak struct.error


def test_tiff_with_dimensionless_second_ifd() -> None:
    data = bytearray(encode(Image.new("RGB", (8, 8), RED), "TIFF"))
    assert data[:4] == b"II*\x00"
    ifd = struct.unpack_from("<I", data, 4)[0]
    next_ptr = ifd + 2 + 12 * struct.unpack_from("<H", data, ifd)[0]
    struct.pack_into("<I", data, next_ptr, len(data))
    data += struct.pack("<H", 1) + struct.pack("<HHII", 0x0103, 3, 1, 1) + struct.pack("<I", 0)  # no width/height
    assert_refused(bytes(data), "pages.tif", "truncated or corrupt")  # used to leak TypeError


def test_mutated_files_only_ever_raise_intake_error() -> None:
    rng = random.Random(1234)
    image = Image.fromarray(noise(40, 30, seed=3), "RGB")
    samples = [
        encode(image, "JPEG"),
        encode(image, "PNG"),
        encode(image, "WEBP"),
        encode(image, "GIF", save_all=True, append_images=[image.rotate(90)]),
        encode(image, "BMP"),
        encode(image, "TIFF"),
    ]
    outcomes: dict[str, int] = defaultdict(int)
    for sample in samples:
        for _ in range(150):
            mutated = bytearray(sample)
            if rng.random() < 0.3:
                mutated = mutated[: rng.randrange(len(mutated))]
            else:
                for _ in range(rng.randint(1, 8)):
                    mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Pillow warns about e.g. corrupt EXIF; only the outcome matters
                try:
                    decoded = decode_image(bytes(mutated), "m")
                except IntakeError:
                    outcomes["refused"] += 1
                else:
                    assert decoded.rgb.dtype == np.uint8 and decoded.rgb.ndim == 3 and decoded.rgb.shape[2] == 3
                    outcomes["decoded"] += 1
    assert outcomes["refused"] > 100 and outcomes["decoded"] > 0


# --- the shared evaluation set ------------------------------------------------------------------------------


def test_shared_eval_images_decode_to_manifest_size(shared_eval: Path) -> None:
    with open(shared_eval / "manifest.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    groups: dict[tuple[str, str, str], list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        with Image.open(shared_eval / row["path"]) as probe:  # header only: group by (suffix, format, mode)
            groups[(Path(row["path"]).suffix.lower(), probe.format or "", probe.mode)].append(row)
    assert len({suffix for suffix, _, _ in groups}) >= 3
    checked = 0
    for (_, fmt, _), members in sorted(groups.items()):
        picks = {members[0]["path"]: members[0], members[-1]["path"]: members[-1]}
        picks.setdefault(members[len(members) // 2]["path"], members[len(members) // 2])
        for row in picks.values():
            data = (shared_eval / row["path"]).read_bytes()
            assert len(data) == int(row["bytes"]) and hashlib.sha1(data).hexdigest() == row["sha1"], row["path"]
            if fmt not in ACCEPTED_FORMATS:
                assert_refused(data, row["path"], f"unsupported image format {fmt}")
                continue
            d = decode_image(data, row["path"])
            w, h = int(row["width"]), int(row["height"])
            assert (d.width, d.height) == (w, h), row["path"]
            assert d.sha256 == hashlib.sha256(data).hexdigest()
            rh, rw = d.rgb.shape[:2]
            if max(w, h) <= WORKING_SIDE:
                assert (rw, rh) == (w, h), row["path"]
            else:
                assert max(rw, rh) == WORKING_SIDE and abs(rw / rh - w / h) < 0.01, row["path"]
            checked += 1
    assert checked >= 10
