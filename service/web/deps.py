"""What a route handler needs, as typed FastAPI dependencies: the app's gate, store, settings, metrics and runner,
the admitted caller, the audit trail as that caller writes it, and the case; handlers declare them by type instead
of reaching into `request.app.state`."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import Depends, Request

from index.audit import Audit
from service.gate import EngineGate
from service.store import Store
from service.store.cases import Case
from service.web.auth import Principal, caller, case_of, store_of
from service.web.jobs import JobRunner
from service.web.metrics import ServiceMetrics
from service.web.settings import ServiceSettings

# The providers are async only so that FastAPI calls them on the event loop: a plain `def` dependency is run in the
# thread pool, a thread hop per dependency per request for a mere attribute read.


async def _gate(request: Request) -> EngineGate:
    gate: EngineGate = request.app.state.gate
    return gate


async def _store(request: Request) -> Store:
    return store_of(request)


async def _settings(request: Request) -> ServiceSettings:
    settings: ServiceSettings = request.app.state.settings
    return settings


async def _metrics(request: Request) -> ServiceMetrics:
    metrics: ServiceMetrics = request.app.state.metrics
    return metrics


async def _runner(request: Request) -> JobRunner:
    runner: JobRunner = request.app.state.runner
    return runner


Gate = Annotated[EngineGate, Depends(_gate)]
StoreDep = Annotated[Store, Depends(_store)]
Settings = Annotated[ServiceSettings, Depends(_settings)]
Metrics = Annotated[ServiceMetrics, Depends(_metrics)]
Runner = Annotated[JobRunner, Depends(_runner)]
Caller = Annotated[Principal, Depends(caller)]
"""The principal that the route's `guard` admitted."""
CaseDep = Annotated[Case, Depends(case_of)]
"""The case in the path, if it is shared with the caller (404 otherwise)."""


async def _audit(gate: Gate, principal: Caller) -> Audit:
    return partial(gate.record, principal.actor)


AuditDep = Annotated[Audit, Depends(_audit)]
"""Writes an audit entry attributed to the admitted caller (what a use case takes as its `audit`)."""
