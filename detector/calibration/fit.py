"""Fitting a calibration: the feature list, the logistic experts and the threshold choice, over plain arrays.

Shared by `scripts/evaluate.py` (labelled dev set, packaged calibrations) and `semblance calibrate` (a workspace's
own works), so both fit, choose and write thresholds by the same rules.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from detector.background import EXCESS_SUFFIX
from detector.fusion import Expert
from detector.signals import SIGNAL_TYPES
from detector.signals.embedding import EmbeddingSignal
from detector.signals.learned_match import LearnedMatchSignal

COPY_FAR, DERIVATIVE_FAR = 0.001, 0.01
"""Target false-alarm rates on the fitting negatives: any alarm (`derivative`) at most 1%; a `copy` verdict (score
and proof) at most 0.1%. The product promises these; everything else is measured against them."""
EXCESS_EMBEDDING = tuple(f + EXCESS_SUFFIX for f in EmbeddingSignal.background_features)
FEATURES = tuple(
    f + EXCESS_SUFFIX if f in cls.background_features else f
    for cls in SIGNAL_TYPES.values()
    for f in cls.fusion_features
)
"""Fusion inputs: every registered signal's `fusion_features`. Neural similarities enter as their excess over the
work's background baseline (detector.background); without a background set, as raw similarities (`features_for`)."""
EXPERTS: dict[str, tuple[str, ...]] = {
    "layout": ("embedding.layout.excess",),
    "pdq": ("pdq.closeness", "pdq.match"),
    "descriptor": ("embedding.global.excess", "embedding.regional.excess"),
    "repainting": LearnedMatchSignal.fusion_features,
}
"""Narrow experts beside the combined one (detector.fusion). Layout and PDQ were chosen on the tune split: each
raised a family's recall there (layout: painterly re-renderings 0.38 -> 0.57 at 1% false alarms; PDQ: collage
panels 0.53 -> 0.58) without lowering any other family's; a keypoint-only expert lowered re-renderings and was left
out. `descriptor` lets a copy-detection descriptor (SSCD) stand on its own, as it does in DISC21 with score
normalisation: on held-out data that alone beat the whole pipeline on near copies and crops (the engine issue).
`repainting` lets the learned matcher's evidence that the composition survived stand on its own, undiluted by the
hashes, ORB and the global descriptor, which a re-rendering defeats (the AI re-renderings issue: with the whole
picture's similarity beside it, as first tried, the expert followed the descriptor and missed the re-renderings)."""
ALIGNED_EXPERTS = ("repainting",)
"""Experts put on the others' false-alarm scale after fitting (detector.calibration.labelled.aligned)."""


def combined_features(features: Sequence[str]) -> list[str]:
    """The features the combined expert is fitted on: those of signals that enter it (`Signal.in_combined`)."""
    kept = {f for cls in SIGNAL_TYPES.values() if not cls.in_combined for f in cls.fusion_features}
    return [f for f in features if f not in kept]


AGREEMENT: dict[str, float] = {k: v for cls in SIGNAL_TYPES.values() for k, v in cls.agreement_levels.items()}
"""When a signal alone "agrees" that the suspect copies the work (`Signal.agrees`): every registered signal's
`agreement_levels`, shown in reports as the agreeing signals, never used for a verdict."""


def starting_rules() -> dict[str, dict[str, float]]:
    """Every registered signal's `proof_rules`: the named constants a fit starts from (it sets the ratios)."""
    return {name: dict(cls.proof_rules) for name, cls in SIGNAL_TYPES.items() if cls.proof_rules}


PROOF_RATIOS = (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)
"""Inlier ratios tried as geometric proof; the fit takes the smallest above every fitting negative's."""


def features_for(observed: Iterable[str], has_background: bool) -> tuple[str, ...]:
    """The fusion inputs available: FEATURES whose values were observed, raw similarities without a background."""
    seen = {f.removesuffix(EXCESS_SUFFIX) for f in observed}
    out = []
    for f in FEATURES:
        raw = f.removesuffix(EXCESS_SUFFIX)
        if raw in seen:
            out.append(f if has_background else raw)
    return tuple(out)


