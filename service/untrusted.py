"""Untrusted files, wherever they come from (a browser upload, a listing image a sweep fetched, an archive member):
what a file is comes from its first bytes, never from its name or Content-Type, and a name is reduced to a safe,
printable base name before it is stored or shown. Shared by the web door and the sweeps, so neither imports the
other."""

from __future__ import annotations

import re
import unicodedata

MAX_NAME = 200

_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "png"),
    (0, b"GIF87a", "gif"),
    (0, b"GIF89a", "gif"),
    (0, b"BM", "bmp"),
    (0, b"II*\x00", "tiff"),
    (0, b"MM\x00*", "tiff"),
    (0, b"PK\x03\x04", "zip"),
    (0, b"PK\x05\x06", "zip"),
)
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis")
IMAGE_KINDS = frozenset({"jpeg", "png", "gif", "bmp", "tiff", "webp", "heif", "pnm"})


def sniff(data: bytes) -> str | None:
    """The kind of file from its content (an image format or "zip"), or None when it is neither."""
    for offset, magic, kind in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "heif"
    if len(data) > 2 and data[0:1] == b"P" and data[1:2] in b"123456" and data[2:3] in b" \t\r\n":
        return "pnm"
    return None


def safe_name(filename: str | None) -> str:
    """A base name safe to store and show: no folders (either slash), no control or format characters, no leading
    dots, at most MAX_NAME characters; "upload" when nothing is left."""
    name = (filename or "").replace("\\", "/").split("/")[-1]
    name = "".join(c for c in unicodedata.normalize("NFC", name) if unicodedata.category(c)[0] != "C")
    name = re.sub(r"\s+", " ", name).strip().lstrip(".")
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: MAX_NAME - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else name[:MAX_NAME]
    return name or "upload"


def printable(name: str) -> str:
    """A name (an archive member's path) without control or format characters (bidi overrides, NUL), which would
    make what a person reads differ from what is stored."""
    cleaned = "".join(c for c in unicodedata.normalize("NFC", name) if unicodedata.category(c)[0] != "C")
    return cleaned[: MAX_NAME * 4] or "upload"
