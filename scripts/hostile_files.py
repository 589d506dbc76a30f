"""A seeded corpus of hostile inputs, as found on seized disks and in web scrapes, for the fuzz test and script.

`build_corpus(root, n, seed, good)` writes `n` entries under `root` and returns what each one is. Families:
truncations and bit flips of real pictures in every format; odd dimensions (spacers 640x1, 3x20000 GIFs); odd modes
(1-bit, 16-bit, float, CMYK, palette with transparency); odd PNG chunks (text bombs, bad CRCs, unknown chunks, a
decompression-bomb header); odd names (not UTF-8, Rich markup, ANSI escapes, bidi overrides, newlines); special files
(FIFOs, sockets, links to /dev/zero, broken links, loops); zip tricks (duplicate names, traversal, bombs, nesting,
truncation); empty and mislabelled files. Each entry says how many result lines a scan of the folder owes it, so
the fuzz can assert one line per input. Good pictures are mixed in, to check that they are judged as when alone.
"""

from __future__ import annotations

import io
import os
import random
import socket
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Hostile:
    """One entry of the corpus: its raw name under the root, its family, and what a scan owes it."""

    name: bytes
    family: str
    results: int
    """Result lines a folder scan must give for it: 1 for a file or special file, members for a zip, 0 for a
    file the walk skips (no image suffix)."""
    good: bool = False
    """A sound picture, whose scan must equal its scan alone."""


