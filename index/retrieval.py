"""Retrieval: which registered works a suspect's index hits bring to the exact re-scoring. Not a verdict: it
decides what can be found at all, and every recall in docs/EVALUATION.md is measured with these numbers."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from index.search_index import Hit

CANDIDATES_PER_SIGNAL = 24
"""Works kept from each indexed signal's nearest-neighbour search before exact re-scoring (the pipeline sees the
union). Retrieval, not a verdict: it decides what can be found, and every recall in docs/EVALUATION.md is measured
with it. A named constant, not fitted: three times VERIFY_TOP, so the verifiers choose among candidates from every
signal."""
CANDIDATES_PER_VIEW = 2
"""Works kept from each view's own rows (a collage panel, a region proposal) beside the CANDIDATES_PER_SIGNAL of the
whole suspect: a repainted panel or the picture in a listing page is less alike to its original than unrelated
works are to the rest of the page, so the union's cut left it out. Chosen on the tune split's suspects with views
(sscd-distilled; the right work among the union's 24 for 96 of 154 screenshots' works, 45 of 73 AI collages', 35
of 108 second-generator AI collages'): keeping each view's best one found 126, 46 and 43, its best two 129, 47 and
48, its best three 130, 48 and 49, for about 2 more candidates per negative with views at two, 3 at three."""
NEIGHBOURS_PER_ROW = 32
"""Index hits per query row (a suspect has one row per region, scale and panel); several rows of one work merge,
so 32 rows' hits leave CANDIDATES_PER_SIGNAL distinct works in all but degenerate cases. Not fitted."""


def nearest_works(hits: Iterable[Hit], views: np.ndarray | None) -> set[int]:
    """The works one signal's index hits bring to the pipeline: the CANDIDATES_PER_SIGNAL nearest over all the
    suspect's rows, and each view's CANDIDATES_PER_VIEW nearest over its own rows (`views`: the view of each row)."""
    best: dict[int, float] = {}
    by_view: dict[int, dict[int, float]] = {}
    for hit in hits:
        best[hit.work_id] = max(best.get(hit.work_id, -1.0), hit.similarity)
        if views is not None and (view := int(views[hit.query_row])):
            own = by_view.setdefault(view, {})
            own[hit.work_id] = max(own.get(hit.work_id, -1.0), hit.similarity)
    out = set(sorted(best, key=best.__getitem__, reverse=True)[:CANDIDATES_PER_SIGNAL])
    for own in by_view.values():
        out.update(sorted(own, key=own.__getitem__, reverse=True)[:CANDIDATES_PER_VIEW])
    return out
