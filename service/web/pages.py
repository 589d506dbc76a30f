"""The web UI: server-rendered pages (Jinja2) over the same store, guards and engine as the JSON API.

Pages read through the stores and `auth.PERMISSIONS` exactly as the API does; forms post back here with the
session's CSRF token, and uploads go from the page's small script straight to the API (with progress). Pictures
are shown re-encoded by the server (never the untrusted bytes as received), at most DISPLAY_SIDE pixels a side.
"""

from __future__ import annotations

import hmac
import io
import secrets
import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from PIL import Image
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from detector.intake import IntakeError, decode_image
from index.audit import Action
from service import i18n
from service.reports.wording import basis, verbal
from service.safe_text import printable
from service.store import Store
from service.store.cases import Case, CaseError
from service.usecases import casework
from service.web.api.system import sign_in
from service.web.api.works import matching
from service.web.auth import CSRF_FIELD, PERMISSIONS, SESSION_COOKIE, Id, Principal, identify
from service.web.deps import Gate, Settings, StoreDep
from service.web.settings import ServiceSettings

HERE = Path(__file__).parent
DISPLAY_SIDE = 1200
"""Longest side of a picture shown in a page: enough to judge a match on a large screen, small enough to be quick."""
VERDICT_LABELS = {"copy": "copy", "derivative": "derivative", "no_match": "no match", "error": "unreadable"}
"""Verdicts as a person reads them (the JSON keeps its names); translated through the catalogue like any text."""
HOME_PAGE = {
    "investigator": "/cases",
    "registrar": "/works",
    "auditor": "/audit",
    "admin": "/works",
    "supervisor": "/supervision",
}
LOGIN_COOKIE = "semblance_login"
router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.finalize = lambda v: printable(v, keep_lines=True) if type(v) is str else v
"""Every text a page prints shows control and bidi characters as visible escapes (a case title with U+202E cannot
reverse what the page says); markup the code made (Markup) is left as it is, and autoescaping follows."""


class PageRefused(Exception):
    """A page that cannot be shown to this person: sign in first (401) or not for their role (403), or not found."""

    def __init__(self, status: int, message: str = "") -> None:
        self.status = status
        self.message = message


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(PageRefused)
    async def refused(request: Request, exc: PageRefused) -> Response:
        if exc.status == 401:
            return RedirectResponse(f"/login?next={quote(request.url.path)}", 303)
        principal = identify(request)
        if principal is not None and principal.via != "session":
            principal = None
        return render(request, "error.html", principal, {"status": exc.status, "message": exc.message}, exc.status)


def language(request: Request, principal: Principal | None) -> str:
    """The switch this browser last used (cookie), else the account's saved language, else the browser's."""
    saved = principal.user.language if principal else ""
    return i18n.choose(request.cookies.get(i18n.COOKIE) or "", saved, request.headers.get("accept-language", ""))