def png(array: np.ndarray, **params: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG", **params)
    return buf.getvalue()


def encoded(image: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def chunk(kind: bytes, body: bytes, crc: int | None = None) -> bytes:
    """One PNG chunk, with its correct CRC unless `crc` is given."""
    value = zlib.crc32(kind + body) & 0xFFFFFFFF if crc is None else crc
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", value)


def with_chunk(data: bytes, extra: bytes) -> bytes:
    """`data` (a PNG) with `extra` chunk bytes inserted right after IHDR."""
    ihdr_end = 8 + 8 + 13 + 4
    return data[:ihdr_end] + extra + data[ihdr_end:]


def _noise(rng: random.Random, w: int, h: int) -> np.ndarray:
    return np.random.default_rng(rng.randrange(1 << 30)).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _formats(picture: Image.Image) -> dict[str, bytes]:
    """One picture in every format intake reads."""
    rgb = picture.convert("RGB")
    return {
        ".jpg": encoded(rgb, "JPEG", quality=88),
        ".png": encoded(rgb, "PNG"),
        ".webp": encoded(rgb, "WEBP", quality=80),
        ".gif": encoded(rgb.convert("P"), "GIF"),
        ".bmp": encoded(rgb, "BMP"),
        ".tif": encoded(rgb, "TIFF"),
    }


def _fixed_cases(rng: random.Random, picture: Image.Image) -> list[tuple[str, bytes, str, int]]:
    """(file name, bytes, family, results) of the hand-picked cases; the name is text here, odd names come later."""
    small = picture.convert("RGB").resize((160, 120))
    arr = np.asarray(small)
    grey = np.asarray(small.convert("L"))
    big_text = zlib.compress(b"A" * 2_000_000, 9)
    cases: list[tuple[str, bytes, str, int]] = []
    for w, h, fmt in (
        (1000, 2, "PNG"),
        (640, 1, "PNG"),
        (2, 1000, "PNG"),
        (3, 20000, "GIF"),
        (16383, 1, "WEBP"),
        (65500, 2, "PNG"),
        (5, 5, "PNG"),
        (63, 640, "JPEG"),
        (62, 640, "JPEG"),
    ):
        image = Image.fromarray(_noise(rng, w, h))
        cases.append(
            (
                f"dims-{w}x{h}.{fmt.lower()}",
                encoded(image if fmt != "GIF" else image.convert("P"), fmt),
                "dimensions",
                1,
            )
        )
    cases += [
        ("mode-1bit.png", encoded(small.convert("1"), "PNG"), "mode", 1),
        ("mode-L.png", encoded(small.convert("L"), "PNG"), "mode", 1),
        ("mode-LA.png", encoded(small.convert("LA"), "PNG"), "mode", 1),
        ("mode-P-transparent.png", encoded(small.convert("P"), "PNG", transparency=0), "mode", 1),
        ("mode-I16.png", png(grey.astype(np.uint16) * 257), "mode", 1),
        ("mode-I32.tif", encoded(Image.fromarray(grey.astype(np.int32) * 1000), "TIFF"), "mode", 1),
        ("mode-float01.tif", encoded(Image.fromarray(grey.astype(np.float32) / 255), "TIFF"), "mode", 1),
        ("mode-float-nan.tif", encoded(Image.fromarray(np.full((40, 40), np.nan, np.float32)), "TIFF"), "mode", 1),
        ("mode-cmyk.jpg", encoded(small.convert("CMYK"), "JPEG"), "mode", 1),
        ("mode-rgba-clear.png", encoded(Image.new("RGBA", (50, 50), (0, 0, 0, 0)), "PNG"), "mode", 1),
        ("mode-rgba.bmp", encoded(small.convert("RGBA"), "BMP"), "mode", 1),
        (
            "mode-animated.gif",
            encoded(small.convert("P"), "GIF", save_all=True, append_images=[small.rotate(90).convert("P")]),
            "mode",
            1,
        ),
        ("mode-multipage.tif", encoded(small, "TIFF", save_all=True, append_images=[small.rotate(90)]), "mode", 1),
        ("chunk-ztxt-bomb.png", with_chunk(png(arr), chunk(b"zTXt", b"comment\0\0" + big_text)), "chunk", 1),
        ("chunk-itxt-bomb.png", with_chunk(png(arr), chunk(b"iTXt", b"comment\0\1\0\0\0" + big_text)), "chunk", 1),
        ("chunk-text-bad-crc.png", with_chunk(png(arr), chunk(b"tEXt", b"Software\0x", crc=1)), "chunk", 1),
        ("chunk-unknown-ancillary.png", with_chunk(png(arr), chunk(b"zzZz", b"\0" * 64)), "chunk", 1),
        ("chunk-unknown-critical.png", with_chunk(png(arr), chunk(b"ZZZZ", b"\0" * 64)), "chunk", 1),
        ("chunk-bomb-header.png", _png_header_only(100_000, 100_000), "chunk", 1),
        ("chunk-no-idat.png", _png_header_only(40, 40) + chunk(b"IEND", b""), "chunk", 1),
        ("empty.jpg", b"", "empty", 1),
        ("text-named.jpg", b"just some notes, not a picture\n", "empty", 1),
        ("html-named.png", b"<html><body>404 not found</body></html>", "empty", 1),
        ("readme.txt", b"not scanned: no image suffix", "empty", 0),
    ]
    return cases


def _png_header_only(w: int, h: int) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))


