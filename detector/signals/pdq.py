"""PDQ perceptual hash (Meta's pdqhash), matched against all 8 rotations and flips of the suspect."""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np
import pdqhash

from detector.geometry import FULL, Box
from detector.intake import DecodedImage
from detector.proposals import Proposal
from detector.signals.base import Comparison, DecisionRules, IndexEntries, IndexKind, Signal, resized_recompressed

PDQ_BITS = 256
PDQ_SIDE = 512
PDQ_STANDARD_THRESHOLD = 31
PDQ_MIN_QUALITY = 50
"""PDQ's own quality score (0-100) below which its authors advise not to trust the hash: flat or nearly empty
pictures (clipart on white) all hash alike. Closeness and matches count only above it, on both sides."""
PDQ_CLOSE_BITS = 64
"""`pdq.closeness` falls from 1 (identical) to 0 at this distance: unrelated images sit near 128, so only the
close range carries information, which a linear weight on the raw similarity cannot express."""
"""Hamming distance at or below which PDQ's authors call two images the same (ThreatExchange practice)."""


@dataclass(frozen=True)
class PdqDescriptor:
    hashes: np.ndarray
    """uint8 (n, 32) bit-packed hashes: rows 0-7 the image and its 7 dihedral transforms (row 0 is the image),
    then, for a suspect, one row per view (detector.views: collage panels, region proposals)."""
    quality: int
    width: int
    height: int
    panels: tuple[Box | Proposal, ...] = ()
    """Each view's outline (normalised), in the order of the hashes after row 7."""
    panel_quality: tuple[int, ...] = ()


class PdqSignal(Signal[PdqDescriptor]):
    name: ClassVar[str] = "pdq"
    version: ClassVar[int] = 2
    feature_names: ClassVar[tuple[str, ...]] = ("pdq.similarity", "pdq.closeness", "pdq.match")
    fusion_features: ClassVar[tuple[str, ...]] = ("pdq.closeness", "pdq.match")
    agreement_levels: ClassVar[dict[str, float]] = {"pdq.max_distance": float(PDQ_STANDARD_THRESHOLD)}
    proof_rules: ClassVar[dict[str, float]] = {"max_distance": float(PDQ_STANDARD_THRESHOLD)}
    """Hash proof: PDQ's published match threshold between hashes of reliable quality. A named constant."""
    ranks_candidates: ClassVar[bool] = True

    @classmethod
    def agrees(cls, features: Mapping[str, float], rules: DecisionRules) -> bool:
        """A quality-weighted hash match within the agreement distance."""
        distance = (1 - features.get("pdq.similarity", 0.0)) * PDQ_BITS
        return features.get("pdq.closeness", 0.0) > 0 and distance <= rules.agreement.get("pdq.max_distance", 31)

    @classmethod
    def proves_copy(cls, features: Mapping[str, float], rules: DecisionRules) -> bool:
        """Hashes of reliable quality within the calibration's `max_distance` bits."""
        distance = round((1.0 - features.get("pdq.similarity", 0.0)) * PDQ_BITS)
        reliable = features.get("pdq.match", 0.0) > 0 or features.get("pdq.closeness", 0.0) > 0
        return reliable and distance <= rules.rule(cls.name, "max_distance")

    @classmethod
    def reading(cls, evidence: Mapping[str, object], rules: DecisionRules) -> str:
        return (
            f"PDQ perceptual hashes differ in {evidence.get('distance')} of {PDQ_BITS} bits "
            f"({round(rules.rule(cls.name, 'max_distance'))} or fewer: the same picture by the calibration in use); "
            "best alignment: "
            f"{evidence.get('transform')}."
        )

    @classmethod
    def example_copy(cls, rgb: np.ndarray) -> np.ndarray:
        return resized_recompressed(rgb, 0.7, 70)

    def compute(self, image: DecodedImage) -> PdqDescriptor:
        hashes, quality = pdqhash.compute_dihedral(_shrunk(image.rgb))
        packed = np.packbits(np.asarray(hashes, dtype=np.uint8).reshape(8, PDQ_BITS), axis=1)
        return PdqDescriptor(packed, int(quality), image.width, image.height)

    def compute_query(self, image: DecodedImage) -> PdqDescriptor:
        """A suspect also hashes each view on its own (detector.views: a collage panel, a rectified region
        proposal): a pasted copy keeps its PDQ inside the collage or the page."""
        d = self.compute(image)
        if not image.views:
            return d
        rows = [d.hashes]
        qualities = []
        for v in image.views:
            bits, q = pdqhash.compute(_shrunk(v.pixels))
            rows.append(np.packbits(np.asarray(bits, dtype=np.uint8).reshape(1, PDQ_BITS), axis=1))
            qualities.append(int(q))
        outlines = tuple(v.outline for v in image.views)
        return PdqDescriptor(np.vstack(rows), d.quality, d.width, d.height, outlines, tuple(qualities))

    def compare(self, query: PdqDescriptor, reference: PdqDescriptor) -> Comparison:
        distances = np.unpackbits(query.hashes ^ reference.hashes[0], axis=1).sum(axis=1)

        def quality(i: int) -> int:
            return min(query.quality if i < 8 else query.panel_quality[i - 8], reference.quality)

        readings = [_reading(int(d), quality(i), i) for i, d in enumerate(distances)]
        best = int(distances.argmin())
        features, evidence = readings[best]
        match = features["pdq.match"] > 0
        comp = Comparison(
            features=features,
            views=[f for f, _ in readings[8:]],  # the views' own hashes
            view_evidence=[e for _, e in readings[8:]],
            evidence=evidence,
        )
        if match and best >= 8:  # a view of the suspect is a PDQ match: that view is the copied region
            comp.query_region = query.panels[best - 8].to_polygon(query.width, query.height)
            comp.reference_region = FULL.to_polygon(reference.width, reference.height)
            comp.localisation_quality = 1.0
        return comp

    def to_bytes(self, descriptor: PdqDescriptor) -> bytes:
        head = struct.pack("<BII", min(descriptor.quality, 255), descriptor.width, descriptor.height)
        return head + descriptor.hashes[:8].tobytes()

    def from_bytes(self, data: bytes) -> PdqDescriptor:
        quality, width, height = struct.unpack_from("<BII", data)
        hashes = np.frombuffer(data, dtype=np.uint8, offset=9).reshape(-1, 32).copy()
        return PdqDescriptor(hashes, quality, width, height)

    def index_layout(self) -> tuple[IndexKind, int]:
        return "hamming", PDQ_BITS

    def index_entries(self, descriptor: PdqDescriptor) -> IndexEntries:
        return IndexEntries("hamming", descriptor.hashes[:1], np.zeros(1, dtype=np.int32))

    def query_entries(self, descriptor: PdqDescriptor) -> IndexEntries:
        return IndexEntries("hamming", descriptor.hashes, np.zeros(len(descriptor.hashes), dtype=np.int32))