def experts_for(features: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Narrow experts whose features are all available (raw names when there is no background)."""
    out = {}
    for name, feats in EXPERTS.items():
        mapped = tuple(f if f in features else f.removesuffix(EXCESS_SUFFIX) for f in feats)
        if all(f in features for f in mapped):
            out[name] = mapped
    return out


def fit_logistic(X: np.ndarray, y: np.ndarray, features: Sequence[str]) -> tuple[float, dict[str, float]]:
    """Class-balanced logistic regression with non-negative weights.

    Non-negative weights make the fused score monotone: more similarity under any signal can never lower it,
    which keeps the model explainable in court and stops it exploiting collinear features."""
    from scipy.optimize import minimize

    pos = max(1, int(y.sum()))
    neg = max(1, len(y) - pos)
    sample_w = np.where(y == 1, len(y) / (2 * pos), len(y) / (2 * neg))
    l2 = 1e-3

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = theta[0] + X @ theta[1:]
        p = 1 / (1 + np.exp(-np.clip(z, -40, 40)))
        ll = -(sample_w * (y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12))).sum() / len(y)
        g = sample_w * (p - y) / len(y)
        grad = np.concatenate([[g.sum()], X.T @ g]) + 2 * l2 * np.concatenate([[0], theta[1:]])
        return float(ll + l2 * (theta[1:] ** 2).sum()), grad

    theta0 = np.zeros(len(features) + 1)
    bounds = [(None, None)] + [(0.0, None)] * len(features)
    res = minimize(loss, theta0, jac=True, method="L-BFGS-B", bounds=bounds)
    return float(res.x[0]), {f: float(w) for f, w in zip(features, res.x[1:], strict=True)}


def fit_experts(X: np.ndarray, y: np.ndarray, features: Sequence[str]) -> dict[str, Expert]:
    """Fit every narrow expert whose features are all among `features` (the columns of X)."""
    out = {}
    for name, feats in experts_for(features).items():
        cols = [features.index(f) for f in feats]
        b, w = fit_logistic(X[:, cols], y, feats)
        out[name] = Expert(b, w)
    return out


def proof_ratio(negative_inliers_and_ratios: Iterable[tuple[float, float]], min_inliers: int) -> float:
    """The smallest inlier ratio (of PROOF_RATIOS) at which no fitting negative has geometric proof of copying.

    Two photos of one landmark can share 36 inliers that are 61% of the matches in the area they cover (the
    Eiffel tower among the tune distractors): the ratio that counts as proof is set above every such case."""
    worst = max((ratio for inliers, ratio in negative_inliers_and_ratios if inliers >= min_inliers), default=0.0)
    return next((r for r in PROOF_RATIOS if r > worst), PROOF_RATIOS[-1])


def fit_rules(negatives: Iterable[Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """Every signal's decision numbers for a new calibration, from the fitting negatives' candidate features: the
    named constants (`starting_rules`), with the keypoint inlier ratio that counts as proof set above every
    negative's (`proof_ratio`)."""
    rules = starting_rules()
    keypoints = rules["keypoints"]
    pairs = ((f.get("keypoints.inliers", 0.0), f.get("keypoints.inlier_ratio", 0.0)) for f in negatives)
    keypoints["min_inlier_ratio"] = proof_ratio(pairs, round(keypoints["min_inliers"]))
    return rules


def written_threshold(t: float) -> float:
    """A chosen threshold as written to the calibration file: capped at 0.999, then 4 decimals rounded UP, so the
    written number lets in no negative the chosen one kept out (rounding to nearest once let a 6th of 565 tune
    negatives in)."""
    t = min(t, 0.999)
    written = math.ceil(t * 1e4) / 1e4
    while written < t:  # t just above a 4-decimal score can multiply out to that very integer
        written = round(written + 1e-4, 4)
    return written
