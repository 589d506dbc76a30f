"""PDQ perceptual hash (Meta's pdqhash), matched against all 8 rotations and flips of the suspect."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np
import pdqhash

from detector.intake import DecodedImage
from detector.signals.base import Comparison, IndexEntries, IndexKind, Signal

PDQ_BITS = 256
PDQ_SIDE = 512
PDQ_STANDARD_THRESHOLD = 31
"""Hamming distance at or below which PDQ's authors call two images the same (ThreatExchange practice)."""


@dataclass(frozen=True)
class PdqDescriptor:
    hashes: np.ndarray
    """uint8 (8, 32): bit-packed hashes of the image and its 7 dihedral transforms; row 0 is the image."""
    quality: int


class PdqSignal(Signal[PdqDescriptor]):
    name: ClassVar[str] = "pdq"
    version: ClassVar[int] = 1
    feature_names: ClassVar[tuple[str, ...]] = ("pdq.similarity",)

    def compute(self, image: DecodedImage) -> PdqDescriptor:
        rgb = image.rgb
        if max(rgb.shape[:2]) > PDQ_SIDE:  # PDQ reduces to 64x64 anyway; a smaller input is 4x faster
            f = PDQ_SIDE / max(rgb.shape[:2])
            rgb = cv2.resize(
                rgb, (max(1, round(rgb.shape[1] * f)), max(1, round(rgb.shape[0] * f))), interpolation=cv2.INTER_AREA
            )
        hashes, quality = pdqhash.compute_dihedral(np.ascontiguousarray(rgb))
        packed = np.packbits(np.asarray(hashes, dtype=np.uint8).reshape(8, PDQ_BITS), axis=1)
        return PdqDescriptor(hashes=packed, quality=int(quality))

    def compare(self, query: PdqDescriptor, reference: PdqDescriptor) -> Comparison:
        distances = np.unpackbits(query.hashes ^ reference.hashes[0], axis=1).sum(axis=1)
        best = int(distances.argmin())
        distance = int(distances[best])
        return Comparison(
            features={"pdq.similarity": 1.0 - distance / PDQ_BITS},
            evidence={
                "distance": distance,
                "threshold": PDQ_STANDARD_THRESHOLD,
                "match": distance <= PDQ_STANDARD_THRESHOLD,
                "transform": _DIHEDRAL[best],
                "quality": query.quality,
            },
        )

    def to_bytes(self, descriptor: PdqDescriptor) -> bytes:
        return bytes([min(descriptor.quality, 255)]) + descriptor.hashes.tobytes()

    def from_bytes(self, data: bytes) -> PdqDescriptor:
        return PdqDescriptor(hashes=np.frombuffer(data[1:], dtype=np.uint8).reshape(8, 32).copy(), quality=data[0])

    def index_layout(self) -> tuple[IndexKind, int]:
        return "hamming", PDQ_BITS

    def index_entries(self, descriptor: PdqDescriptor) -> IndexEntries:
        return IndexEntries("hamming", descriptor.hashes[:1], np.zeros(1, dtype=np.int32))

    def query_entries(self, descriptor: PdqDescriptor) -> IndexEntries:
        return IndexEntries("hamming", descriptor.hashes, np.zeros(8, dtype=np.int32))


_DIHEDRAL = ("none", "rotate90", "rotate180", "rotate270", "flip_x", "flip_y", "transpose", "transverse")
