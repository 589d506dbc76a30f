"""The offender database over HTTP: for investigators and auditors only, like the findings it is built from."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request

from service.usecases.offenders import offender_report, seller_evidence
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
    gate = request.app.state.gate
    return offender_report(store_of(request), max(1, min(limit, 1000)), partial(gate.record, principal.actor))


@router.get(
    "/{seller_id}",
    response_model=schemas.SellerEvidence,
    summary="The listings and findings behind one seller's row",
    **guard("offenders"),
)
def evidence(seller_id: Id, request: Request, principal: Principal = Depends(caller)) -> dict[str, Any]:
    rows = seller_evidence(store_of(request), seller_id, partial(request.app.state.gate.record, principal.actor))
    if not rows:
        raise HTTPException(404, f"no seller {seller_id} with hits")
    return {"seller_id": seller_id, "evidence": rows}
