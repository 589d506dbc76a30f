"""The one scoring pipeline: a suspect's descriptors and its candidates' stored descriptors in, ranked matches out.

Pre-score by the cheap signals, choose which candidates the costly verifiers run on, compare, judge every view of
the suspect (whole, each collage panel), fuse, decide and localise. Pure: the engine does the I/O (index search,
registry, vault) and calls `score`; `reproduce` calls it on a bundle's own files; the evaluation and `semblance
calibrate` read the features of the matches it returns. So a number in a report, a reproduction and an error
rate all come from this one function.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from detector.background import with_excess
from detector.fusion import FusionModel, ceiling
from detector.matching import Match, assess, compare_all, prescore, suspect_views
from detector.signals.base import Comparison, Signal

VERIFY_TOP = 8
"""Candidates, best pre-score first, that get the verifiers. A named constant, not fitted: chosen for cost (a
keypoint verification takes ~20 ms on 2 cores, so a suspect spends at most ~0.2 s on them), and every recall in
docs/EVALUATION.md is measured with it. Matches ranked below carry no keypoint evidence, and say so (`not_run`)."""
VERIFY_PER_PANEL = 2
"""Extra verified candidates per detected collage panel: each panel's own work must reach the verifier."""


def verifier_names(signals: Sequence[Signal[Any]]) -> frozenset[str]:
    """Names of the costly signals (`Signal.role == "verifier"`) among `signals`."""
    return frozenset(s.name for s in signals if s.role == "verifier")


def score(
    model: FusionModel,
    signals: Sequence[Signal[Any]],
    query: Mapping[str, object],
    references: Mapping[int, Mapping[str, object]],
    baselines: Callable[[int, Mapping[str, object]], Mapping[str, float]],
    panels: int = 0,
    verify: frozenset[int] | None = None,
    skip_hopeless: bool = False,
) -> list[Match]:
    """Every candidate work (`references`: work id -> its descriptors by signal key) judged against the suspect
    (`query`: its descriptors), best score first. `baselines(work_id, descriptors)` gives a work's background
    baselines (detector.background); `panels` is how many collage panels the suspect has. Each match records
    whether the verifiers ran on it (`Match.verified`); `verify` names them instead of the pre-score (reproducing
    a recorded scan, whose other candidates are not at hand).

    `skip_hopeless` leaves out the verifiers on a candidate that stays `no_match` whatever they find (its
    `fusion.ceiling` is below the `derivative` threshold): no verdict, score or region of a match that is not
    `no_match` changes, so callers that drop `no_match` matches set it; callers that keep every candidate's
    features (the evaluation, `semblance calibrate`, near misses) do not."""
    verifiers = [s for s in signals if s.role == "verifier"]
    cheap = [s for s in signals if s.role != "verifier"]
    ids = list(references)
    first = compare_all(cheap, query, [references[w] for w in ids])
    comparisons = dict(zip(ids, first, strict=True))
    base = {w: baselines(w, references[w]) for w in ids}
    ordered = sorted(ids, key=lambda w: prescore(comparisons[w]), reverse=True)
    if verify is not None:
        verified = set(verify)
    else:
        verified = set(ordered[: VERIFY_TOP + VERIFY_PER_PANEL * panels])
        if skip_hopeless:
            verified = {w for w in verified if not hopeless(model, verifiers, comparisons[w], base[w])}
    checked = [w for w in ordered if w in verified]
    for w, found in zip(checked, compare_all(verifiers, query, [references[w] for w in checked]), strict=True):
        comparisons[w] = {**comparisons[w], **found}
    out = []
    for w in ordered:
        m = assess(model, w, comparisons[w], base[w])
        m.verified = w in verified
        out.append(m)
    out.sort(key=lambda m: m.score, reverse=True)
    return out


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
