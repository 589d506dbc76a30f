"""Registered works: list, read, download the original, register by upload (files, or a zip with works.csv),
remove with a reason. Who may do which is `auth.PERMISSIONS`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, File, Form, HTTPException, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from index.audit import Action
from index.registry import WorkRecord
from service.engine import WorkMetadata
from service.gate import EngineGate
from service.untrusted import safe_name
from service.usecases.uploads import UploadRefused, works_to_register
from service.web import schemas
from service.web.auth import Principal, guard
from service.web.deps import Caller, Gate, Settings
from service.web.settings import ServiceSettings
from service.web.uploads import REFUSED_STATUS, attachment

router = APIRouter(prefix="/api/v1/works", tags=["works"], responses=schemas.ERRORS)


@router.get(
    "", response_model=schemas.Works, summary="List registered works (paged, searchable)", **guard("works.read")
)
def list_works(gate: Gate, q: str = "", limit: int = 50, offset: int = 0) -> dict[str, Any]:
    limit, offset = max(1, min(limit, 500)), max(0, offset)
    works = matching(gate.engine.works(), q)
    return {"total": len(works), "works": [w.to_json() for w in works[offset : offset + limit]]}


def matching(works: list[WorkRecord], q: str) -> list[WorkRecord]:
    """The works whose ref, title, author or rights holder contains `q` (any case); all of them for an empty `q`."""
    needle = q.casefold()
    return [w for w in works if any(needle in str(v).casefold() for v in (w.ref, w.title, w.author, w.rights_holder))]


@router.get("/{ref}", response_model=schemas.OneWork, summary="One registered work", **guard("works.read"))
def get_work(ref: str, gate: Gate) -> dict[str, Any]:
    work = gate.engine.work(ref)
    if work is None:
        raise HTTPException(404, f"no registered work {ref!r}")
    return {"work": work.to_json()}


@router.get(
    "/{ref}/original",
    summary="Download a work's original file",
    response_class=Response,
    responses=schemas.file_answer("The original file, as registered", "application/octet-stream"),
    **guard("works.download"),
)
def download_original(ref: str, gate: Gate, principal: Caller) -> Response:
    engine = gate.engine
    work = engine.work(ref)
    if work is None:
        raise HTTPException(404, f"no registered work {ref!r}")
    data = engine.workspace.vault.read(work.sha256)
    gate.record(principal.actor, Action.DOWNLOAD, {"what": "original"}, ref=work.ref, sha256=work.sha256)
    return Response(data, media_type="application/octet-stream", headers=attachment(work.original_name))


@router.post(
    "",
    response_model=schemas.Registrations,
    response_model_exclude_unset=True,
    summary="Register works: image files with metadata, or a zip with works.csv",
    **guard("works.write"),
)
async def register_works(
    gate: Gate,
    settings: Settings,
    principal: Caller,
    files: list[UploadFile] = File(description="Image files, or one zip holding images and works.csv"),
    ref: str = Form(default="", max_length=200),
    title: str = Form(default="", max_length=500),
    author: str = Form(default="", max_length=300),
    rights_holder: str = Form(default="", max_length=300),
    registration_no: str = Form(default="", max_length=200),
    source_url: str = Form(default="", max_length=2000),
    categories: str = Form(default="", max_length=500),
) -> Any:
    uploads = [(safe_name(u.filename), await u.read()) for u in files]
    given = WorkMetadata(
        ref=ref,
        title=title,
        author=author,
        rights_holder=rights_holder,
        registration_no=registration_no,
        source_url=source_url,
        categories=categories,
    )
    # unpacking and registering block (decode, every signal, fsynced writes): off the event loop
    return await run_in_threadpool(_register, gate, settings, principal, uploads, given)


def _register(
    gate: EngineGate,
    settings: ServiceSettings,
    principal: Principal,
    uploads: list[tuple[str, bytes]],
    given: WorkMetadata,
) -> Any:
    try:
        items = works_to_register(uploads, given, settings.max_files_per_upload)
    except UploadRefused as exc:
        raise HTTPException(REFUSED_STATUS[exc.kind], exc.why) from exc
    with gate.use(principal.actor) as engine:
        outcomes = [o.to_json() for o in engine.register_each(items)]
    if len(outcomes) == 1 and outcomes[0]["status"] == "error":
        raise HTTPException(422, f"{outcomes[0]['path']}: {outcomes[0].get('error')}")
    return {"results": outcomes}


@router.delete(
    "/{ref}",
    response_model=schemas.RemovedWork,
    summary="Remove a work (its file stays in the vault); a reason is required",
    **guard("works.write"),
)
def remove_work(ref: str, reason: str, gate: Gate, principal: Caller) -> dict[str, Any]:
    if not reason.strip():
        raise HTTPException(422, "say why the work is removed (reason)")
    with gate.use(principal.actor) as engine:
        removed = engine.remove(ref, reason.strip()[:1000])
    if removed is None:
        raise HTTPException(404, f"no registered work {ref!r}")
    return {"removed": removed.to_json()}