def _reading(distance: int, quality: int, index: int) -> tuple[dict[str, float], dict[str, object]]:
    """Fusion features and raw evidence of the suspect's `index`-th hash (0-7 the dihedral transforms, 8 on the
    collage panels) against the work's: similarity always, closeness and match only for reliable hashes."""
    reliable = quality >= PDQ_MIN_QUALITY
    match = reliable and distance <= PDQ_STANDARD_THRESHOLD
    features = {
        "pdq.similarity": 1.0 - distance / PDQ_BITS,
        "pdq.closeness": max(0.0, 1.0 - distance / PDQ_CLOSE_BITS) if reliable else 0.0,
        "pdq.match": float(match),
    }
    evidence: dict[str, object] = {
        "distance": distance,
        "threshold": PDQ_STANDARD_THRESHOLD,
        "match": match,
        "transform": _DIHEDRAL[index] if index < 8 else f"panel {index - 7} of the collage",
        "quality": quality,
        "reliable": reliable,
    }
    return features, evidence


def _shrunk(rgb: np.ndarray) -> np.ndarray:
    """PDQ reduces to 64x64 anyway; hashing at most PDQ_SIDE px is 4x faster and gives the same bits' meaning."""
    if max(rgb.shape[:2]) > PDQ_SIDE:
        f = PDQ_SIDE / max(rgb.shape[:2])
        size = (max(1, round(rgb.shape[1] * f)), max(1, round(rgb.shape[0] * f)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb)


_DIHEDRAL = ("none", "rotate90", "rotate180", "rotate270", "flip_x", "flip_y", "transpose", "transverse")


def pdq_of(rgb: np.ndarray) -> tuple[bytes, int]:
    """The PDQ hash of a picture as it is (32 bytes, no rotations) and PDQ's quality score: the key by which a
    sweep links near-identical re-uploads of one image."""
    bits, quality = pdqhash.compute(_shrunk(rgb))
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes(), int(quality)
