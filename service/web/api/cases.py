"""Cases and everything in them: sharing, closing, scans (one image at once, many as a job), jobs, findings and
their evidence reports. Every route takes the case from `auth.case_of`, so a case not shared with the caller is a
404 exactly like one that does not exist, and every id below a case is looked up within that case."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Annotated, Any, BinaryIO, Literal

from fastapi import APIRouter, Depends, File, HTTPException, Query, Response, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from index.audit import Action
from service.gate import EngineGate
from service.i18n import LANGUAGES
from service.inputs import InputItem
from service.reports.bundle import SIGNATURE, CaseInfo, RecordedScan, build_bundle
from service.reports.pdf import ReportFontError, cjk_font_file
from service.store import Store
from service.store.cases import Case, CaseError
from service.store.findings import Finding
from service.untrusted import safe_name
from service.usecases import casework
from service.usecases.uploads import UploadRefused, unpack
from service.web import schemas
from service.web.auth import MAX_ID, Id, Principal, guard
from service.web.deps import Caller, CaseDep, Gate, Metrics, Runner, Settings, StoreDep
from service.web.jobs import JobRunner
from service.web.metrics import ServiceMetrics
from service.web.settings import ServiceSettings
from service.web.uploads import REFUSED_STATUS, attachment

router = APIRouter(prefix="/api/v1/cases", tags=["cases"], responses=schemas.ERRORS)
REPORT_TYPES = {"html": ("report.html", "text/html; charset=utf-8"), "pdf": ("report.pdf", "application/pdf")}


class NewCase(BaseModel):
    number: str = Field(max_length=120, description="The office's case number")
    title: str = Field(default="", max_length=300)
    region: str = Field(
        default="",
        max_length=200,
        description="Where the case belongs (浙江省杭州市, Hangzhou); its findings count there",
    )


class Share(BaseModel):
    username: str = Field(max_length=64)


@router.get("", response_model=schemas.Cases, summary="Cases shared with me", **guard("cases"))
def list_cases(store: StoreDep, principal: Caller) -> dict[str, Any]:
    return {
        "cases": [c.to_json() | {"counts": store.findings.counts(c.id)} for c in store.cases.of_user(principal.user.id)]
    }


@router.post("", status_code=201, response_model=schemas.OneCase, summary="Open a case", **guard("cases"))
def create_case(body: NewCase, store: StoreDep, gate: Gate, principal: Caller) -> dict[str, Any]:
    try:
        case = casework.open_case(gate, store, principal.actor, principal.user.id, body.number, body.title, body.region)
    except CaseError as exc:
        raise HTTPException(422, str(exc)) from exc
    return {"case": case.to_json()}


@router.get("/{case_id}", response_model=schemas.CaseDetail, summary="One case", **guard("cases", case=True))
def get_case(store: StoreDep, case: CaseDep) -> dict[str, Any]:
    return {
        "case": case.to_json() | {"counts": store.findings.counts(case.id)},
        "jobs": [j.to_json() for j in store.jobs.of_case(case.id)],
    }


@router.post(
    "/{case_id}/members",
    response_model=schemas.OneCase,
    summary="Share a case with another investigator",
    **guard("cases", case=True),
)
def share_case(body: Share, store: StoreDep, gate: Gate, case: CaseDep, principal: Caller) -> dict[str, Any]:
    try:
        shared = casework.share_case(gate, store, principal.actor, case, body.username, principal.user.id)
    except CaseError as exc:
        raise HTTPException(422, str(exc)) from exc
    return {"case": shared.to_json()}


@router.post(
    "/{case_id}/close",
    response_model=schemas.OneCase,
    summary="Close a case (no more scans; findings and reports stay)",
    **guard("cases", case=True),
)
def close_case(store: StoreDep, gate: Gate, case: CaseDep, principal: Caller) -> dict[str, Any]:
    closed = casework.close_case(gate, store, principal.actor, case, principal.user.id)
    return {"case": closed.to_json()}


@router.post(
    "/{case_id}/scans",
    summary="Scan suspects: one image answers at once (the JSON of `semblance scan`), more or a zip start a job",
    response_model=schemas.ScannedSuspect,
    response_model_exclude_unset=True,
    responses={
        202: {"model": schemas.OneJob, "description": "A job was started"},
        422: {"model": schemas.ScanRefused, "description": "Invalid, or the one image could not be scanned"},
    },
    **guard("cases", case=True),
)
async def scan(
    store: StoreDep,
    gate: Gate,
    settings: Settings,
    metrics: Metrics,
    runner: Runner,
    case: CaseDep,
    principal: Caller,
    files: list[UploadFile] = File(description="Image files or zip archives, as seized"),
) -> Any:
    if case.closed_at:
        raise HTTPException(409, f"case {case.number} is closed: open a new case to scan more")
    uploads: list[tuple[str, bytes | BinaryIO]] = [(safe_name(u.filename), u.file) for u in files]  # on disk
    # unpacking, custody writes (fsynced) and the scan block: off the event loop, so other requests go on
    return await run_in_threadpool(
        _scan_uploads, store, gate, settings, metrics, runner, case=case, principal=principal, uploads=uploads
    )


def _scan_uploads(
    store: Store,
    gate: EngineGate,
    settings: ServiceSettings,
    metrics: ServiceMetrics,
    runner: JobRunner,
    *,
    case: Case,
    principal: Principal,
    uploads: list[tuple[str, bytes | BinaryIO]],
) -> Any:
    """Receive each upload into the case's custody; one image is scanned now, more are queued as a job."""
    try:
        arrivals, single = unpack(uploads, settings.max_files_per_upload)
    except UploadRefused as exc:
        raise HTTPException(REFUSED_STATUS[exc.kind], exc.why) from exc
    if single and gate.pool is not None:
        gate.pool.admit()  # 503 before anything is kept, not after
    kept: list[tuple[str, int | None, str]] = [
        (a.name, casework.receive(gate, store, principal.actor, case.id, a.name, a.data).id, "")
        if a.data is not None
        else (a.name, None, a.why)
        for a in arrivals
    ]
    if single:
        suspect = store.findings.suspect(kept[0][1] or 0)
        assert suspect is not None
        finding = casework.scan(gate, store, principal.actor, suspect, on_finding=metrics.count_finding)
        body = finding.result | {"finding_id": finding.id, "suspect_id": suspect.id}
        if finding.result.get("error"):
            return JSONResponse({"error": f"{suspect.name}: {finding.result['error']}", "result": body}, 422)
        return body
    job = store.jobs.create(case.id, principal.user.id, kept)
    runner.wake()
    return JSONResponse({"job": job.to_json()}, 202)


