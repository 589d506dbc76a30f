"""The supervision page (zh and en): for a month and filters, the totals against the month before, a 12-month trend,
rankings of regions, marketplaces, categories and rights holders with their change, and the entities linking seller
accounts as a network; each row links to the findings behind it for those who may read them. Charts are drawn by
Apache ECharts, served from this server (static/vendor/echarts), from data the page carries as JSON."""

from __future__ import annotations

import json
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from service.usecases import supervision as usecase
from service.web.auth import allowed
from service.web.deps import Gate, StoreDep
from service.web.pages import PageRefused, language, person, render

router = APIRouter(include_in_schema=False)

Text = Annotated[str, Query(max_length=200)]


@router.get("/supervision")
def supervision_page(
    request: Request,
    gate: Gate,
    store: StoreDep,
    month: Annotated[str, Query(max_length=7)] = "",
    marketplace: Text = "",
    region: Text = "",
    category: Text = "",
) -> Response:
    principal = person(request, "supervision")
    lang = language(request, principal)
    try:
        scope = usecase.month_scope(month, marketplace, region, category)
    except usecase.ScopeError as exc:
        raise PageRefused(422, str(exc)) from exc
    works = gate.engine.works()
    audit = partial(gate.record, principal.actor)
    report = usecase.supervision_report(store, works, scope, audit, lang)
    trend = usecase.monthly_trend(store, works, scope)
    chart = {
        "trend": trend,
        "labels": {k: usecase.label("province", k, lang) for k in trend["province"]["series"]},
        "regions": [
            {"label": r["label"], "hits": r["hit_listings"] + r["hit_findings"], "share": r["share"]}
            for r in report["rankings"]["region"][:15]
        ],
        "entities": report["entities"][:20],
    }
    return render(
        request,
        "supervision.html",
        principal,
        {
            "report": report,
            "filters": {
                "month": scope.period.start[:7],
                "marketplace": marketplace,
                "region": region,
                "category": category,
            },
            "marketplaces": store.supervision.marketplaces(),
            "chart_json": json.dumps(chart, ensure_ascii=False),  # an attribute, escaped by the template
            "may_evidence": allowed(principal, "supervision.evidence"),
        },
    )


@router.get("/supervision/evidence")
def evidence_page(
    request: Request, gate: Gate, store: StoreDep, finding: Annotated[list[int], Query(max_length=500)]
) -> Response:
    principal = person(request, "supervision.evidence")
    audit = partial(gate.record, principal.actor)
    shown = usecase.evidence(store, finding, principal.user.id, allowed(principal, "offenders"), audit)
    return render(request, "supervision_evidence.html", principal, shown)
