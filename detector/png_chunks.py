"""PNG chunks read the way libpng reads them: a damaged or oversized ancillary chunk is dropped, not fatal.

Pillow refuses a whole PNG whose text chunk inflates past 1 MB (zTXt/iTXt bombs are a known attack on Pillow) or
whose ancillary chunk fails its CRC; libpng, and so every browser and viewer, shows the picture and drops the chunk.
A registered work re-saved with a 2 KB compressed comment must still be found, so intake retries such a file with
only the chunks that make its pixels (`pixel_chunks_only`), and metadata is read from the text chunks within caps
(`text_chunks`).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

SIGNATURE = b"\x89PNG\r\n\x1a\n"
PIXEL_ANCILLARY = frozenset({b"tRNS"})
"""The one ancillary chunk that changes the decoded pixels (transparency); every other one is metadata or colour
management that Pillow does not apply."""
MAX_TEXT_BYTES = 1 << 20
"""Each text chunk's value is kept up to this many bytes once inflated (Pillow's own per-chunk limit)."""
MAX_TEXT_TOTAL = 8 << 20
"""All text chunks together are read up to this many inflated bytes; later ones are listed as skipped."""


def is_png(data: bytes) -> bool:
    return data.startswith(SIGNATURE)


def chunks(data: bytes) -> Iterator[tuple[bytes, bytes, bool]]:
    """(type, body, crc_ok) of each chunk, stopping at IEND or where the stream is cut short."""
    pos = len(SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 8 + length
        if end + 4 > len(data):
            return
        body = data[pos + 8 : end]
        crc_ok = zlib.crc32(kind + body) & 0xFFFFFFFF == struct.unpack_from(">I", data, end)[0]
        yield kind, body, crc_ok
        if kind == b"IEND":
            return
        pos = end + 4


def pixel_chunks_only(data: bytes) -> tuple[bytes, list[str]] | None:
    """The PNG rebuilt from its critical chunks and a sound tRNS, and a note per chunk dropped; None when `data` is
    not a PNG or nothing would be dropped. Critical chunks are kept even when damaged: libpng refuses those too."""
    if not is_png(data):
        return None
    kept, dropped = [SIGNATURE], []
    for kind, body, crc_ok in chunks(data):
        critical = kind[:1].isupper()
        if critical or (kind in PIXEL_ANCILLARY and crc_ok):
            kept.append(struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body)))
        else:
            name = kind.decode("latin-1", "replace")
            dropped.append(f"{name} ({len(body):,} bytes{'' if crc_ok else ', bad CRC'})")
    if not dropped:
        return None
    return b"".join(kept), dropped


def text_chunks(data: bytes) -> tuple[dict[str, str], list[str]]:
    """The keyword and text of every tEXt, zTXt and iTXt chunk, each inflated to at most MAX_TEXT_BYTES, and notes on
    what was cut or skipped. Never raises on a damaged chunk: it is noted and skipped."""
    texts: dict[str, str] = {}
    notes: list[str] = []
    total = 0
    if not is_png(data):
        return texts, notes
    for kind, body, crc_ok in chunks(data):
        if kind not in (b"tEXt", b"zTXt", b"iTXt"):
            continue
        name = kind.decode()
        if total >= MAX_TEXT_TOTAL:
            notes.append(f"{name} chunk skipped: text chunks exceed {MAX_TEXT_TOTAL:,} bytes in all")
            continue
        try:
            keyword, value, cut = _text(kind, body, min(MAX_TEXT_BYTES, MAX_TEXT_TOTAL - total))
        except (ValueError, zlib.error) as exc:
            notes.append(f"{name} chunk unreadable ({exc}); skipped")
            continue
        if not crc_ok:
            notes.append(f"{name} chunk '{keyword}' has a bad CRC (read anyway)")
        if cut:
            notes.append(f"{name} chunk '{keyword}' inflates past {MAX_TEXT_BYTES:,} bytes; kept its first part")
        total += len(value)
        texts[keyword] = value
    return texts, notes


def _text(kind: bytes, body: bytes, cap: int) -> tuple[str, str, bool]:
    """(keyword, value, cut) of one text chunk; raises ValueError or zlib.error when it is malformed."""
    keyword, sep, rest = body.partition(b"\0")
    if not sep or not keyword:
        raise ValueError("no keyword")
    key = keyword.decode("latin-1")
    if kind == b"tEXt":
        return key, rest[:cap].decode("latin-1"), len(rest) > cap
    if kind == b"zTXt":
        raw, cut = _inflate(rest[1:], cap)
        return key, raw.decode("latin-1"), cut
    if len(rest) < 2:  # iTXt: compression flag, method, language\0, translated keyword\0, text
        raise ValueError("iTXt chunk too short")
    compressed = rest[0] == 1
    _language, _, rest = rest[2:].partition(b"\0")
    _translated, _, text = rest.partition(b"\0")
    raw, cut = _inflate(text, cap) if compressed else (text[:cap], len(text) > cap)
    return key, raw.decode("utf-8", "replace"), cut


def _inflate(data: bytes, cap: int) -> tuple[bytes, bool]:
    """At most `cap` inflated bytes of a zlib stream, and whether there was more."""
    inflater = zlib.decompressobj()
    out = inflater.decompress(data, cap)
    return out, bool(inflater.unconsumed_tail) or (not inflater.eof and len(out) >= cap)
