"""The offender report: sellers ranked by the evidence against them (a score anyone can recompute from its
components and weights), with linked accounts, images reused by several sellers and the works most infringed; and
the evidence behind one seller's row. Reading either is audited."""

from __future__ import annotations

from index.audit import Action, Audit
from service.store import Store
from service.store.offenders import SCORE_WEIGHTS


def offender_report(store: Store, limit: int, audit: Audit) -> dict[str, object]:
    """The ranking of at most `limit` sellers, the score's weights with why each is there, the images several
    sellers share and the works most infringed: the body of `semblance offenders --json` and of the API."""
    report: dict[str, object] = {
        "score_weights": {k: {"weight": w, "why": why} for k, (w, why) in SCORE_WEIGHTS.items()},
        "sellers": [r.to_json() for r in store.offenders.ranking(limit)],
        "shared_images": store.offenders.shared_images(),
        "works_most_infringed": store.offenders.works_most_infringed(limit),
    }
    audit(Action.OFFENDERS, {"limit": limit})
    return report


def seller_evidence(store: Store, seller_id: int, audit: Audit) -> list[dict[str, object]]:
    """The listings and findings behind one seller's row (none for a seller without hits: then nothing was read,
    and nothing is audited)."""
    rows = store.offenders.evidence(seller_id)
    if rows:
        audit(Action.OFFENDERS, {"seller_id": seller_id})
    return rows
