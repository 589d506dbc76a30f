"""Health, metrics, the caller's own account, sign-in and sign-out, and the audit trail."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field

from index.audit import Action, Actor
from service.gate import EngineGate
from service.store import Store
from service.store.accounts import LANGUAGES, SESSION_HOURS, Session
from service.web import schemas
from service.web.auth import SESSION_COOKIE, client_address, guard
from service.web.deps import Caller, Gate, Metrics, Settings, StoreDep
from service.web.metrics import render_metrics
from service.web.settings import ServiceSettings

router = APIRouter(responses=schemas.ERRORS)


@router.get("/healthz", response_model=schemas.Status, tags=["system"], summary="Liveness: no credentials, no data")
async def healthz() -> dict[str, str]:
    """On the event loop: it needs no worker thread, so it answers while every thread waits on a scan."""
    return {"status": "ok"}


@router.get(
    "/api/v1/metrics",
    tags=["system"],
    summary="Prometheus metrics (text format)",
    response_class=Response,
    responses=schemas.file_answer("The metrics, in Prometheus text format", "text/plain"),
    **guard("metrics"),
)
def metrics(m: Metrics, gate: Gate, store: StoreDep) -> Response:
    works, open_jobs = gate.engine.workspace.registry.count(), len(store.jobs.open_jobs())
    body, content_type = render_metrics(m, works, open_jobs)
    return Response(body, media_type=content_type)


@router.get("/api/v1/me", response_model=schemas.Me, tags=["account"], summary="Who am I", **guard("self"))
def me(principal: Caller) -> dict[str, Any]:
    return {"user": principal.user.to_json(), "via": principal.via, "csrf_token": principal.csrf_token or None}


class LanguageChoice(BaseModel):
    language: str = Field(description="en or zh; empty to follow the browser", max_length=8)


@router.put(
    "/api/v1/me/language",
    response_model=schemas.LanguageChosen,
    tags=["account"],
    summary="Choose the interface language",
    **guard("self"),
)
def set_language(choice: LanguageChoice, store: StoreDep, principal: Caller) -> dict[str, Any]:
    if choice.language and choice.language not in LANGUAGES:
        raise HTTPException(422, f"unknown language {choice.language!r}: one of {', '.join(LANGUAGES)}")
    store.accounts.set_language(principal.user.id, choice.language)
    return {"language": choice.language}


class Credentials(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)


def sign_in(
    request: Request,
    response: Response,
    username: str,
    password: str,
    *,
    gate: EngineGate,
    store: Store,
    settings: ServiceSettings,
) -> Session:
    """Check a password, start a session and set its cookie (Secure over https); 401 and an audit entry when wrong.
    Returns the session (its user and CSRF token)."""
    origin = client_address(request)
    user = store.accounts.check_password(username, password)
    if user is None:
        gate.record(Actor(f"user:{username[:64]}", f"http {origin}"), Action.SIGN_IN_FAILED, {})
        raise HTTPException(401, "wrong username or password")
    token, session = store.accounts.start_session(user)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        secure=settings.over_tls(request.url.scheme),
        samesite="strict",
        max_age=SESSION_HOURS * 3600,
        path="/",
    )
    gate.record(Actor(f"user:{user.username}", f"http {origin} (session)"), Action.SIGN_IN, {})
    return session


@router.post(
    "/api/v1/session", response_model=schemas.SignedIn, tags=["account"], summary="Sign in (sets the session cookie)"
)
def create_session(
    credentials: Credentials, request: Request, response: Response, gate: Gate, store: StoreDep, settings: Settings
) -> dict[str, Any]:
    session = sign_in(
        request, response, credentials.username, credentials.password, gate=gate, store=store, settings=settings
    )
    return {"user": session.user.to_json(), "csrf_token": session.csrf_token}


@router.delete("/api/v1/session", response_model=schemas.Status, tags=["account"], summary="Sign out", **guard("self"))
def delete_session(response: Response, store: StoreDep, gate: Gate, principal: Caller) -> dict[str, str]:
    if principal.session_token:
        store.accounts.end_session(principal.session_token)
        gate.record(principal.actor, Action.SIGN_OUT, {})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return {"status": "signed out"}


@router.get(
    "/api/v1/audit",
    response_model=schemas.AuditTrail,
    tags=["audit"],
    summary="The audit trail, newest first",
    **guard("audit"),
)
def audit_trail(gate: Gate, ref: str | None = None, limit: int = 100, offset: int = 0) -> dict[str, Any]:
    limit, offset = max(1, min(limit, 1000)), max(0, offset)
    entries = gate.engine.audit(ref)
    entries.reverse()
    return {"total": len(entries), "entries": entries[offset : offset + limit]}


@router.get(
    "/api/v1/audit/verify",
    response_model=schemas.AuditCheck,
    tags=["audit"],
    summary="Check the audit hash chain",
    **guard("audit"),
)
def audit_verify(gate: Gate) -> dict[str, Any]:
    report = gate.engine.workspace.registry.verify_audit()
    return {
        "intact": report.intact,
        "entries": report.entries,
        "problems": report.problems,
        "head": {"id": report.head[0], "hash": report.head[1]} if report.head else None,
    }
