"""Writing a calibration file: the fusion model, thresholds and measured rates in the format `load_model` reads."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from detector.fusion import FusionModel


def model_toml(model: FusionModel, rates: Mapping[str, object], header: Sequence[str]) -> str:
    """TOML text of `model` with `rates` (name -> {metric: value}); `header` lines say how it was derived."""
    L = [
        "# Semblance fusion model and verdict thresholds for one embedder: the one place where decision numbers live.",
        "#",
        *[f"# {h}" if h else "#" for h in header],
        "",
        f"version = {json.dumps(model.version)}",
        f"embedder = {json.dumps(model.embedder)}",
        f"embedder_weights_sha256 = {json.dumps(model.weights_sha256)}",
        f"background_sha256 = {json.dumps(model.background_sha256)}",
        f"derivation = {json.dumps(model.derivation)}",
        "",
        "[fusion]",
        "# score = the maximum over the experts of sigmoid(bias + sum(weight * feature)); this table is the",
        "# combined expert, [fusion.experts.*] the narrow ones. Keypoint inliers enter as log1p(n) / log1p(100),",
        "# learned-match inliers as log1p(n) / log1p(500), both capped at 1; `*.excess` features are similarities",
        "# minus the work's background baseline.",
        f"bias = {model.bias:.6f}",
        "[fusion.weights]",
        *[f"{json.dumps(k)} = {v:.6f}" for k, v in model.weights.items()],
        "",
    ]
    for name, e in model.experts.items():
        L += [
            f"[fusion.experts.{name}]",
            f"bias = {e.bias:.6f}",
            f"[fusion.experts.{name}.weights]",
            *[f"{json.dumps(k)} = {v:.6f}" for k, v in e.weights.items()],
            "",
        ]
    L += [
        "[verdict]",
        "# `copy` needs the score AND a signal's proof ([signals.*]); `derivative` needs the score alone.",
        f"copy = {model.copy_threshold}",
        f"derivative = {model.derivative_threshold}",
        "",
        "# Each signal's own decision numbers (what each means: the signal's `proof_rules` in detector/signals/).",
    ]
    for signal, rules in model.signal_rules.items():
        L += [f"[signals.{signal}]", *[f"{json.dumps(k)} = {v}" for k, v in rules.items()], ""]
    L += [
        "[agreement]",
        *[f"{json.dumps(k)} = {v}" for k, v in model.agreement.items()],
        "",
        "[rates]",
        "# Measured at the thresholds above; tpr_* are true-positive rates per family, *_ci95 Wilson intervals.",
    ]
    for name, row in rates.items():
        assert isinstance(row, Mapping)
        L.append(f"[rates.{json.dumps(name)}]")
        for k, v in row.items():
            L.append(f"{json.dumps(k)} = {json.dumps(v)}")
    return "\n".join(L) + "\n"


def write_packaged(model: FusionModel, rates: Mapping[str, object], path: Path, run: Mapping[str, object]) -> None:
    """A packaged calibration (detector/calibration/<embedder>.toml) as scripts/evaluate.py writes it, saying how it
    was derived from `run` (its seed, manifest, query and filler counts)."""
    header = [
        "Written by scripts/evaluate.py (do not edit by hand; re-run it). How they were derived:",
        "logistic experts over the signal features, fitted on the TUNE split (Debian/PyPI/npm sources and",
        "their synthetic families, a quarter of the distractors) and on the real AI pairs of shared/eval/ai_pairs",
        "(generators the report split lacks); thresholds chosen so that at most 1% of the tune distractors raise",
        "any alarm (derivative) and at most 0.1% would be called a copy (score and proof); rates below measured",
        "on the REPORT split (style-transfer and diffusion sources, half of the distractors), never seen when",
        "fitting. The last quarter of the distractors is the background set.",
        f"Registry: the originals plus {run['fillers']} filler works (half of every designed set of distractors).",
        f"Run: seed {run['seed']}, manifest {run['manifest']}, {run['queries']} queries.",
    ]
    if run.get("calibration_given"):
        header.append(
            f"Fusion weights and thresholds kept from {run['calibration_given']} as fitted by the run that wrote it; "
            "the rates below were measured on this run's scans."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(model_toml(model, rates, header))
