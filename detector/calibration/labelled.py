"""Labelled scans as plain data, and the fit and thresholds over them: one candidate model for the evaluation
(scripts/evaluate.py) and `semblance calibrate`, so both fit, choose thresholds and count false alarms alike.

A `ScoredQuery` is one suspect with the works it copies (`truth`), the works that are neither right nor wrong
(`ignore`: a style parent, a sibling that shares the artwork) and every candidate the engine compared it with.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from detector.calibration import fit as F
from detector.calibration.metrics import threshold_at_far
from detector.fusion import Expert, FusionModel, fuse, has_proof, transform
from detector.matching import strongest_view


@dataclass
class Candidate:
    """A registered work as the engine judged it against one suspect: its features (of the deciding view) and, for
    a collage suspect, every view's, so any calibration can score it again."""

    ref: str
    features: dict[str, float]
    views: list[dict[str, float]] = field(default_factory=list)
    region: list[list[float]] | None = None
    reference_region: list[list[float]] | None = None

    def scored(self, model: FusionModel) -> tuple[float, dict[str, float]]:
        """The score the engine gives under `model` (its strongest view) and that view's features."""
        if len(self.views) <= 1:
            return fuse(model, self.features), self.features
        i, score, _ = strongest_view(model, self.views)
        return score, self.views[i]


@dataclass
class ScoredQuery:
    id: str
    truth: frozenset[str]
    """Works this suspect copies (empty: a negative)."""
    ignore: frozenset[str] = frozenset()
    """Works that are neither right nor wrong for it."""
    candidates: list[Candidate] = field(default_factory=list)

    def judged(self) -> Iterable[Candidate]:
        """The candidates that count, right or wrong (ignored works left out)."""
        return (c for c in self.candidates if c.ref not in self.ignore)


def design(queries: Sequence[ScoredQuery], features: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The fusion inputs of every counted candidate (rows) over `features` (columns), and whether it is right."""
    X, y = [], []
    for q in queries:
        for cand in q.judged():
            x = transform(cand.features)
            X.append([x.get(f, 0.0) for f in features])
            y.append(cand.ref in q.truth)
    return np.asarray(X, dtype=np.float64).reshape(-1, len(features)), np.asarray(y, dtype=np.int32)


def false_alarm_tops(model: FusionModel, queries: Sequence[ScoredQuery], proof: bool = False) -> list[float]:
    """Each query's best score on a work it neither copies nor ignores (0 when none; with `proof`, only where a
    signal proves a copy): what a false-alarm threshold is set on."""
    out = []
    for q in queries:
        best = 0.0
        for cand in q.judged():
            if cand.ref in q.truth:
                continue
            score, features = cand.scored(model)
            if not proof or has_proof(model, features):
                best = max(best, score)
        out.append(best)
    return out


def fit_model(
    fit: Sequence[ScoredQuery], negatives: Sequence[ScoredQuery], base: FusionModel, features: Sequence[str]
) -> FusionModel:
    """A calibration fitted on `fit`: the combined expert (over the features that enter it,
    `fit.combined_features`) and the narrow ones, each signal's rules, and the thresholds for the target
    false-alarm rates (detector.calibration.fit) counted on `negatives` (the queries whose wrong works are the false
    alarms). `copy` also needs proof, so its threshold is set on the false alarms that have proof, never below the
    derivative threshold. An expert of `fit.ALIGNED_EXPERTS` is put on the others' scale first (`aligned`)."""
    X, y = design(fit, features)
    combined = F.combined_features(features)
    bias, weights = -60.0, dict[str, float]()  # no feature enters the combined expert (an ablation): it never fires
    if combined:
        bias, weights = F.fit_logistic(X[:, [list(features).index(f) for f in combined]], y, combined)
    experts = F.fit_experts(X, y, list(features))
    wrong = (c.features for q in negatives for c in q.judged() if c.ref not in q.truth)
    model = replace(
        base, bias=bias, weights=weights, experts=experts, signal_rules=F.fit_rules(wrong), agreement=dict(F.AGREEMENT)
    )
    model = aligned(model, negatives)
    t_der = threshold_at_far(false_alarm_tops(model, negatives), F.DERIVATIVE_FAR)
    t_copy = max(threshold_at_far(false_alarm_tops(model, negatives, proof=True), F.COPY_FAR), t_der)
    return replace(model, derivative_threshold=F.written_threshold(t_der), copy_threshold=F.written_threshold(t_copy))


def aligned(model: FusionModel, negatives: Sequence[ScoredQuery]) -> FusionModel:
    """Each expert of `fit.ALIGNED_EXPERTS` with its bias shifted so that the score at which it alone raises
    `fit.DERIVATIVE_FAR` of false alarms on `negatives` equals the score at which the other experts together do.

    A logistic fit over every candidate pair gives an expert a range set by the easy pairs: the learned matcher's
    expert never reached the others' 1%-false-alarm score (its best possible score was below it), so its evidence
    could never decide. Shifted, it raises an alarm where its own false-alarm rate is the others': the same
    operating point on one scale, and the threshold is then chosen on the maximum of all of them as before."""
    for name in F.ALIGNED_EXPERTS:
        if name not in model.experts:
            continue
        alone = replace(model, bias=model.experts[name].bias, weights=model.experts[name].weights, experts={})
        others = replace(model, experts={n: e for n, e in model.experts.items() if n != name})
        own = threshold_at_far(false_alarm_tops(alone, negatives), F.DERIVATIVE_FAR)
        target = threshold_at_far(false_alarm_tops(others, negatives), F.DERIVATIVE_FAR)
        expert = model.experts[name]
        shifted = Expert(expert.bias + _logit(target) - _logit(own), expert.weights)
        model = replace(model, experts={**model.experts, name: shifted})
    return model


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))
