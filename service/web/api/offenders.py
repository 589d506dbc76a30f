"""The offender database over HTTP: for investigators and auditors only, like the findings it is built from."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, HTTPException

from service.usecases.offenders import offender_report, seller_evidence
from service.web import schemas
from service.web.auth import Id, guard
from service.web.deps import Caller, Gate, StoreDep

router = APIRouter(prefix="/api/v1/offenders", tags=["offenders"], responses=schemas.ERRORS)


@router.get(
    "",
    response_model=schemas.OffenderRanking,
    summary="Sellers ranked by evidence, linked accounts, reused images, works most infringed",
    **guard("offenders"),
)
def ranking(store: StoreDep, gate: Gate, principal: Caller, limit: int = 50) -> dict[str, Any]:
    return offender_report(store, max(1, min(limit, 1000)), partial(gate.record, principal.actor))


@router.get(
    "/{seller_id}",
    response_model=schemas.SellerEvidence,
    summary="The listings and findings behind one seller's row",
    **guard("offenders"),
)
def evidence(seller_id: Id, store: StoreDep, gate: Gate, principal: Caller) -> dict[str, Any]:
    rows = seller_evidence(store, seller_id, partial(gate.record, principal.actor))
    if not rows:
        raise HTTPException(404, f"no seller {seller_id} with hits")
    return {"seller_id": seller_id, "evidence": rows}