@router.get(
    "/{case_id}/jobs/{job_id}",
    response_model=schemas.JobProgress,
    summary="A scan job's progress",
    **guard("cases", case=True),
)
def get_job(job_id: Id, store: StoreDep, case: CaseDep) -> dict[str, Any]:
    job = store.jobs.in_case(case.id, job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id}")
    failed = [{"name": i.name, "error": i.error} for i in store.jobs.items(job.id) if i.state == "error"]
    return {"job": job.to_json(), "failed_items": failed}


@router.post(
    "/{case_id}/jobs/{job_id}/cancel",
    response_model=schemas.OneJob,
    summary="Cancel a scan job",
    **guard("cases", case=True),
)
def cancel_job(
    job_id: Id, store: StoreDep, gate: Gate, runner: Runner, case: CaseDep, principal: Caller
) -> dict[str, Any]:
    if store.jobs.in_case(case.id, job_id) is None:
        raise HTTPException(404, f"no job {job_id}")
    job = store.jobs.cancel(job_id)
    assert job is not None
    gate.record(principal.actor, Action.JOB_CANCELLED, {"case_id": case.id, "job_id": job_id})
    runner.wake()
    return {"job": job.to_json()}


@router.get(
    "/{case_id}/findings",
    response_model=schemas.Findings,
    summary="A case's findings, most severe first",
    **guard("cases", case=True),
)
def list_findings(
    store: StoreDep,
    case: CaseDep,
    job_id: int | None = Query(default=None, ge=1, le=MAX_ID),
    limit: int = 200,
    offset: int = 0,
) -> dict[str, Any]:
    limit, offset = max(1, min(limit, 1000)), max(0, offset)
    found = store.findings.of_case(case.id, job_id)
    return {"total": len(found), "findings": [f.to_json() for f in found[offset : offset + limit]]}


def finding_of(finding_id: Id, store: StoreDep, case: CaseDep) -> Finding:
    """The finding with this id in this case, or 404."""
    finding = store.findings.in_case(case.id, finding_id)
    if finding is None:
        raise HTTPException(404, f"no finding {finding_id}")
    return finding


