"""pHash (imagehash): the 64-bit DCT hash most peers use, kept as a cheap exact-copy signal and a baseline."""

from __future__ import annotations

from typing import ClassVar

import imagehash
import numpy as np
from PIL import Image

from detector.intake import DecodedImage
from detector.signals.base import Comparison, IndexEntries, IndexKind, Signal

PHASH_BITS = 64
PHASH_MATCH_DISTANCE = 10
"""A distance commonly used for "same image" with 64-bit pHash; reported, not used as a verdict on its own."""


class PhashSignal(Signal[np.ndarray]):
    name: ClassVar[str] = "phash"
    version: ClassVar[int] = 1
    feature_names: ClassVar[tuple[str, ...]] = ("phash.similarity",)

    def compute(self, image: DecodedImage) -> np.ndarray:
        bits = imagehash.phash(Image.fromarray(image.rgb)).hash.reshape(-1)
        return np.packbits(bits.astype(np.uint8))

    def compare(self, query: np.ndarray, reference: np.ndarray) -> Comparison:
        distance = int(np.unpackbits(query ^ reference).sum())
        return Comparison(
            features={"phash.similarity": 1.0 - distance / PHASH_BITS},
            evidence={"distance": distance, "match": distance <= PHASH_MATCH_DISTANCE},
        )

    def to_bytes(self, descriptor: np.ndarray) -> bytes:
        return descriptor.tobytes()

    def from_bytes(self, data: bytes) -> np.ndarray:
        return np.frombuffer(data, dtype=np.uint8).copy()

    def index_layout(self) -> tuple[IndexKind, int]:
        return "hamming", PHASH_BITS

    def index_entries(self, descriptor: np.ndarray) -> IndexEntries:
        return IndexEntries("hamming", descriptor.reshape(1, -1), np.zeros(1, dtype=np.int32))
