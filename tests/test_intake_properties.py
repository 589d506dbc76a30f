"""Property tests (hypothesis) of the parsers hostile bytes reach first: whatever the bytes, intake either decodes
or raises IntakeError naming the file, and the PNG chunk reader never raises at all."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from detector import png_chunks
from detector.intake import IntakeError, decode_image


def _png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.arange(48 * 32 * 3, dtype=np.uint8).reshape(32, 48, 3)).save(buf, "PNG")
    return buf.getvalue()


SOUND_PNG = _png()
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _mutated(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    out = bytearray(data)
    for position, value in edits:
        out[position % len(out)] = value
    return bytes(out[:cut] if cut else out)


edits = st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=12)


@FAST
@given(edits, st.one_of(st.none(), st.integers(1, len(SOUND_PNG))))
def test_a_damaged_png_decodes_or_is_an_intake_error(changes: list[tuple[int, int]], cut: int | None) -> None:
    data = _mutated(SOUND_PNG, changes, cut)
    try:
        image = decode_image(data, "suspect.png")
    except IntakeError as exc:
        assert exc.name == "suspect.png" and exc.reason
        return
    assert image.rgb.dtype == np.uint8 and image.rgb.ndim == 3 and image.rgb.shape[2] == 3


@FAST
@given(st.binary(max_size=4096))
def test_any_bytes_decode_or_are_an_intake_error(data: bytes) -> None:
    try:
        decode_image(data, "x.jpg")
    except IntakeError as exc:
        assert exc.name == "x.jpg"


@FAST
@given(edits, st.one_of(st.none(), st.integers(1, len(SOUND_PNG))), st.binary(max_size=300))
def test_the_chunk_reader_never_raises(changes: list[tuple[int, int]], cut: int | None, text: bytes) -> None:
    body = b"comment\0\0" + zlib.compress(text)
    extra = struct.pack(">I", len(body)) + b"zTXt" + body + struct.pack(">I", zlib.crc32(b"zTXt" + body))
    data = _mutated(SOUND_PNG[:33] + extra + SOUND_PNG[33:], changes, cut)
    texts, notes = png_chunks.text_chunks(data)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in texts.items())
    assert all(isinstance(n, str) for n in notes)
    repaired = png_chunks.pixel_chunks_only(data)
    assert repaired is None or repaired[0].startswith(png_chunks.SIGNATURE)
