"""The evaluation's labelled queries (`QueryCase`: a suspect's bytes with its split, family and ground truth) and the
calibration fitted on a set of them, so the evaluation's measures and refits take the same plain data.

How cases are made from a manifest and scanned is the service's (service.labelled_set); everything here is pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from detector.calibration.labelled import Candidate, ScoredQuery, fit_model
from detector.fusion import FusionModel

Candidates = dict[str, list[Candidate]]
"""Every candidate the engine compared each query with, by query id."""


@dataclass
class QueryCase:
    id: str
    name: str
    data: bytes
    split: str
    """tune | report"""
    group: str
    """near_copy | crop | collage | ai | photo_of_print | composite | related | negative"""
    family: str
    relation: str
    origin: str
    """dev | synthetic"""
    truth: frozenset[str] = frozenset()
    ignore: frozenset[str] = frozenset()
    area_fraction: float = 1.0
    generator: str = ""
    """For a real AI output: the repository that made it (its `origin`'s github:OWNER/REPO), for leave-one-
    generator-out figures."""
    publishable: bool = False
    """Made only from CC0 / public-domain files, so a thumbnail may appear in the committed docs."""
    regions_in_suspect: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    region_in_original: list[tuple[float, float]] | None = None
    source: str = ""
    """The manifest path a negative was made from (itself, or the distractor a synthetic negative transforms)."""
    fitted: bool = True
    """Whether a tune-split case is fitted on: the second generator's families (detector.placements) never are,
    so they measure how the detectors built on the first one's look carry over to another's."""


def negatives_of(cases: Sequence[QueryCase]) -> list[QueryCase]:
    """The negative queries among `cases` (distractors and their transformations): what false alarms are counted on."""
    return [c for c in cases if c.group == "negative"]


def scored(cands: Candidates, cases: Sequence[QueryCase]) -> list[ScoredQuery]:
    """The cases with their candidates, as detector.calibration.labelled fits and counts them."""
    return [ScoredQuery(c.id, c.truth, c.ignore, cands.get(c.id, [])) for c in cases]


def calibrated(
    cands: Candidates,
    fit: Sequence[QueryCase],
    base: FusionModel,
    features: Sequence[str],
    version: str,
) -> FusionModel:
    """A whole calibration fitted on the `fit` cases alone, false alarms counted on their negatives
    (detector.calibration.labelled.fit_model)."""
    model = fit_model(scored(cands, fit), scored(cands, negatives_of(fit)), base, features)
    return replace(
        model,
        version=version,
        derivation="logistic experts fitted by scripts/evaluate.py on the tune split and shared/eval/ai_pairs",
    )
