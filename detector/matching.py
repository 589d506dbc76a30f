"""Comparing one suspect with candidate works across all signals, and turning that into ranked matches.

Pure functions: the engine gathers candidates from the index and loads their descriptors; this module
compares, fuses, decides and picks the region that localises each match best.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from detector.background import with_excess
from detector.fusion import VERDICT_RANK, FusionModel, Verdict, agreeing_signals, decide, fuse_explained
from detector.geometry import Polygon
from detector.signals.base import Comparison, Signal

VERIFY_SIGNALS = frozenset({"keypoints"})
"""Signals too costly to run on every candidate: only the best `verify` candidates get them."""


@dataclass
class Match:
    """A suspect compared with one registered work."""

    work_id: int
    score: float
    verdict: Verdict
    features: dict[str, float]
    comparisons: dict[str, Comparison]
    query_region: Polygon | None
    reference_region: Polygon | None
    region_source: str | None
    agreeing: list[str] = field(default_factory=list)
    score_basis: str = "combined"

    def signal_evidence(self) -> dict[str, dict[str, object]]:
        """Per signal: its raw evidence plus the features fusion used."""
        out: dict[str, dict[str, object]] = {}
        for key, comp in self.comparisons.items():
            name = key.split(":", 1)[0]
            values = {k.split(".", 1)[1]: round(v, 4) for k, v in comp.features.items()}
            out[name] = {**values, **comp.evidence}  # raw evidence wins (e.g. integer inlier counts)
        return out


def compare(
    signals: Sequence[Signal[Any]],
    query: Mapping[str, object],
    reference: Mapping[str, object],
    include: frozenset[str] | None = None,
) -> dict[str, Comparison]:
    """Run every signal (or those named in `include`) present on both sides."""
    out = {}
    for s in signals:
        if include is not None and s.name not in include:
            continue
        if s.key in query and s.key in reference:
            out[s.key] = s.compare(query[s.key], reference[s.key])
    return out


def assess(
    model: FusionModel,
    work_id: int,
    comparisons: dict[str, Comparison],
    baselines: Mapping[str, float] | None = None,
) -> Match:
    """Fuse the comparisons into a scored, decided, localised match.

    `baselines` are the work's background similarities (detector.background); they add `.excess` features."""
    features: dict[str, float] = {}
    for comp in comparisons.values():
        features.update(comp.features)
    features = with_excess(features, baselines or {})
    score, basis = fuse_explained(model, features)
    located = [(k, c) for k, c in comparisons.items() if c.query_region and c.reference_region]
    best = max(located, key=lambda kc: kc[1].localisation_quality, default=None)
    return Match(
        work_id=work_id,
        score=score,
        verdict=decide(model, score, features),
        features=features,
        comparisons=comparisons,
        query_region=best[1].query_region if best else None,
        reference_region=best[1].reference_region if best else None,
        region_source=best[0].split(":", 1)[0] if best else None,
        agreeing=agreeing_signals(model, features),
        score_basis=basis,
    )


def prescore(comparisons: Mapping[str, Comparison]) -> float:
    """Cheap ordering key for choosing which candidates to verify: the strongest single similarity."""
    best = 0.0
    for comp in comparisons.values():
        for name, v in comp.features.items():
            if name.startswith(("embedding.", "pdq.")):
                best = max(best, v)
    return best


def overall_verdict(matches: Sequence[Match]) -> Verdict:
    """The suspect's verdict: the strongest verdict among its matches."""
    best: Verdict = "no_match"
    for m in matches:
        if VERDICT_RANK[m.verdict] > VERDICT_RANK[best]:
            best = m.verdict
    return best
