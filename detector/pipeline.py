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

from detector.fusion import FusionModel
from detector.matching import Match, assess, compare, prescore
from detector.signals.base import Signal

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
) -> list[Match]:
    """Every candidate work (`references`: work id -> its descriptors by signal key) judged against the suspect
    (`query`: its descriptors), best score first. `baselines(work_id, descriptors)` gives a work's background
    baselines (detector.background); `panels` is how many collage panels the suspect has. Each match records
    whether the verifiers ran on it (`Match.verified`); `verify` names them instead of the pre-score (reproducing
    a recorded scan, whose other candidates are not at hand)."""
    verifiers = verifier_names(signals)
    cheap = frozenset(s.name for s in signals) - verifiers
    first = {w: compare(signals, query, refs, cheap) for w, refs in references.items()}
    ordered = sorted(references, key=lambda w: prescore(first[w]), reverse=True)
    verified = set(ordered[: VERIFY_TOP + VERIFY_PER_PANEL * panels]) if verify is None else set(verify)
    out = []
    for w in ordered:
        comps = first[w]
        if w in verified and verifiers:
            comps = {**comps, **compare(signals, query, references[w], verifiers)}
        m = assess(model, w, comps, baselines(w, references[w]))
        m.verified = w in verified
        out.append(m)
    out.sort(key=lambda m: m.score, reverse=True)
    return out
