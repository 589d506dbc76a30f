"""Neural embedding signal: global and regional (R-MAC-grid) vectors of one embedder, compared by cosine.

The global cosine catches near copies and AI re-renderings; the best region-to-region cosine catches crops
(suspect whole vs. a region of the original) and collage panels (a suspect region vs. the whole original).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from detector.embedders.base import Embedder, NeuralFeatures
from detector.geometry import FULL, Box
from detector.intake import DecodedImage
from detector.proposals import Proposal
from detector.signals.base import Comparison, DecisionRules, IndexEntries, IndexKind, Signal, resized_recompressed


@dataclass(frozen=True)
class EmbeddingDescriptor:
    features: NeuralFeatures
    width: int
    height: int
    panels: tuple[NeuralFeatures, ...] = ()
    """A suspect's views (detector.views: collage panels, region proposals), each embedded on its own (their
    whole-image vectors are also appended to `features`, so the index finds the works they copy)."""
    outlines: tuple[Box | Proposal, ...] = ()
    """Each view's outline in the suspect (normalised), in the order of `panels`."""


@dataclass(frozen=True)
class _Stacked:
    """Background descriptors as matrices: whole-image vectors (n, dim) and layouts (n, layout_dim)."""

    vectors: np.ndarray
    layouts: np.ndarray | None


