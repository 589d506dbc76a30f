"""Fusing per-signal features into one score in [0, 1] and a verdict, from the thresholds file.

The score is the strongest of a few calibrated *experts*, each a logistic combination of features: the combined
expert weighs every signal; narrower experts let one decisive line of evidence stand on its own (the spatial
layout that AI re-renderings keep, a reliable PDQ match), which an additive model would dilute. The evaluation
fits every expert (scripts/evaluate.py, or `semblance calibrate`) and writes them, per embedder, to
`detector/calibration/<embedder>.toml` with the measured false-alarm and true-positive rates behind each
threshold. The maximum of monotone experts is monotone: more similarity under any signal never lowers the score.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from detector.signals import SIGNAL_TYPES

Verdict = Literal["copy", "derivative", "no_match"]
VERDICT_RANK: dict[str, int] = {"no_match": 0, "derivative": 1, "copy": 2}


@dataclass(frozen=True)
class Expert:
    """One calibrated line of evidence: sigmoid(bias + sum(weight * feature))."""

    bias: float
    weights: dict[str, float]

    def score(self, x: dict[str, float]) -> float:
        z = self.bias + sum(w * x.get(name, 0.0) for name, w in self.weights.items())
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


COMBINED = "combined"


@dataclass(frozen=True)
class FusionModel:
    version: str
    embedder: str
    derivation: str
    bias: float
    weights: dict[str, float]
    copy_threshold: float
    derivative_threshold: float
    signal_rules: dict[str, dict[str, float]]
    """Each signal's own decision numbers, by signal name (the file's `[signals.<name>]` sections)."""
    agreement: dict[str, float]
    rates: dict[str, object] = field(default_factory=dict)
    source: str = ""
    weights_sha256: str = ""
    """SHA-256 of the embedder weights the model was fitted with ("" in files that predate the field)."""
    background_sha256: str = ""
    """SHA-256 of the background set the `*.excess` features were measured against ("" when none)."""
    experts: dict[str, Expert] = field(default_factory=dict)
    """Experts besides the combined one (`bias`, `weights`)."""

    def rule(self, signal: str, name: str) -> float:
        """A signal's decision number: its `[signals.<signal>]` section, else the signal's own `proof_rules`."""
        own = self.signal_rules.get(signal, {})
        if name in own:
            return own[name]
        return SIGNAL_TYPES[signal].proof_rules[name]

    def all_experts(self) -> dict[str, Expert]:
        return {COMBINED: Expert(self.bias, self.weights), **self.experts}

    def describe(self) -> dict[str, object]:
        return {
            "version": self.version,
            "embedder": self.embedder,
            "embedder_weights_sha256": self.weights_sha256,
            "background_sha256": self.background_sha256,
            "derivation": self.derivation,
            "copy_threshold": self.copy_threshold,
            "derivative_threshold": self.derivative_threshold,
            # the flat names evidence.json has always carried, beside the sections they now come from
            "copy_min_inliers": round(self.rule("keypoints", "min_inliers")),
            "copy_min_inlier_ratio": self.rule("keypoints", "min_inlier_ratio"),
            "copy_max_pdq_distance": round(self.rule("pdq", "max_distance")),
            "signals": {name: dict(rules) for name, rules in self.signal_rules.items()},
            "experts": {name: {"bias": e.bias, "weights": e.weights} for name, e in self.all_experts().items()},
            "rates": self.rates,
            "source": self.source,
        }


def load_model(path: Path) -> FusionModel:
    """Read a fusion model file (detector/calibration/<embedder>.toml, or a workspace's or bundle's copy)."""
    with open(path, "rb") as f:
        cfg = tomllib.load(f)
    verdict = cfg["verdict"]
    return FusionModel(
        version=str(cfg["version"]),
        embedder=str(cfg.get("embedder", "")),
        derivation=str(cfg.get("derivation", "")),
        bias=float(cfg["fusion"]["bias"]),
        weights={k: float(v) for k, v in cfg["fusion"]["weights"].items()},
        copy_threshold=float(verdict["copy"]),
        derivative_threshold=float(verdict["derivative"]),
        signal_rules=signal_rules(cfg),
        agreement={k: float(v) for k, v in cfg.get("agreement", {}).items()},
        rates=dict(cfg.get("rates", {})),
        source=str(path),
        weights_sha256=str(cfg.get("embedder_weights_sha256", "")),
        background_sha256=str(cfg.get("background_sha256", "")),
        experts={
            str(name): Expert(float(e["bias"]), {k: float(v) for k, v in e["weights"].items()})
            for name, e in cfg["fusion"].get("experts", {}).items()
        },
    )


LEGACY_RULES = {
    "copy_min_inliers": ("keypoints", "min_inliers"),
    "copy_min_inlier_ratio": ("keypoints", "min_inlier_ratio"),
    "copy_max_pdq_distance": ("pdq", "max_distance"),
}
"""Where the flat `[verdict]` fields of calibration files written before `[signals.*]` sections existed (in
workspaces and in evidence bundles' method/thresholds.toml) now live. A missing ratio meant no ratio was required."""


def signal_rules(cfg: dict[str, object]) -> dict[str, dict[str, float]]:
    """The `[signals.<name>]` sections of a calibration file, or its legacy flat `[verdict]` fields mapped onto them."""
    sections = cfg.get("signals")
    if isinstance(sections, dict):
        return {str(n): {str(k): float(v) for k, v in rules.items()} for n, rules in sections.items()}
    verdict = cfg["verdict"]
    assert isinstance(verdict, dict)
    out: dict[str, dict[str, float]] = {"keypoints": {"min_inlier_ratio": 0.0}}
    for field_name, (signal, name) in LEGACY_RULES.items():
        if field_name in verdict:
            out.setdefault(signal, {})[name] = float(verdict[field_name])
    return out


def transform(features: dict[str, float]) -> dict[str, float]:
    """Map raw signal features to the [0, 1] inputs the model is fitted on: each signal's own `fusion_inputs`."""
    out = dict(features)
    for cls in SIGNAL_TYPES.values():
        out.update(cls.fusion_inputs(features))
    return out


def fuse(model: FusionModel, features: dict[str, float]) -> float:
    """Fused score in [0, 1]; features the model does not know are ignored, missing ones count as 0."""
    return fuse_explained(model, features)[0]


def fuse_explained(model: FusionModel, features: dict[str, float]) -> tuple[float, str]:
    """The fused score and the name of the expert that gave it (the strongest)."""
    x = transform(features)
    best, basis = -1.0, COMBINED
    for name, expert in model.all_experts().items():
        s = expert.score(x)
        if s > best:
            best, basis = s, name
    return best, basis


def ceiling(model: FusionModel, features: dict[str, float], open_inputs: dict[str, tuple[float, float]]) -> float:
    """The highest score `features` could reach whatever values the fusion inputs in `open_inputs` take within
    their (low, high) range: the features of a verifier that has not run yet. Each expert is a sigmoid of a weighted
    sum, so its maximum puts every open input at the end its weight favours. A candidate whose ceiling is below the
    `derivative` threshold is `no_match` whatever the verifier finds (detector.pipeline skips it)."""
    x = transform(features)
    best = 0.0
    for expert in model.all_experts().values():
        extreme = {name: (hi if expert.weights.get(name, 0.0) > 0 else lo) for name, (lo, hi) in open_inputs.items()}
        best = max(best, expert.score({**x, **extreme}))
    return best


def decide(model: FusionModel, score: float, features: dict[str, float]) -> Verdict:
    """`copy` needs the score plus geometric or hash proof; `derivative` the score alone.

    Geometric proof is enough inliers that are also most of the tentative matches (two photos of one landmark
    from one spot can share a homography, but with many matches that disagree); hash proof is a PDQ distance
    within `copy_max_pdq_distance` between hashes of reliable quality."""
    if score >= model.copy_threshold and has_proof(model, features):
        return "copy"
    if score >= model.derivative_threshold:
        return "derivative"
    return "no_match"


def has_proof(model: FusionModel, features: dict[str, float]) -> bool:
    """Whether any registered signal proves copying by its own rule (`Signal.proves_copy`: geometric proof from
    keypoints, a reliable PDQ match)."""
    return any(cls.proves_copy(features, model) for cls in SIGNAL_TYPES.values())


def agreeing_signals(model: FusionModel, features: dict[str, float]) -> list[str]:
    """Signals that on their own would say the suspect copies the work, each by its own rule (`Signal.agrees`)."""
    return [name for name, cls in SIGNAL_TYPES.items() if cls.agrees(features, model)]
