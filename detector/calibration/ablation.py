"""Ablations: what each signal, expert and way of looking inside a larger picture adds, each variant refitted by
the shipped calibration's rules (or with an expert left out) and scored on the same scans as the full pipeline."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from detector.calibration import metrics as M
from detector.calibration.assessment import predictions
from detector.calibration.cases import Candidates, QueryCase, calibrated
from detector.calibration.fit import EXCESS_EMBEDDING
from detector.fusion import Expert, FusionModel
from detector.intake import decode_image
from detector.signals.embedding import EmbeddingSignal
from detector.signals.learned_match import LearnedMatchSignal

ABLATIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "pdq": (("pdq.closeness", "pdq.match"), ()),
    "phash": (("phash.similarity",), ()),
    "embedding": (EXCESS_EMBEDDING, ()),
    "layout": (("embedding.layout.excess",), ()),
    "keypoints": (("keypoints.inliers", "keypoints.inlier_ratio"), ()),
    "learned matching": (LearnedMatchSignal.fusion_features, ()),
    "background normalisation": (EXCESS_EMBEDDING, EmbeddingSignal.background_features),
}
"""Ablation name -> (features removed, raw features put in their place)."""
ALONE: dict[str, tuple[str, ...]] = {
    "learned matching": LearnedMatchSignal.fusion_features,
    "learned matching + background-normalised embedding": (*LearnedMatchSignal.fusion_features, *EXCESS_EMBEDDING),
}
"""Ablations that keep only these features (every expert refitted over them)."""
EXPERT_ABLATIONS = ("repainting",)
"""Narrow experts left out one at a time (the others as fitted)."""


def with_fusion(
    base: FusionModel,
    bias: float,
    weights: dict[str, float],
    experts: dict[str, Expert] | None = None,
) -> FusionModel:
    """`base` with the given combined expert and narrow experts (none: the combined expert alone)."""
    return replace(base, bias=bias, weights=weights, experts=experts or {})


def refitted(cands: Candidates, fit: Sequence[QueryCase], base: FusionModel, features: Sequence[str]) -> FusionModel:
    """A calibration fitted again over `features` only (an ablation), by the same rules as the shipped one."""
    return calibrated(cands, fit, base, features, "ablation")


def view_kinds(cases: Sequence[QueryCase], cands: Candidates) -> dict[str, list[str]]:
    """The kinds of each query's views (detector.views: "panel", "region"), found again from its file (they are
    deterministic), for the queries whose candidates were judged view by view."""
    return {
        c.id: [v.kind for v in decode_image(c.data, c.name).views]
        for c in cases
        if any(len(k.views) > 1 for k in cands.get(c.id, []))
    }


def without_views(drop: frozenset[str]) -> Callable[[Candidates, dict[str, list[str]]], Candidates]:
    """An ablation: the candidates as if the suspect's views of the kinds in `drop` had not been looked at. A work
    that only such a view brought among the candidates stays one (its whole-picture features are still judged),
    so this is the ablation's best case."""

    def apply(cands: Candidates, kinds: dict[str, list[str]]) -> Candidates:
        out: Candidates = {}
        for qid, cs in cands.items():
            kind = kinds.get(qid, [])
            out[qid] = []
            for k in cs:
                if len(k.views) <= 1:
                    out[qid].append(k)
                    continue
                views = [k.views[0]] + [v for v, t in zip(k.views[1:], kind, strict=False) if t not in drop]
                out[qid].append(replace(k, features=dict(views[0]) if len(views) == 1 else k.features, views=views))
        return out

    return apply


def without_view_matching(cands: Candidates, _kinds: dict[str, list[str]]) -> Candidates:
    """An ablation: as if the learned matcher had compared the whole suspect only (no `Signal.verify_views`):
    every view's own learned-matching features replaced by the whole picture's."""
    names = LearnedMatchSignal.feature_names
    out: Candidates = {}
    for qid, cs in cands.items():
        out[qid] = []
        for k in cs:
            if len(k.views) <= 1:
                out[qid].append(k)
                continue
            whole = k.views[0]
            views = [whole] + [
                {**{n: v for n, v in view.items() if n not in names}, **{n: whole[n] for n in names if n in whole}}
                for view in k.views[1:]
            ]
            out[qid].append(replace(k, views=views))
    return out


VIEW_ABLATIONS: dict[str, Callable[[Candidates, dict[str, list[str]]], Candidates]] = {
    "without region proposals": without_views(frozenset({"region"})),
    "without collage panels": without_views(frozenset({"panel"})),
    "whole picture only (no views)": without_views(frozenset({"panel", "region"})),
    "without learned matching of views alone": without_view_matching,
}
"""How each way of finding the artwork inside a larger picture (detector.views) contributes, from the same scans."""


def ablation_predictions(
    model: FusionModel,
    cands: Candidates,
    cases: Sequence[QueryCase],
    tune: Sequence[QueryCase],
    report: Sequence[QueryCase],
    base: FusionModel,
    features: Sequence[str],
) -> dict[str, list[M.Prediction]]:
    """The report split's predictions of every ablation, by name: each feature set left out or kept alone and each
    view ablation refitted on `tune` over what it leaves, each narrow expert of `model` left out, and `model`'s
    combined expert alone. A feature ablation with nothing to remove (e.g. no layout from this embedder) is
    skipped."""
    observed = {k for cs in cands.values() for cand in cs for k in cand.features}
    out: dict[str, list[M.Prediction]] = {}
    for g, (removed, added) in ABLATIONS.items():
        if not set(removed) & set(features):
            continue
        kept = [f for f in features if f not in removed] + [f for f in added if f in observed]
        out[f"without {g}"] = predictions(refitted(cands, tune, base, kept), cands, report)
    for g, alone in ALONE.items():
        available = [f for f in alone if f in features]
        if set(LearnedMatchSignal.fusion_features) <= set(available):
            out[f"{g} alone"] = predictions(refitted(cands, tune, base, available), cands, report)
    for name in EXPERT_ABLATIONS:
        if name in model.experts:
            kept_experts = {n: e for n, e in model.experts.items() if n != name}
            out[f"without the {name} expert"] = predictions(
                with_fusion(base, model.bias, model.weights, kept_experts), cands, report
            )
    out["combined expert only"] = predictions(with_fusion(base, model.bias, model.weights), cands, report)
    kinds = view_kinds(cases, cands)
    for name, changed in VIEW_ABLATIONS.items():  # each refitted on what it leaves, as the shipped model is
        altered = changed(cands, kinds)
        out[name] = predictions(calibrated(altered, tune, base, features, name), altered, report)
    return out
