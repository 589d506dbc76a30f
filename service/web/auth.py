"""Who is asking and what they may do: credentials, roles, the case rule, and CSRF for browser sessions.

Every route states its permission with `guard(...)`; the roles each permission admits are data (`PERMISSIONS`), and
the OpenAPI spec publishes them (`x-permission`, `x-roles`, `x-case`) so the tests can call every operation with
each role it must refuse. The order is fixed: no valid credentials -> 401, a role not admitted -> 403, a case that
is not shared with the caller -> 404, the same answer as for an id that does not exist.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Request

from index.audit import Actor
from service.store import Store
from service.store.accounts import User
from service.store.cases import Case

SESSION_COOKIE = "semblance_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

MAX_ID = 2**63 - 1
"""Ids are SQLite integers: a larger number is a bad request (422), not a server error."""
Id = Annotated[int, Path(ge=1, le=MAX_ID)]

ALL_ROLES = ("admin", "registrar", "investigator", "auditor", "supervisor")
PERMISSIONS: dict[str, tuple[str, ...]] = {
    # Registered works are the office's shared reference: everyone signed in may list and read their records, so
    # an auditor can check what a finding refers to; the original files are for those who compare or register
    # them; only registrars and admins change the reference.
    "works.read": ALL_ROLES,
    "works.download": ("admin", "registrar", "investigator"),
    "works.write": ("admin", "registrar"),
    # Case data is for the investigators it is shared with; not even an admin reads it unshared.
    "cases": ("investigator",),
    # The offender database is built from findings: as confidential as they are, and read by the same people.
    "offenders": ("investigator", "auditor"),
    # The supervision picture is aggregates (counts, rates, names of regions, marketplaces and shops): supervisors
    # read it beside investigators and auditors; the findings behind a row stay behind the rules above (a sweep's
    # for `offenders`, a case's for the investigators it is shared with).
    "supervision": ("investigator", "auditor", "supervisor"),
    "supervision.evidence": ("investigator", "auditor"),
    "audit": ("admin", "auditor"),
    "metrics": ("admin",),
    "accounts": ("admin",),
    "self": ALL_ROLES,
}


@dataclass(frozen=True)
class Principal:
    """A caller with valid credentials: an API key (machines) or a sign-in session (people)."""

    user: User
    via: str
    """"key" or "session"."""
    origin: str
    """The client's address, for the audit trail."""
    key_id: int | None = None
    csrf_token: str = ""
    session_token: str = ""

    @property
    def actor(self) -> Actor:
        how = f"key {self.key_id}" if self.via == "key" else "session"
        return Actor(f"user:{self.user.username}", f"http {self.origin} ({how})")


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def identify(request: Request) -> Principal | None:
    """The caller's principal from `Authorization: Bearer <key>` or the session cookie, or None."""
    store = store_of(request)
    origin = client_address(request)
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None
        found = store.accounts.user_for_key(value.strip())
        return None if found is None else Principal(found[0], "key", origin, key_id=found[1].id)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        session = store.accounts.session(token)
        if session is not None:
            return Principal(session.user, "session", origin, csrf_token=session.csrf_token, session_token=token)
    return None


async def signed_in(request: Request) -> Principal:
    """Dependency: the caller, or 401; a browser session's unsafe request must also carry its CSRF token."""
    principal = identify(request)
    if principal is None:
        raise HTTPException(
            401, "sign in or send an API key (Authorization: Bearer ...)", {"WWW-Authenticate": "Bearer"}
        )
    if principal.via == "session" and request.method in UNSAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent and request.headers.get("content-type", "").startswith(
            ("multipart/form-data", "application/x-www-form-urlencoded")
        ):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else ""
        if not sent or not hmac.compare_digest(sent.encode(), principal.csrf_token.encode()):
            raise HTTPException(403, "the form's CSRF token is missing or stale: reload the page and try again")
    request.state.principal = principal
    return principal


def allowed(principal: Principal, permission: str) -> bool:
    return principal.user.role in PERMISSIONS[permission]


def guard(permission: str, case: bool = False) -> dict[str, Any]:
    """Route keyword arguments: the dependency that admits only `permission`'s roles, and its OpenAPI note."""
    roles = PERMISSIONS[permission]

    async def check(principal: Principal = Depends(signed_in)) -> Principal:
        if principal.user.role not in roles:
            raise HTTPException(403, f"this needs one of the roles {', '.join(roles)}; you are {principal.user.role}")
        return principal

    return {
        "dependencies": [Depends(check)],
        "openapi_extra": {"x-permission": permission, "x-roles": list(roles), "x-case": case},
    }


def caller(request: Request) -> Principal:
    """Dependency for handlers behind `guard`: the principal it admitted."""
    principal: Principal = request.state.principal
    return principal


def case_of(request: Request, case_id: Id) -> Case:
    """The case with this id if it is shared with the caller; 404 otherwise, whether or not it exists."""
    case = store_of(request).cases.visible(case_id, caller(request).user.id)
    if case is None:
        raise HTTPException(404, f"no case {case_id}")
    return case
