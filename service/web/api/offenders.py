"""The offender database over HTTP: for investigators and auditors only, like the findings it is built from."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request

from index.audit import Action
from service.store.offenders import SCORE_WEIGHTS
from service.web import schemas
from service.web.auth import Id, Principal, caller, guard, store_of

router = APIRouter(prefix="/api/v1/offenders", tags=["offenders"], responses=schemas.ERRORS)


@router.get(
    "",
    response_model=schemas.OffenderRanking,
    summary="Sellers ranked by evidence, linked accounts, reused images, works most infringed",
    **guard("offenders"),
)
def ranking(request: Request, limit: int = 50, principal: Principal = Depends(caller)) -> dict[str, Any]:
    limit = max(1, min(limit, 1000))
    store = store_of(request)
    request.app.state.gate.record(principal.actor, Action.OFFENDERS, {"limit": limit})
    return {
        "score_weights": {k: {"weight": w, "why": why} for k, (w, why) in SCORE_WEIGHTS.items()},
        "sellers": [r.to_json() for r in store.offenders.ranking(limit)],
        "shared_images": store.offenders.shared_images(),
        "works_most_infringed": store.offenders.works_most_infringed(limit),
    }


@router.get(
    "/{seller_id}",
    response_model=schemas.SellerEvidence,
    summary="The listings and findings behind one seller's row",
    **guard("offenders"),
)
def evidence(seller_id: Id, request: Request, principal: Principal = Depends(caller)) -> dict[str, Any]:
    rows = store_of(request).offenders.evidence(seller_id)
    if not rows:
        raise HTTPException(404, f"no seller {seller_id} with hits")
    request.app.state.gate.record(principal.actor, Action.OFFENDERS, {"seller_id": seller_id})
    return {"seller_id": seller_id, "evidence": rows}
