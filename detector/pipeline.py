"""The one scoring pipeline: a suspect's descriptors and its candidates' stored descriptors in, ranked matches out.

Pre-score by the cheap signals, choose which candidates the costly verifiers run on, compare, judge every view of
the suspect (whole, each collage panel), fuse, decide and localise. Pure: the engine does the I/O (index search,
registry, vault) and calls `score`; `reproduce` calls it on a bundle's own files; the evaluation and `semblance
calibrate` read the features of the matches it returns. So a number in a report, a reproduction and an error
rate all come from this one function.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from detector.background import with_excess
from detector.fusion import FusionModel, ceiling
from detector.matching import (
    Match,
    assess,
    compare_all,
    normalised_prescore,
    prescore,
    suspect_views,
    view_prescore,
)
from detector.signals.base import Comparison, Signal

VERIFY_TOP = 8
"""Candidates, best pre-score first, that get a verifier without a `verify_top` of its own. A named constant, not
fitted: chosen for cost (a keypoint verification takes ~20 ms on 2 cores, so a suspect spends at most ~0.2 s on
them), and every recall in docs/EVALUATION.md is measured with it. Matches ranked below carry no keypoint
evidence, and say so (`not_run`)."""
VERIFY_PER_VIEW = 2
"""Extra candidates the keypoint verifier runs on per view of the suspect (collage panel or region proposal), taken
in pre-score order: each view's own work must reach the verifier. Set for collage panels (a panel's work is among
the first few); region proposals took the same allowance, not measured on its own."""


def verifier_names(signals: Sequence[Signal[Any]]) -> frozenset[str]:
    """Names of the costly signals (`Signal.role == "verifier"`) among `signals`."""
    return frozenset(s.name for s in signals if s.role == "verifier")


def score(
    model: FusionModel,
    signals: Sequence[Signal[Any]],
    query: Mapping[str, object],
    references: Mapping[int, Mapping[str, object]],
    baselines: Callable[[int, Mapping[str, object]], Mapping[str, float]],
    views: Sequence[str] = (),
    verify: Mapping[str, frozenset[int]] | None = None,
    skip_hopeless: bool = False,
    verify_views: Mapping[str, Mapping[int, frozenset[int]]] | None = None,
) -> list[Match]:
    """Every candidate work (`references`: work id -> its descriptors by signal key) judged against the suspect
    (`query`: its descriptors), best score first. `baselines(work_id, descriptors)` gives a work's background
    baselines (detector.background); `views` are the kinds of the suspect's views (detector.views: "panel",
    "region"). Each match records which verifiers ran on it (`Match.verified_by`, and `Match.view_verified_by` per
    view); `verify` names, per verifier, the candidates it runs on instead of the pre-score, and `verify_views` the
    candidates it runs on in each view (reproducing a recorded scan, whose other candidates are not at hand).

    Verifiers run in registry order, each on the best `VERIFY_TOP` candidates (plus `VERIFY_PER_VIEW` per view),
    or on fewer when it says so (`Signal.verify_top`); one with `Signal.verify_views` also runs on each view's
    best candidates by that view's own normalised similarity, comparing the view alone (`Signal.compare_view`).
    `skip_hopeless` leaves out a verifier on a candidate that stays `no_match` whatever it and the verifiers after
    it find (its `fusion.ceiling`, given what the verifiers before it found, is below the `derivative`
    threshold): no verdict, score or region of a match that is not `no_match` changes, so callers that drop
    `no_match` matches set it; callers that keep every candidate's features (the evaluation, `semblance
    calibrate`, near misses) do not. With it, a costly verifier also skips a candidate already `settled` as a
    copy: its verdict cannot change (its score could only rise)."""
    verifiers = [s for s in signals if s.role == "verifier"]
    cheap = [s for s in signals if s.role != "verifier"]
    ids = list(references)
    first = compare_all(cheap, query, [references[w] for w in ids])
    comparisons = dict(zip(ids, first, strict=True))
    base = {w: baselines(w, references[w]) for w in ids}
    ordered = sorted(ids, key=lambda w: prescore(comparisons[w]), reverse=True)
    planned = plan(verifiers, ids, ordered, comparisons, base, len(views), verify)
    ran: dict[int, set[str]] = {w: set() for w in ids}
    view_ran: dict[int, dict[str, set[int]]] = {w: {} for w in ids}
    for i, s in enumerate(verifiers):
        chosen = planned[s.name]
        if verify is None and skip_hopeless:
            # open: this verifier and those after it that are planned on the candidate (the rest find nothing)
            chosen = [
                w
                for w in chosen
                if not hopeless(model, [v for v in verifiers[i:] if w in planned[v.name]], comparisons[w], base[w])
            ]
            if s.verify_top is not None:  # a costly verifier adds nothing to a copy already proven
                chosen = [w for w in chosen if not settled(model, comparisons[w], base[w])]
        for w, found in zip(chosen, compare_all([s], query, [references[w] for w in chosen]), strict=True):
            comparisons[w] = {**comparisons[w], **found}
            ran[w].add(s.name)
        if s.verify_views and s.key in query:
            for v in range(1, len(views) + 1):
                if verify_views is not None:
                    picked = [w for w in ids if w in verify_views.get(s.name, {}).get(v, frozenset())]
                else:
                    picked = view_candidates(model, s, comparisons, base, v, skip_hopeless)
                for w in picked:
                    if s.key in references[w]:
                        alone = s.compare_view(query[s.key], references[w][s.key], v - 1)
                        merged = with_view(comparisons[w].get(s.key), alone, v, len(views))
                        comparisons[w] = {**comparisons[w], s.key: merged}
                        view_ran[w].setdefault(s.name, set()).add(v)
    out = []
    for w in ordered:
        m = assess(model, w, comparisons[w], base[w], views)
        m.verified_by = frozenset(ran[w])
        m.view_verified_by = {name: frozenset(vs) for name, vs in view_ran[w].items()}
        out.append(m)
    out.sort(key=lambda m: m.score, reverse=True)
    return out


def plan(
    verifiers: Sequence[Signal[Any]],
    ids: Sequence[int],
    ordered: Sequence[int],
    comparisons: Mapping[int, Mapping[str, Comparison]],
    baselines: Mapping[int, Mapping[str, float]],
    n_views: int,
    verify: Mapping[str, frozenset[int]] | None,
) -> dict[str, list[int]]:
    """The candidates each verifier runs on (`ids` as found, `ordered` best pre-score first): those `verify` names
    (a recorded scan), else the best `VERIFY_TOP` plus `VERIFY_PER_VIEW` per view, or for a costly verifier
    (`verify_top`) the best few by background-normalised similarity."""
    normalised: list[int] = []
    planned: dict[str, list[int]] = {}
    for s in verifiers:
        if verify is not None:
            planned[s.name] = [w for w in ordered if w in verify.get(s.name, frozenset())]
        elif s.verify_top is None:
            planned[s.name] = list(ordered[: VERIFY_TOP + VERIFY_PER_VIEW * n_views])
        else:  # a costly verifier on very few (panels included): the best by background-normalised similarity
            normalised = normalised or sorted(
                ids, key=lambda w: normalised_prescore(comparisons[w], baselines[w]), reverse=True
            )
            planned[s.name] = normalised[: s.verify_top]
    return planned


def view_candidates(
    model: FusionModel,
    signal: Signal[Any],
    comparisons: Mapping[int, Mapping[str, Comparison]],
    baselines: Mapping[int, Mapping[str, float]],
    view: int,
    skip_hopeless: bool,
) -> list[int]:
    """The candidates a view-level verifier runs on in view `view`: the best `signal.verify_views` by that view's
    background-normalised similarity, leaving out (with `skip_hopeless`) a view that no outcome could lift to a
    verdict or that is already a copy."""
    ranked = sorted(comparisons, key=lambda w: view_prescore(comparisons[w], baselines[w], view), reverse=True)[
        : signal.verify_views
    ]
    if not skip_hopeless:
        return ranked
    out = []
    for w in ranked:
        features = with_excess(suspect_views(comparisons[w])[view], baselines[w])
        bounds = signal.fusion_range
        if bounds is not None and ceiling(model, features, bounds) < model.derivative_threshold:
            continue
        if assess(model, 0, dict(comparisons[w]), baselines[w]).verdict == "copy":
            continue
        out.append(w)
    return out


def with_view(whole: Comparison | None, found: Comparison, view: int, n_views: int) -> Comparison:
    """`whole` (this signal's comparison of the whole suspect, if it ran) with `found`, its comparison of view
    `view` alone, filed as that view's features, evidence and region."""
    base = whole if whole is not None else Comparison(features={}, evidence={})
    views = list(base.views) + [{} for _ in range(n_views - len(base.views))]
    evidence = list(base.view_evidence) + [{} for _ in range(n_views - len(base.view_evidence))]
    regions = list(base.view_regions) + [None for _ in range(n_views - len(base.view_regions))]
    views[view - 1], evidence[view - 1] = found.features, found.evidence
    if found.query_region and found.reference_region:
        regions[view - 1] = (found.query_region, found.reference_region, found.localisation_quality)
    return replace(base, views=views, view_evidence=evidence, view_regions=regions)


def settled(model: FusionModel, comparisons: Mapping[str, Comparison], baselines: Mapping[str, float]) -> bool:
    """Whether a candidate is already a `copy` (score and a signal's proof) on what has been compared so far: the
    strongest verdict, which no further evidence can change. The costly verifiers (`Signal.verify_top`) skip it
    when only decided matches are returned; the match then carries the cheaper verifiers' evidence and outline."""
    return assess(model, 0, dict(comparisons), baselines).verdict == "copy"


def hopeless(
    model: FusionModel,
    verifiers: Sequence[Signal[Any]],
    comparisons: Mapping[str, Comparison],
    baselines: Mapping[str, float],
) -> bool:
    """Whether a candidate stays below the `derivative` threshold in every view of the suspect whatever the
    verifiers find (each verifier's features at the ends of its `fusion_range` that favour the score). A verifier
    without a range is unbounded: then nothing is hopeless."""
    open_inputs: dict[str, tuple[float, float]] = {}
    for s in verifiers:
        if s.fusion_range is None:
            return False
        open_inputs.update(s.fusion_range)
    views = [with_excess(v, baselines) for v in suspect_views(comparisons)]
    return all(ceiling(model, v, open_inputs) < model.derivative_threshold for v in views)
