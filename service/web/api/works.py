"""Registered works: list, read, download the original, register by upload (files, or a zip with works.csv),
remove with a reason. Who may do which is `auth.PERMISSIONS`."""

from __future__ import annotations

import csv
import io
import zipfile
from typing import Any

from fastapi import APIRouter, File, Form, HTTPException, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from index.audit import Action
from index.registry import WorkRecord
from service.engine import WorkMetadata
from service.gate import EngineGate
from service.inputs import InputItem, from_bytes
from service.results import METADATA_FIELDS
from service.untrusted import IMAGE_KINDS, safe_name, sniff
from service.web import schemas
from service.web.auth import Principal, guard
from service.web.deps import Caller, Gate, Settings
from service.web.settings import ServiceSettings
from service.web.uploads import attachment

router = APIRouter(prefix="/api/v1/works", tags=["works"], responses=schemas.ERRORS)
MANIFEST = "works.csv"
MAX_MANIFEST_BYTES = 16 * 1024 * 1024


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
) -> Any:
    uploads = [(safe_name(u.filename), await u.read()) for u in files]
    given = WorkMetadata(
        ref=ref,
        title=title,
        author=author,
        rights_holder=rights_holder,
        registration_no=registration_no,
        source_url=source_url,
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
    items: list[tuple[InputItem, WorkMetadata]] = []
    for name, data in uploads:
        kind = sniff(data)
        if kind == "zip":
            items.extend(_from_zip(name, data))
        elif kind in IMAGE_KINDS:
            items.append((InputItem(name, reader=lambda d=data: d), given))  # type: ignore[misc]
        else:
            raise HTTPException(415, f"{name}: not an image nor a zip archive (judged by its content, not its name)")
    if not items:
        raise HTTPException(422, "no image to register in the upload")
    if len(items) > settings.max_files_per_upload:
        raise HTTPException(413, f"{len(items):,} files in one upload; at most {settings.max_files_per_upload:,}")
    if len(items) > 1 and any(meta.ref for _, meta in items if meta is given):
        raise HTTPException(422, "a ref names one work: upload one file with it, or a zip with works.csv")
    with gate.use(principal.actor) as engine:
        outcomes = [o.to_json() for o in engine.register_each(items)]
    if len(outcomes) == 1 and outcomes[0]["status"] == "error":
        raise HTTPException(422, f"{outcomes[0]['path']}: {outcomes[0].get('error')}")
    return {"results": outcomes}


def _from_zip(name: str, data: bytes) -> list[tuple[InputItem, WorkMetadata]]:
    """The images of a zip, each with its row of the zip's works.csv (matched by `path` inside the archive)."""
    rows: dict[str, dict[str, str]] = {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            if MANIFEST in z.namelist():
                if z.getinfo(MANIFEST).file_size > MAX_MANIFEST_BYTES:
                    raise HTTPException(413, f"{name}: {MANIFEST} is larger than {MAX_MANIFEST_BYTES:,} bytes")
                text = z.read(MANIFEST).decode("utf-8-sig")
                rows = {r.get("path", ""): r for r in csv.DictReader(io.StringIO(text))}
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError, ValueError, RuntimeError, csv.Error) as exc:
        raise HTTPException(422, f"{name}: cannot read it as a zip with {MANIFEST} ({exc})") from exc
    out = []
    for member in from_bytes(name, data):
        row = rows.get(member.name.split("!", 1)[-1], {})
        meta = WorkMetadata()
        for k in METADATA_FIELDS:
            setattr(meta, k, (row.get(k) or "").strip())
        out.append((member, meta))
    return out


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
