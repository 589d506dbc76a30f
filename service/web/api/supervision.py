"""The supervision picture over HTTP: aggregates for investigators, auditors and supervisors; the findings behind a
row only for those who may read them (a sweep's: investigators and auditors; a case's: its investigators)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response

from service.supervision import exports
from service.supervision.figures import Scope
from service.usecases import supervision as usecase
from service.web import schemas
from service.web import supervision_schemas as models
from service.web.auth import allowed, guard
from service.web.deps import AuditDep, Caller, Gate, StoreDep

router = APIRouter(prefix="/api/v1/supervision", tags=["supervision"], responses=schemas.ERRORS)

Text = Annotated[str, Query(max_length=200)]
Language = Annotated[Literal["en", "zh"], Query(description="Names of regions and categories")]
Sort = Annotated[Literal["hit_listings", "works", "sellers", "share", "change"], Query()]
Day = Annotated[str, Query(max_length=10, description="YYYY-MM-DD")]


def _scope(
    month: Annotated[str, Query(max_length=7, description="YYYY-MM (default: the current month)")] = "",
    start: Annotated[str, Query(alias="from", max_length=10, description="First day, YYYY-MM-DD")] = "",
    end: Annotated[str, Query(alias="to", max_length=10, description="The day after the last, YYYY-MM-DD")] = "",
    marketplace: Text = "",
    region: Annotated[str, Query(max_length=200, description="A division's code, or its name (浙江, Hangzhou)")] = "",
    category: Annotated[str, Query(max_length=200, description="A priority area: painting, illustration, ...")] = "",
) -> Scope:
    """The scope asked for, or 422 saying what is wrong with it."""
    try:
        return usecase.asked_scope(month, start, end, marketplace, region, category)
    except usecase.ScopeError as exc:
        raise HTTPException(422, str(exc)) from exc


AskedScope = Annotated[Scope, Depends(_scope)]
"""The period and filters of a supervision request (a month, or from and to; marketplace, region, category)."""


def _report(gate: Gate, store: StoreDep, audit: AuditDep, scope: AskedScope, language: Language = "en",
            sort: Sort = "hit_listings") -> dict[str, Any]:  # fmt: skip
    return usecase.supervision_report(store, gate.engine.works(), scope, audit, language, sort)


Report = Annotated[dict[str, Any], Depends(_report)]
"""The supervision picture of the asked scope (usecases.supervision.supervision_report), audited as read."""


@router.get(
    "",
    response_model=models.SupervisionReport,
    summary="Totals, rankings with the change from the period before, trends and entities of a period",
    **guard("supervision"),
)
def picture(report: Report) -> dict[str, Any]:
    return report


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
    a = _scope("", a_from, a_to, a_marketplace, a_region, a_category)
    b = _scope("", b_from or a_from, b_to or a_to, b_marketplace, b_region, b_category)
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


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FILES = {
    "export.csv": ("text/csv; charset=utf-8", lambda report, _lang: exports.rankings_csv(report).encode("utf-8-sig")),
    "export.xlsx": (XLSX, exports.rankings_xlsx),
    "brief.pdf": ("application/pdf", exports.monthly_brief_pdf),
}
"""The files a scope's picture is exported as: media type and maker."""


def _file(name: str, report: dict[str, Any], language: str) -> Response:
    media, make = FILES[name]
    scope = report["scope"]
    stem, suffix = name.rsplit(".", 1)
    filename = f"supervision-{stem}-{scope['start']}-{scope['end']}-{language}.{suffix}"
    return Response(make(report, language), media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})  # fmt: skip


@router.get(
    "/export.csv",
    summary="Every ranking row of a period as CSV (UTF-8 with BOM, for spreadsheets)",
    response_class=Response,
    responses=schemas.file_answer("The rankings, one row per key", "text/csv"),
    **guard("supervision"),
)
def export_csv(report: Report, language: Language = "en") -> Response:
    return _file("export.csv", report, language)


@router.get(
    "/export.xlsx",
    summary="The totals, what each figure counts, and every ranking of a period as a workbook",
    response_class=Response,
    responses=schemas.file_answer("A workbook: totals, then a sheet per ranking", XLSX),
    **guard("supervision"),
)
def export_xlsx(report: Report, language: Language = "en") -> Response:
    return _file("export.xlsx", report, language)


@router.get(
    "/brief.pdf",
    summary="The one-page supervision brief of a period (a month), in Chinese or English",
    response_class=Response,
    responses=schemas.file_answer("The brief", "application/pdf"),
    **guard("supervision"),
)
def brief_pdf(report: Report, language: Language = "en") -> Response:
    return _file("brief.pdf", report, language)