FindingDep = Annotated[Finding, Depends(finding_of)]


@router.get(
    "/{case_id}/findings/{finding_id}",
    response_model=schemas.OneFinding,
    summary="One finding",
    **guard("cases", case=True),
)
def get_finding(finding: FindingDep) -> dict[str, Any]:
    return {"finding": finding.to_json()}


@router.get(
    "/{case_id}/findings/{finding_id}/suspect",
    summary="The suspect file as received",
    response_class=Response,
    responses=schemas.file_answer("The suspect's bytes, exactly as received", "application/octet-stream"),
    **guard("cases", case=True),
)
def download_suspect(store: StoreDep, gate: Gate, finding: FindingDep, principal: Caller) -> Response:
    data = store.findings.data(finding.suspect)
    gate.record(
        principal.actor, Action.DOWNLOAD, {"what": "suspect", "finding_id": finding.id}, sha256=finding.suspect.sha256
    )
    return Response(data, media_type="application/octet-stream", headers=attachment(finding.suspect.name))


@router.get(
    "/{case_id}/findings/{finding_id}/report",
    summary="The finding's evidence report: html, pdf, or the signed bundle as a zip",
    response_class=Response,
    responses=schemas.file_answer(
        "The report (format=html or pdf), or the signed evidence bundle (format=bundle)",
        "text/html",
        "application/pdf",
        "application/zip",
    ),
    **guard("cases", case=True),
)
def report(
    store: StoreDep,
    gate: Gate,
    settings: Settings,
    case: CaseDep,
    finding: FindingDep,
    principal: Caller,
    format: Literal["html", "pdf", "bundle"] = "html",
    lang: Literal["en", "zh"] | None = None,
) -> Response:
    if finding.result.get("error"):
        raise HTTPException(409, f"{finding.suspect.name} could not be scanned ({finding.result['error']}): no report")
    language = lang or (principal.user.language if principal.user.language in LANGUAGES else "en")
    if language != "en":
        try:
            cjk_font_file()
        except ReportFontError as exc:
            raise HTTPException(409, str(exc)) from exc
    bundle = _bundle(store, gate, settings.home, case, finding, principal, language)
    gate.record(
        principal.actor,
        Action.DOWNLOAD,
        {"what": f"report {format}", "finding_id": finding.id, "bundle": bundle.name, "language": language},
        sha256=finding.suspect.sha256,
    )
    if format == "bundle":
        return Response(_zipped(bundle), media_type="application/zip", headers=attachment(f"{bundle.name}.zip"))
    name, media = REPORT_TYPES[format]
    # the report is self-contained: its own inline styles and embedded pictures, and no script may run in it
    report_csp = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'none'"
    headers = {"Content-Security-Policy": report_csp} if format == "html" else attachment(f"{bundle.name}.pdf")
    return Response((bundle / name).read_bytes(), media_type=media, headers=headers)


def _bundle(
    store: Store, gate: EngineGate, home: Path, case: Case, finding: Finding, principal: Principal, language: str
) -> Path:
    """The finding's signed bundle in `language`, made on first request and kept (reports/case-N/finding-M/LANG/)."""
    folder = home / "reports" / f"case-{case.id}" / f"finding-{finding.id}" / language
    data = store.findings.data(finding.suspect)
    info = CaseInfo(
        case_number=case.number,
        examiner=principal.user.username,
        obtained=(
            f"uploaded to the Semblance server by {finding.suspect.received_by} at {finding.suspect.received_at} "
            f"({finding.suspect.origin}); SHA-256 {finding.suspect.sha256} on arrival"
        ),
        notes=case.title,
    )
    with gate.use(principal.actor) as engine:  # inside the gate: two requests make one bundle
        made = sorted(p.parent for p in folder.glob(f"*/{SIGNATURE}")) if folder.is_dir() else []
        if made:
            return made[0]
        item = InputItem(finding.suspect.name, reader=lambda: data)
        recorded = RecordedScan(finding.scanned_at, finding.result)  # stated beside today's comparison
        return build_bundle(engine, item, info, folder, language=language, recorded=recorded)


def _zipped(folder: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                z.write(path, f"{folder.name}/{path.relative_to(folder)}")
    return buf.getvalue()
