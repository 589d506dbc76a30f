"""pHash (imagehash): the 64-bit DCT hash most peers use, kept as a cheap exact-copy signal and a baseline."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import imagehash
import numpy as np
from PIL import Image

from detector.intake import DecodedImage
from detector.signals.base import Comparison, DecisionRules, IndexEntries, IndexKind, Signal, resized_recompressed

PHASH_BITS = 64
PHASH_MATCH_DISTANCE = 10
"""A distance commonly used for "same image" with 64-bit pHash; reported, not used as a verdict on its own."""


class PhashSignal(Signal[np.ndarray]):
    name: ClassVar[str] = "phash"
    version: ClassVar[int] = 1
    feature_names: ClassVar[tuple[str, ...]] = ("phash.similarity",)
    fusion_features: ClassVar[tuple[str, ...]] = feature_names
    agreement_levels: ClassVar[dict[str, float]] = {"phash.max_distance": float(PHASH_MATCH_DISTANCE)}
    """The distance commonly used for 64-bit pHash."""

    @classmethod
    def agrees(cls, features: Mapping[str, float], rules: DecisionRules) -> bool:
        if "phash.similarity" not in features:
            return False
        limit = rules.agreement.get("phash.max_distance", PHASH_MATCH_DISTANCE)
        return (1 - features["phash.similarity"]) * PHASH_BITS <= limit

    @classmethod
    def reading(cls, evidence: Mapping[str, object], rules: DecisionRules) -> str:
        limit = rules.agreement.get("phash.max_distance", PHASH_MATCH_DISTANCE)
        return (
            f"pHash differs in {evidence.get('distance')} of {PHASH_BITS} bits ({limit:.0f} or fewer usually means "
            "the same picture; it does not survive crops or heavy edits)."
        )

    @classmethod
    def example_copy(cls, rgb: np.ndarray) -> np.ndarray:
        return resized_recompressed(rgb, 0.5, 75)

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