def _zips(jpeg: bytes, png_data: bytes) -> list[tuple[str, bytes, int]]:
    """(file name, bytes, result lines) of zip tricks."""

    def archive(members: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", method) as z:
            for name, data in members:
                z.writestr(name, data)
        return buf.getvalue()

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate names we make on purpose
        duplicates = archive([("x.jpg", jpeg), ("x.jpg", png_data), ("x.jpg", jpeg[:100]), ("y.png", png_data)])
    inner = archive([("a.jpg", jpeg)])
    deeper = archive([("inner.zip", archive([("deep.zip", inner)]))])
    sound = archive([("one.jpg", jpeg), ("two.png", png_data), ("notes.txt", b"skipped")])
    return [
        ("zip-duplicates.zip", duplicates, 4),
        ("zip-traversal.zip", archive([("../../evil.jpg", jpeg), ("/abs.png", png_data), ("ok.png", png_data)]), 3),
        ("zip-bomb.zip", archive([("bomb.png", b"\0" * 5_000_000)]), 1),
        ("zip-nested.zip", archive([("inner.zip", inner)]), 1),
        ("zip-too-deep.zip", deeper, 1),
        ("zip-truncated.zip", sound[: len(sound) // 2], 1),
        ("zip-garbage.zip", b"PK\x03\x04" + bytes(200), 1),
        ("zip-sound.zip", sound, 2),
        ("zip-only-text.zip", archive([("notes.txt", b"x")]), 0),
    ]


def _odd_names() -> list[bytes]:
    return [
        b"caf\xe9-latin1.png",  # not UTF-8
        b"\xff\xfe-raw.jpg",
        b"[bold]markup[link=file:x].png",
        b"[red]styled[blink].png",
        b"\x1b[31mansi-red\x1b[0m.png",
        "\u202egnp.exe-bidi.png".encode(),
        b"new\nline.png",
        b"tab\tand\rreturn.png",
        ("long-" + "n" * 200 + ".png").encode(),
        b" leading and trailing .png",
    ]


def _specials(root: Path) -> list[tuple[bytes, Callable[[bytes], None], int]]:
    """(name, how to make it, result lines) of special files."""

    def fifo(path: bytes) -> None:
        os.mkfifo(path)

    def sock(path: bytes) -> None:
        s = socket.socket(socket.AF_UNIX)
        try:
            s.bind(path)
        finally:
            s.close()

    def link(target: str) -> Callable[[bytes], None]:
        return lambda path: os.symlink(target, path)

    specials: list[tuple[bytes, Callable[[bytes], None], int]] = [
        (b"pipe.jpg", fifo, 1),
        (b"zero-link.jpg", link("/dev/zero"), 1),
        (b"null-link.png", link("/dev/null"), 1),
        (b"urandom-link.webp", link("/dev/urandom"), 1),
        (b"broken-link.png", link("does-not-exist.png"), 1),
        (b"loop-a.png", link("loop-b.png"), 1),
        (b"loop-b.png", link("loop-a.png"), 1),
        (b"folder-named.jpg", lambda path: os.mkdir(path), 0),
    ]
    if len(os.fsencode(root)) + 12 < 100:  # a Unix socket's path must fit in sun_path (108 bytes)
        specials.append((b"socket.png", sock, 1))
    return specials


def build_corpus(root: Path, n: int, seed: int, good: list[bytes]) -> list[Hostile]:
    """Write about `n` hostile entries (at least the fixed ones) plus the `good` pictures under `root`."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    base = os.fsencode(root)
    out: list[Hostile] = []

    def put(name: bytes, data: bytes, family: str, results: int, is_good: bool = False) -> None:
        with open(os.path.join(base, name), "wb") as f:
            f.write(data)
        out.append(Hostile(name, family, results, is_good))

    pictures = [Image.open(io.BytesIO(g)).convert("RGB") for g in good]
    for i, g in enumerate(good):
        put(f"good-{i}.jpg".encode(), g, "good", 1, is_good=True)
    first = pictures[0]
    for text_name, data, family, results in _fixed_cases(rng, first):
        put(text_name.encode(), data, family, results)
    sound_png = encoded(first.resize((120, 90)), "PNG")
    sound_jpg = encoded(first.resize((120, 90)), "JPEG")
    for text_name, data, results in _zips(sound_jpg, sound_png):
        put(text_name.encode(), data, "zip", results)
    for raw in _odd_names():
        put(raw, sound_png if raw.endswith(b".png") else sound_jpg, "name", 1)
    for raw, make, results in _specials(root):
        make(os.path.join(base, raw))
        out.append(Hostile(raw, "special", results))

    samples = [_formats(p.resize((200, 150))) for p in pictures]
    i = 0
    while len(out) < n:
        fmt_bytes = rng.choice(samples)
        suffix = rng.choice(sorted(fmt_bytes))
        mutable = bytearray(fmt_bytes[suffix])
        if rng.random() < 0.5:
            cut = rng.randrange(1, len(mutable))
            put(f"trunc-{i:05d}{suffix}".encode(), bytes(mutable[:cut]), "truncation", 1)
        else:
            for _ in range(rng.randint(1, 24)):
                mutable[rng.randrange(len(mutable))] ^= 1 << rng.randrange(8)
            put(f"flip-{i:05d}{suffix}".encode(), bytes(mutable), "bitflip", 1)
        i += 1
    return out