class EmbeddingSignal(Signal[EmbeddingDescriptor]):
    name: ClassVar[str] = "embedding"
    version: ClassVar[int] = 3
    feature_names: ClassVar[tuple[str, ...]] = ("embedding.global", "embedding.regional", "embedding.layout")
    background_features: ClassVar[tuple[str, ...]] = feature_names
    fusion_features: ClassVar[tuple[str, ...]] = feature_names
    agreement_levels: ClassVar[dict[str, float]] = {"embedding.global": 0.8, "embedding.regional": 0.85}
    """Cosine levels that unrelated dev pictures stay below. Named constants, not fitted."""
    ranks_candidates: ClassVar[bool] = True

    @classmethod
    def agrees(cls, features: Mapping[str, float], rules: DecisionRules) -> bool:
        a = rules.agreement
        return features.get("embedding.global", 0.0) >= a.get("embedding.global", 1.1) or features.get(
            "embedding.regional", 0.0
        ) >= a.get("embedding.regional", 1.1)

    @classmethod
    def reading(cls, evidence: Mapping[str, object], rules: DecisionRules) -> str:
        layout = f", of the spatial layout {_f(evidence['layout'])}" if evidence.get("layout") is not None else ""
        text = (
            f"Neural similarity of the whole images {_f(evidence.get('global'))}, of the best-matching regions "
            f"{_f(evidence.get('regional'))}{layout} (1 = identical; unrelated pictures mostly score 0.3 to 0.6)."
        )
        if "global.excess" in evidence:
            excess = f", layout {_f(evidence['layout.excess'])}" if evidence.get("layout.excess") is not None else ""
            text += (
                f" Above what this work scores against unrelated background images: whole "
                f"{_f(evidence.get('global.excess'))}, regions {_f(evidence.get('regional.excess'))}{excess} (0 or "
                "less = no more alike than strangers)."
            )
        return text

    @classmethod
    def example_copy(cls, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        centre = np.ascontiguousarray(rgb[h // 20 : h - h // 20, w // 20 : w - w // 20])  # 90% of each side
        return resized_recompressed(centre, 0.8, 75)

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    @property
    def key(self) -> str:
        return f"embedding:{self.embedder.id}"

    def compute(self, image: DecodedImage) -> EmbeddingDescriptor:
        return EmbeddingDescriptor(self.embedder.features(image.rgb), image.width, image.height)

    def compute_query(self, image: DecodedImage) -> EmbeddingDescriptor:
        """Suspects add extra scales, a whole-image vector with light overlay strokes filled in when they have
        many (detector.overlay: a tiled watermark), and one embedding per view (detector.views): a collage panel
        gets the whole and its region grid, as an uploaded picture does; a region proposal, which holds one
        picture at most, its whole-image vector only (one embedder pass)."""
        feats = self.embedder.query_features(image.rgb)
        filled = image.light_strokes_filled
        if filled is not None:
            vector = self.embedder.features(filled).vectors[:1]
            feats = NeuralFeatures(np.vstack([feats.vectors, vector]), (*feats.boxes, FULL), feats.layout)
        views = image.views
        if not views:
            return EmbeddingDescriptor(feats, image.width, image.height)
        own = tuple(
            self.embedder.features(v.pixels)
            if v.kind == "panel"
            else NeuralFeatures(self.embedder.global_vector(v.pixels)[None], (FULL,))
            for v in views
        )
        vecs = np.vstack([feats.vectors, *(p.vectors[:1] for p in own)])
        boxes = feats.boxes + tuple(v.bounds for v in views)
        return EmbeddingDescriptor(
            NeuralFeatures(vecs, boxes, feats.layout),
            image.width,
            image.height,
            own,
            tuple(v.outline for v in views),
        )

    def compare(self, query: EmbeddingDescriptor, reference: EmbeddingDescriptor) -> Comparison:
        return self.compare_many(query, [reference])[0]

    def compare_many(self, query: EmbeddingDescriptor, references: Sequence[EmbeddingDescriptor]) -> list[Comparison]:
        """One matrix product of the suspect's vectors (and each panel's) with every candidate's, then cut per
        candidate: a suspect meets ~50 candidates, and 50 small products cost far more than one large one."""
        if not references:
            return []
        stacked = np.vstack([r.features.vectors for r in references])
        ends = np.cumsum([len(r.features.vectors) for r in references])
        whole = query.features.vectors @ stacked.T
        panels = [p.vectors @ stacked.T for p in query.panels]
        out = []
        for i, reference in enumerate(references):
            cut = slice(int(ends[i]) - len(reference.features.vectors), int(ends[i]))
            views = [_similarities(p, reference.features, s[:, cut]) for p, s in zip(query.panels, panels, strict=True)]
            own = _similarities(query.features, reference.features, whole[:, cut])
            out.append(self._comparison(query, reference, own, views))
        return out

    def _comparison(
        self,
        query: EmbeddingDescriptor,
        reference: EmbeddingDescriptor,
        whole: tuple[dict[str, float], Box, Box],
        views: list[tuple[dict[str, float], Box, Box]],
    ) -> Comparison:
        features, qbox, rbox = whole
        outlines = query.outlines or query.features.boxes[len(query.features.boxes) - len(query.panels) :]
        return Comparison(
            views=[v for v, _, _ in views],
            view_evidence=[_view_evidence(q, r) for q, (_, _, r) in zip(outlines, views, strict=True)],
            view_regions=[
                (
                    q.to_polygon(query.width, query.height),
                    r.to_polygon(reference.width, reference.height),
                    f["embedding.regional"],
                )
                for q, (f, _, r) in zip(outlines, views, strict=True)
            ],
            features=features,
            evidence={
                "embedder": self.embedder.id,
                "query_box": _box_list(qbox),
                "reference_box": _box_list(rbox),
            },
            query_region=qbox.to_polygon(query.width, query.height),
            reference_region=rbox.to_polygon(reference.width, reference.height),
            localisation_quality=features["embedding.regional"],
        )

    def background_descriptor(self, image: DecodedImage) -> EmbeddingDescriptor:
        """Only the whole-image vector and the layout: enough for baselines, and keeps the shipped set small."""
        f = self.embedder.features(image.rgb)
        return EmbeddingDescriptor(NeuralFeatures(f.vectors[:1], f.boxes[:1], f.layout), image.width, image.height)

    def stack_background(self, descriptors: Sequence[EmbeddingDescriptor]) -> object:
        vectors = np.stack([d.features.vectors[0] for d in descriptors])
        layouts = [d.features.layout for d in descriptors if d.features.layout is not None]
        return _Stacked(vectors, np.stack(layouts) if len(layouts) == len(descriptors) else None)

    def compare_background(self, stacked: object, reference: EmbeddingDescriptor) -> dict[str, np.ndarray]:
        """The same numbers `compare` gives for a background image taken as a suspect, for all at once."""
        assert isinstance(stacked, _Stacked)
        vectors, layouts = stacked.vectors, stacked.layouts
        sims = vectors @ reference.features.vectors.T
        out = {"embedding.global": sims[:, 0], "embedding.regional": sims.max(axis=1)}
        if layouts is not None and reference.features.layout is not None:
            out["embedding.layout"] = layouts @ reference.features.layout
        return out

    def to_bytes(self, descriptor: EmbeddingDescriptor) -> bytes:
        vecs = descriptor.features.vectors.astype(np.float16)
        boxes = np.asarray([[b.x0, b.y0, b.x1, b.y1] for b in descriptor.features.boxes], dtype=np.float32)
        layout = descriptor.features.layout
        lay = b"" if layout is None else layout.astype(np.float16).tobytes()
        head = struct.pack("<IIIII", descriptor.width, descriptor.height, vecs.shape[0], vecs.shape[1], len(lay) // 2)
        return head + boxes.tobytes() + vecs.tobytes() + lay

    def from_bytes(self, data: bytes) -> EmbeddingDescriptor:
        width, height, n, dim, n_layout = struct.unpack_from("<IIIII", data)
        off = 20
        boxes = np.frombuffer(data, dtype=np.float32, count=n * 4, offset=off).reshape(n, 4)
        off += n * 16
        vecs = np.frombuffer(data, dtype=np.float16, count=n * dim, offset=off).reshape(n, dim)
        off += n * dim * 2
        layout = (
            np.frombuffer(data, dtype=np.float16, count=n_layout, offset=off).astype(np.float32) if n_layout else None
        )
        features = NeuralFeatures(vecs.astype(np.float32), tuple(Box(*map(float, b)) for b in boxes), layout)
        return EmbeddingDescriptor(features, width, height)

    def index_layout(self) -> tuple[IndexKind, int]:
        return "vector", self.embedder.dim

    def index_entries(self, descriptor: EmbeddingDescriptor) -> IndexEntries:
        n = descriptor.features.vectors.shape[0]
        return IndexEntries("vector", descriptor.features.vectors, np.arange(n, dtype=np.int32))

    def query_entries(self, descriptor: EmbeddingDescriptor) -> IndexEntries:
        """Every row, each view's whole-image vector (the last rows, `compute_query`) tagged with its view."""
        entries = self.index_entries(descriptor)
        views = np.zeros(len(entries.rows), dtype=np.int32)
        if descriptor.panels:
            views[-len(descriptor.panels) :] = np.arange(1, len(descriptor.panels) + 1, dtype=np.int32)
        return replace(entries, views=views)

    def describe(self) -> dict[str, object]:
        return {"name": self.name, "version": self.version, "embedder": self.embedder.describe()}


def _similarities(
    query: NeuralFeatures, reference: NeuralFeatures, sims: np.ndarray
) -> tuple[dict[str, float], Box, Box]:
    """Global, best region-to-region and layout cosine, with the query and reference regions of the best pair;
    `sims` is query.vectors @ reference.vectors.T."""
    qi, ri = np.unravel_index(int(sims.argmax()), sims.shape)
    out = {"embedding.global": float(sims[0, 0]), "embedding.regional": float(sims[qi, ri])}
    if query.layout is not None and reference.layout is not None:
        out["embedding.layout"] = float(query.layout @ reference.layout)
    return out, query.boxes[qi], reference.boxes[ri]


def _view_evidence(outline: Box | Proposal, reference_box: Box) -> dict[str, object]:
    """Where a view lies in the suspect (its box, and a proposal's four corners) and the original's region it met."""
    if isinstance(outline, Box):
        return {"query_box": _box_list(outline), "reference_box": _box_list(reference_box)}
    corners = [[round(x, 4), round(y, 4)] for x, y in outline.corners]
    return {"query_box": _box_list(outline.bounds), "query_outline": corners, "reference_box": _box_list(reference_box)}


def _box_list(b: Box) -> list[float]:
    return [round(b.x0, 4), round(b.y0, 4), round(b.x1, 4), round(b.y1, 4)]


def _f(v: object) -> str:
    return f"{v:.3f}" if isinstance(v, float | int) else str(v)
