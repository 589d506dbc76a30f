"""Scanning labelled queries for a calibration: every candidate of every query with its features, however far
below the thresholds, for `semblance calibrate` and scripts/evaluate.py alike (one engine path, one record)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from detector.calibration.labelled import Candidate
from service.engine import Engine
from service.inputs import InputItem

EVERY_CANDIDATE = 10_000
"""`top_k` that keeps every candidate the index finds: a fit needs the wrong works as much as the right ones."""


@dataclass(frozen=True)
class LabelledScan:
    """Candidates per query id (absent: the query could not be compared, with its reason in `errors`)."""

    candidates: dict[str, list[Candidate]]
    errors: dict[str, str]
    ms_per_query: float


def scan_labelled(
    engine: Engine,
    queries: Sequence[tuple[str, Callable[[], bytes]]],
    progress: Callable[[int, int], None] | None = None,
) -> LabelledScan:
    """Scan (id, reader) pairs with every near miss kept; a collage suspect's candidates carry every view."""
    items = [InputItem(qid, reader=read) for qid, read in queries]
    out: dict[str, list[Candidate]] = {}
    errors: dict[str, str] = {}
    started = time.perf_counter()
    for i, res in enumerate(engine.scan_many(items, top_k=EVERY_CANDIDATE, near_misses=True)):
        if progress:
            progress(i + 1, len(items))
        if res.error is not None:
            errors[res.path] = res.error
            continue
        out[res.path] = [
            Candidate(
                m.ref,
                dict(m.features),
                [dict(v) for v in m.views] if len(m.views) > 1 else [],
                [list(p) for p in m.region] if m.region else None,
                [list(p) for p in m.reference_region] if m.reference_region else None,
            )
            for m in res.matches
        ]
        res.image = None  # a long scan must not hold every decoded picture
    elapsed = (time.perf_counter() - started) * 1000 / max(1, len(items))
    return LabelledScan(out, errors, elapsed)