def render(
    request: Request, template: str, principal: Principal | None, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    lang = language(request, principal)
    role = principal.user.role if principal else ""
    translate = i18n.translator(lang)
    base = {
        "request": request,
        "_": translate,
        "verdict": lambda v: translate(VERDICT_LABELS.get(v or "error", str(v))),
        "lang": lang,
        "html_lang": "zh-Hans" if lang == "zh" else "en",
        "languages": i18n.LANGUAGE_NAMES,
        "principal": principal,
        "csrf": principal.csrf_token if principal else "",
        "csrf_field": CSRF_FIELD,
        "may": {p: role in roles for p, roles in PERMISSIONS.items()},
        "path": request.url.path,
    }
    response = templates.TemplateResponse(request, template, base | context, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def person(request: Request, permission: str) -> Principal:
    """The signed-in person if their role has `permission` (a page's guard: sign-in page, or 403 page)."""
    principal = identify(request)
    if principal is None or principal.via != "session":
        raise PageRefused(401)
    if principal.user.role not in PERMISSIONS[permission]:
        raise PageRefused(403, i18n.translator(language(request, principal))("This page is not for your role."))
    return principal


async def checked_form(request: Request, principal: Principal) -> dict[str, str]:
    """A posted form's fields, after checking its CSRF token against the session's."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    if fields.get(CSRF_FIELD) != principal.csrf_token:
        raise PageRefused(403, "The form's security token is stale: reload the page and try again.")
    return fields


def visible_case(store: Store, principal: Principal, case_id: int) -> Case:
    case = store.cases.visible(case_id, principal.user.id)
    if case is None:
        raise PageRefused(404, f"No case {case_id}.")
    return case


def local(path: str | None, fallback: str) -> str:
    """Only a plain path on this server is followed after sign-in or a language change (no open redirect): one
    slash first, then no second slash or backslash, and no control or space characters a browser would drop."""
    if not path or not path.startswith("/") or path[1:2] in ("/", "\\"):
        return fallback
    if "\\" in path or any(c.isspace() or unicodedata.category(c)[0] == "C" for c in path):
        return fallback
    return path


# -- sign-in, sign-out, language --------------------------------------------------------------------
@router.get("/")
def home(request: Request) -> Response:
    principal = identify(request)
    if principal is None or principal.via != "session":
        return RedirectResponse("/login", 303)
    return RedirectResponse(HOME_PAGE[principal.user.role], 303)


def login_form(
    request: Request, settings: ServiceSettings, next: str, error: str = "", status: int = 200
) -> HTMLResponse:
    """The sign-in page with a fresh pre-session CSRF token, also set as a cookie (double submit): a sign-in form
    posted from another site carries no matching pair, so nobody can be signed into someone else's account."""
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", None, {"next": next, "error": error, "login_token": token}, status)
    secure = settings.over_tls(request.url.scheme)
    response.set_cookie(
        LOGIN_COOKIE, token, httponly=True, secure=secure, samesite="strict", max_age=3600, path="/login"
    )
    return response


@router.get("/login")
def login_page(request: Request, settings: Settings, next: str = "") -> Response:
    return login_form(request, settings, local(next, ""))


@router.post("/login")
async def login(request: Request, gate: Gate, store: StoreDep, settings: Settings) -> Response:
    form = await request.form()
    username, password = str(form.get("username", ""))[:64], str(form.get("password", ""))[:1024]
    target = local(str(form.get("next", "")), "")
    _ = i18n.translator(language(request, None))
    sent, expected = str(form.get("login_token", "")), request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        return login_form(request, settings, target, _("The sign-in form had expired: please sign in again."), 403)
    response = RedirectResponse(target or "/", 303)  # percent-encodes whatever the path holds
    try:
        # argon2 off the event loop
        await run_in_threadpool(
            sign_in, request, response, username, password, gate=gate, store=store, settings=settings
        )
    except HTTPException:
        return login_form(request, settings, target, _("Wrong username or password."), 401)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request, gate: Gate, store: StoreDep) -> Response:
    principal = person(request, "self")
    await checked_form(request, principal)
    store.accounts.end_session(principal.session_token)
    gate.record(principal.actor, Action.SIGN_OUT, {})
    response = RedirectResponse("/login", 303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/language/{code}")
def set_language(code: str, request: Request, settings: Settings, next: str = "/") -> Response:
    if code not in i18n.LANGUAGES:
        raise PageRefused(404, f"No language {code}.")
    response = RedirectResponse(local(next, "/"), 303)
    secure = settings.over_tls(request.url.scheme)
    response.set_cookie(i18n.COOKIE, code, max_age=365 * 86400, secure=secure, samesite="lax", path="/")
    return response  # the account's saved language changes only by PUT /api/v1/me/language (not by a link)


# -- cases --------------------------------------------------------------------------------------------
@router.get("/cases")
def cases_page(request: Request, store: StoreDep) -> Response:
    principal = person(request, "cases")
    rows = [(c, store.findings.counts(c.id)) for c in store.cases.of_user(principal.user.id)]
    return render(request, "cases.html", principal, {"cases": rows, "error": ""})


@router.post("/cases")
async def create_case(request: Request, gate: Gate, store: StoreDep) -> Response:
    principal = person(request, "cases")
    form = await checked_form(request, principal)
    number, title, region = form.get("number", ""), form.get("title", ""), form.get("region", "")[:200]
    try:
        case = casework.open_case(gate, store, principal.actor, principal.user.id, number, title, region)
    except CaseError as exc:
        rows = [(c, store.findings.counts(c.id)) for c in store.cases.of_user(principal.user.id)]
        return render(request, "cases.html", principal, {"cases": rows, "error": str(exc)}, 422)
    return RedirectResponse(f"/cases/{case.id}", 303)


@router.get("/cases/{case_id}")
def case_page(case_id: Id, request: Request, store: StoreDep) -> Response:
    principal = person(request, "cases")
    case = visible_case(store, principal, case_id)
    findings = store.findings.of_case(case.id)
    jobs = [j for j in store.jobs.of_case(case.id) if j.state in ("queued", "running")]
    return render(
        request,
        "case.html",
        principal,
        {"case": case, "findings": findings, "jobs": jobs, "counts": store.findings.counts(case.id), "error": ""},
    )


@router.post("/cases/{case_id}/share")
async def share_case(case_id: Id, request: Request, gate: Gate, store: StoreDep) -> Response:
    principal = person(request, "cases")
    case = visible_case(store, principal, case_id)
    form = await checked_form(request, principal)
    try:
        casework.share_case(gate, store, principal.actor, case, form.get("username", ""), principal.user.id)
    except CaseError as exc:
        raise PageRefused(422, "Cases are shared with investigators: no investigator has that username.") from exc
    return RedirectResponse(f"/cases/{case.id}", 303)


@router.post("/cases/{case_id}/close")
async def close_case(case_id: Id, request: Request, gate: Gate, store: StoreDep) -> Response:
    principal = person(request, "cases")
    case = visible_case(store, principal, case_id)
    await checked_form(request, principal)
    casework.close_case(gate, store, principal.actor, case, principal.user.id)
    return RedirectResponse(f"/cases/{case.id}", 303)


@router.get("/cases/{case_id}/findings/{finding_id}")
def finding_page(case_id: Id, finding_id: Id, request: Request, gate: Gate, store: StoreDep) -> Response:
    principal = person(request, "cases")
    case = visible_case(store, principal, case_id)
    finding = store.findings.in_case(case.id, finding_id)
    if finding is None:
        raise PageRefused(404, f"No finding {finding_id}.")
    engine = gate.engine
    _ = i18n.translator(language(request, principal))
    matches = []
    for m in finding.result.get("matches") or []:
        work = engine.work(m["ref"])
        matches.append(
            {
                **m,
                "work": work,
                "verbal": _(verbal(m["verdict"], float(m["score"]))) + _("."),
                "basis": _(basis(m.get("score_basis", "combined"))),
                "points": _points(m.get("region")),
                "reference_points": _points(m.get("reference_region")),
                "placement": _placement(m.get("region"), m.get("reference_region"), work),
            }
        )
    return render(request, "finding.html", principal, {"case": case, "finding": finding, "matches": matches})


def _points(polygon: list[list[float]] | None) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in polygon) if polygon else ""


def _placement(region: list[list[float]] | None, reference: list[list[float]] | None, work: Any) -> str:
    """An SVG transform laying the original over the suspect so that its matched region's bounding box covers the
    suspect's (a collage panel, a crop); the whole suspect when no region was matched. For the compare slider: the
    exact correspondence is drawn in the report's figures."""
    if work is None or not region or not reference:
        return ""
    (rx0, ry0), (rx1, ry1) = _box(region)
    (ox0, oy0), (ox1, oy1) = _box(reference)
    if ox1 - ox0 < 1 or oy1 - oy0 < 1:
        return ""
    sx, sy = (rx1 - rx0) / (ox1 - ox0), (ry1 - ry0) / (oy1 - oy0)
    return f"translate({rx0 - ox0 * sx:.2f} {ry0 - oy0 * sy:.2f}) scale({sx:.5f} {sy:.5f})"


def _box(polygon: list[list[float]]) -> tuple[tuple[float, float], tuple[float, float]]:
    xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
    return (min(xs), min(ys)), (max(xs), max(ys))


# -- pictures ---------------------------------------------------------------------------------------
@router.get("/pictures/cases/{case_id}/findings/{finding_id}.jpg")
def suspect_picture(case_id: Id, finding_id: Id, request: Request, gate: Gate, store: StoreDep) -> Response:
    principal = person(request, "cases")
    case = visible_case(store, principal, case_id)
    finding = store.findings.in_case(case.id, finding_id)
    if finding is None:
        raise PageRefused(404, f"No finding {finding_id}.")
    return _picture(store.findings.data(finding.suspect), finding.suspect.name, gate.engine.workspace.max_pixels)


@router.get("/pictures/works/{ref}.jpg")
def work_picture(ref: str, request: Request, gate: Gate) -> Response:
    person(request, "works.download")
    engine = gate.engine
    work = engine.work(ref)
    if work is None:
        raise PageRefused(404, f"No work {ref}.")
    return _picture(engine.workspace.vault.read(work.sha256), work.original_name, engine.workspace.max_pixels)


def _picture(data: bytes, name: str, max_pixels: int) -> Response:
    """A JPEG of the picture as decoded (orientation applied, transparency flattened), re-encoded by the server."""
    try:
        image = decode_image(data, name, max_pixels)
    except IntakeError as exc:
        raise PageRefused(422, str(exc)) from exc
    pil = Image.fromarray(np.ascontiguousarray(image.rgb))
    pil.thumbnail((DISPLAY_SIDE, DISPLAY_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    pil.save(buf, "JPEG", quality=88)
    return Response(buf.getvalue(), media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


# -- works and audit --------------------------------------------------------------------------------
@router.get("/works")
def works_page(request: Request, gate: Gate, q: str = "", page: int = 1) -> Response:
    principal = person(request, "works.read")
    per_page = 24
    works = matching(gate.engine.works(), q)
    page = max(1, page)
    pages = max(1, -(-len(works) // per_page))
    shown = works[(page - 1) * per_page : page * per_page]
    return render(
        request, "works.html", principal, {"works": shown, "q": q, "page": page, "pages": pages, "total": len(works)}
    )


@router.get("/audit")
def audit_page(request: Request, gate: Gate, page: int = 1) -> Response:
    principal = person(request, "audit")
    engine = gate.engine
    entries = engine.audit(None)
    entries.reverse()
    per_page = 100
    page = max(1, page)
    pages = max(1, -(-len(entries) // per_page))
    report = engine.workspace.registry.verify_audit()
    return render(
        request,
        "audit.html",
        principal,
        {"entries": entries[(page - 1) * per_page : page * per_page], "page": page, "pages": pages, "chain": report},
    )
