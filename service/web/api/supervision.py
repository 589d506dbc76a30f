"""The supervision picture over HTTP: aggregates for investigators, auditors and supervisors; the findings behind a
row only for those who may read them (a sweep's: investigators and auditors; a case's: its investigators)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response

from service.supervision import exports
from service.usecases import supervision as usecase
from service.web import schemas
from service.web import supervision_schemas as models
from service.web.auth import allowed, guard
from service.web.deps import AuditDep, Caller, Gate, StoreDep

router = APIRouter(prefix="/api/v1/supervision", tags=["supervision"], responses=schemas.ERRORS)

Month = Annotated[str, Query(max_length=7, description="YYYY-MM (default: the current month)")]
Day = Annotated[str, Query(max_length=10, description="YYYY-MM-DD")]
Text = Annotated[str, Query(max_length=200)]
Language = Annotated[str, Query(pattern="^(en|zh)$", description="Names of regions and categories")]


def scope(month: str, start: str, end: str, marketplace: str, region: str, category: str) -> Any:
    """The scope asked for, or 422 saying what is wrong with it."""
    try:
        if start or end:
            if month or not (start and end):
                raise usecase.ScopeError("give month, or both from and to")
            return usecase.scope_of(start, end, marketplace, region, category)
        return usecase.month_scope(month, marketplace, region, category)
    except usecase.ScopeError as exc:
        raise HTTPException(422, str(exc)) from exc


@router.get(
    "",
    response_model=models.SupervisionReport,
    summary="Totals, rankings with the change from the period before, trends and entities of a period",
    **guard("supervision"),
)
def picture(
    gate: Gate,
    store: StoreDep,
    audit: AuditDep,
    month: Month = "",
    start: Annotated[str, Query(alias="from", max_length=10)] = "",
    end: Annotated[str, Query(alias="to", max_length=10)] = "",
    marketplace: Text = "",
    region: Text = "",
    category: Text = "",
    language: Language = "en",
    sort: Annotated[Literal["hit_listings", "works", "sellers", "share", "change"], Query()] = "hit_listings",
) -> dict[str, Any]:
    chosen = scope(month, start, end, marketplace, region, category)
    return usecase.supervision_report(store, gate.engine.works(), chosen, audit, language, sort)


@router.get(
    "/compare",
    response_model=models.SideBySide,
    summary="Two periods, regions, categories or marketplaces side by side, with the rate ratio A/B",
    **guard("supervision"),
)
def side_by_side(
    gate: Gate,
    store: StoreDep,
    audit: AuditDep,
    a_from: Day,
    a_to: Day,
    b_from: Day = "",
    b_to: Day = "",
    a_region: Text = "",
    b_region: Text = "",
    a_category: Text = "",
    b_category: Text = "",
    a_marketplace: Text = "",
    b_marketplace: Text = "",
) -> dict[str, Any]:
    a = scope("", a_from, a_to, a_marketplace, a_region, a_category)
    b = scope("", b_from or a_from, b_to or a_to, b_marketplace, b_region, b_category)
    return usecase.side_by_side(store, gate.engine.works(), a, b, audit)


@router.get(
    "/evidence",
    response_model=models.SupervisionEvidence,
    summary="The findings behind a row, as far as the caller may read them",
    **guard("supervision.evidence"),
)
def evidence(
    store: StoreDep,
    audit: AuditDep,
    principal: Caller,
    finding: Annotated[list[int], Query(max_length=usecase.MAX_EVIDENCE, description="Finding ids (repeat)")],
) -> dict[str, Any]:
    return usecase.evidence(store, finding, principal.user.id, allowed(principal, "offenders"), audit)


@router.get(
    "/export.csv",
    summary="Every ranking row of a period as CSV (UTF-8 with BOM, for spreadsheets)",
    response_class=Response,
    responses=schemas.file_answer("The rankings, one row per key", "text/csv"),
    **guard("supervision"),
)
def export_csv(
    gate: Gate,
    store: StoreDep,
    audit: AuditDep,
    month: Month = "",
    marketplace: Text = "",
    region: Text = "",
    category: Text = "",
    language: Language = "en",
) -> Response:
    chosen = scope(month, "", "", marketplace, region, category)
    report = usecase.supervision_report(store, gate.engine.works(), chosen, audit, language)
    name = f"supervision-{chosen.period.start[:7]}.csv"
    return Response(
        exports.rankings_csv(report).encode("utf-8-sig"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get(
    "/export.xlsx",
    summary="The totals, what each figure counts, and every ranking of a month as a workbook",
    response_class=Response,
    responses=schemas.file_answer("A workbook: totals, then a sheet per ranking", XLSX),
    **guard("supervision"),
)
def export_xlsx(
    gate: Gate,
    store: StoreDep,
    audit: AuditDep,
    month: Month = "",
    marketplace: Text = "",
    region: Text = "",
    category: Text = "",
    language: Language = "en",
) -> Response:
    chosen = scope(month, "", "", marketplace, region, category)
    report = usecase.supervision_report(store, gate.engine.works(), chosen, audit, language)
    name = f"supervision-{chosen.period.start[:7]}.xlsx"
    return Response(
        exports.rankings_xlsx(report, language),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/brief.pdf",
    summary="The one-page monthly supervision brief, in Chinese or English",
    response_class=Response,
    responses=schemas.file_answer("The brief", "application/pdf"),
    **guard("supervision"),
)
def brief_pdf(
    gate: Gate,
    store: StoreDep,
    audit: AuditDep,
    month: Month = "",
    marketplace: Text = "",
    region: Text = "",
    category: Text = "",
    language: Language = "en",
) -> Response:
    chosen = scope(month, "", "", marketplace, region, category)
    report = usecase.supervision_report(store, gate.engine.works(), chosen, audit, language)
    name = f"supervision-brief-{chosen.period.start[:7]}-{language}.pdf"
    return Response(
        exports.monthly_brief_pdf(report, language),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
