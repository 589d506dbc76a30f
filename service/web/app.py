"""`create_app`: the FastAPI app over one workspace, with its store, engine gate, job runner and middleware.

A request passes, outermost first: the body cap (413), the rate limits (429), security headers and metrics, then
the route, whose `guard` checks credentials (401), role (403) and case (404) before the handler runs. Every error
leaves as JSON `{"error": ...}`; a handler that fails unexpectedly is logged and answered 500, which the tests
(schemathesis included) require never to happen.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from detector import __version__
from service.engine import Engine, EngineError
from service.gate import EngineGate
from service.scan_pool import PoolBusy, ScanPool
from service.store import Store
from service.store.accounts import dummy_hash
from service.web.api import accounts, cases, offenders, supervision, system, works
from service.web.jobs import JobRunner
from service.web.limits import BodyCap, CredentialsFirst, RateLimit
from service.web.metrics import ServiceMetrics
from service.web.settings import ServiceSettings

log = logging.getLogger("semblance.web")

HSTS = "max-age=31536000"
"""Sent over TLS only (RFC 6797 ignores it over plain HTTP); no includeSubDomains: the office's other hosts are not
ours to bind."""
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; "
        "form-action 'self'; base-uri 'none'"
    ),
}


def create_app(settings: ServiceSettings, engine: Engine | None = None) -> FastAPI:
    """The app for the workspace at `settings.home`; `engine` may be given already open (tests, `serve`)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = engine or Engine.open(str(settings.home))
        opened.item_seconds = settings.item_seconds
        pool = None
        if settings.scan_workers > 0:
            pool = ScanPool(settings.home, settings.scan_workers, opened.embedder_spec, settings.item_seconds,
                            settings.scan_queue)  # fmt: skip
        app.state.gate = EngineGate(opened, pool)
        app.state.store = Store.open(settings.home)
        await run_in_threadpool(dummy_hash)
        app.state.runner = JobRunner(app.state.store, app.state.gate, app.state.metrics)
        app.state.runner.start()
        try:
            yield
        finally:
            app.state.runner.stop()
            app.state.store.close()
            if engine is None:
                app.state.gate.close()
            elif pool is not None:
                pool.close()

    app = FastAPI(
        title="Semblance",
        version=__version__,
        description="Register original works, scan suspect images in cases, and download evidence reports. "
        "Authenticate with `Authorization: Bearer <API key>` or a sign-in session (POST /api/v1/session).",
        lifespan=lifespan,
        docs_url=None,  # Swagger UI and ReDoc load their scripts from a CDN: an offline office has none
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = ServiceMetrics()
    for router in (system.router, accounts.router, works.router, cases.router, offenders.router, supervision.router):
        app.include_router(router)
    from service.web import pages, supervision_pages

    app.include_router(pages.router)
    app.include_router(supervision_pages.router)
    pages.mount_static(app)
    _errors(app)

    @app.middleware("http")
    async def headers_and_metrics(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        t0 = time.perf_counter()
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        if settings.over_tls(request.url.scheme):  # browsers then refuse plain HTTP to this server for a year
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        m: ServiceMetrics = app.state.metrics
        m.requests.labels(request.method, path, str(response.status_code)).inc()
        m.latency.labels(path).observe(time.perf_counter() - t0)
        return response

    app.add_middleware(CredentialsFirst)  # inside the rate limit: a flood of bad keys is cut off before a lookup
    app.add_middleware(RateLimit, per_minute=settings.rate_per_minute, sign_in_per_minute=settings.sign_in_per_minute)
    app.add_middleware(BodyCap, max_bytes=settings.max_upload_bytes)
    return app


def _errors(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details: list[dict[str, Any]] = [
            {"where": ".".join(str(p) for p in e.get("loc", ())), "problem": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        summary = "; ".join(f"{d['where']}: {d['problem']}" for d in details[:5])
        return JSONResponse({"error": f"invalid request: {summary}", "details": details}, 422)

    @app.exception_handler(PoolBusy)
    async def busy(request: Request, exc: PoolBusy) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, 503, headers={"Retry-After": str(exc.retry_after_s)})

    @app.exception_handler(EngineError)
    async def engine_error(request: Request, exc: EngineError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, 409)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"error": "internal error: it is logged on the server"}, 500)
