"""Users and API keys: admin only, except that every user makes their own API keys (and only their own: an admin
who could mint an investigator's key could read their cases). A key's secret is in the answer that creates it, and
nowhere else ever."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from service.store.accounts import AccountError, NoSuchUser, User
from service.usecases import accounts
from service.usecases.accounts import NotYours
from service.web import schemas
from service.web.auth import Id, guard
from service.web.deps import AuditDep, Caller, StoreDep

router = APIRouter(prefix="/api/v1", tags=["accounts"], responses=schemas.ERRORS)


class NewUser(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    role: str = Field(max_length=20)
    language: str = Field(default="", max_length=8)


class NewRole(BaseModel):
    role: str = Field(max_length=20)


class NewPassword(BaseModel):
    password: str = Field(max_length=1024)


class NewKey(BaseModel):
    user_id: int = Field(ge=1, le=2**63 - 1)
    label: str = Field(default="", max_length=200)


@router.get("/users", response_model=schemas.Users, summary="List users", **guard("accounts"))
def list_users(store: StoreDep) -> dict[str, Any]:
    return {"users": [u.to_json() for u in store.accounts.users()]}


@router.post("/users", status_code=201, response_model=schemas.OneUser, summary="Add a user", **guard("accounts"))
def add_user(body: NewUser, store: StoreDep, audit: AuditDep) -> dict[str, Any]:
    try:
        user = accounts.add_user(store, audit, body.username, body.password, body.role, body.language)
    except AccountError as exc:
        raise HTTPException(422, str(exc)) from exc
    return {"user": user.to_json()}


@router.post(
    "/users/{user_id}/{change}",
    response_model=schemas.OneUser,
    summary="Disable a user (no sign-in; every session and API key they hold ends at once), or enable them again "
    "(without API keys: new ones must be made)",
    **guard("accounts"),
)
def disable_or_enable_user(
    user_id: Id, change: Literal["disable", "enable"], store: StoreDep, audit: AuditDep
) -> dict[str, Any]:
    return {"user": _changed(lambda: accounts.set_disabled(store, audit, user_id, change == "disable")).to_json()}


@router.put("/users/{user_id}/role", response_model=schemas.OneUser, summary="Set a user's role", **guard("accounts"))
def set_role(user_id: Id, body: NewRole, store: StoreDep, audit: AuditDep) -> dict[str, Any]:
    return {"user": _changed(lambda: accounts.set_role(store, audit, user_id, body.role)).to_json()}


@router.put(
    "/users/{user_id}/password",
    response_model=schemas.OneUser,
    summary="Reset a user's password (their sessions end); an investigator's only by them (403 otherwise)",
    **guard("accounts"),
)
def reset_password(
    user_id: Id, body: NewPassword, store: StoreDep, audit: AuditDep, principal: Caller
) -> dict[str, Any]:
    reset = partial(accounts.reset_password, store, audit, user_id, body.password, principal.user)
    return {"user": _changed(reset).to_json()}


def _changed(change: Callable[[], User]) -> User:
    """The user after `change`: 404 for no such user, 422 for a change refused (a short password, an unknown
    role, the last enabled admin)."""
    try:
        return change()
    except NotYours as exc:
        raise HTTPException(403, str(exc)) from exc
    except NoSuchUser as exc:
        raise HTTPException(404, str(exc)) from exc
    except AccountError as exc:
        raise HTTPException(422, str(exc)) from exc


@router.get(
    "/api-keys", response_model=schemas.ApiKeys, summary="List API keys (never their secrets)", **guard("accounts")
)
def list_keys(store: StoreDep) -> dict[str, Any]:
    return {"api_keys": [k.to_json() for k in store.accounts.api_keys()]}


@router.post(
    "/api-keys",
    status_code=201,
    response_model=schemas.NewApiKey,
    summary="Create an API key for yourself from a signed-in session (its secret is shown once); 403 for another "
    "user's or with a key",
    **guard("self"),
)
def create_key(body: NewKey, store: StoreDep, audit: AuditDep, principal: Caller) -> dict[str, Any]:
    if principal.via != "session":  # a leaked key must not mint keys that outlive its revocation
        raise HTTPException(403, "an API key is made from a signed-in session, not with another key")
    try:
        secret, key = accounts.create_key(store, audit, body.user_id, body.label, caller=principal.user)
    except NotYours as exc:
        raise HTTPException(403, str(exc)) from exc
    except AccountError as exc:
        raise HTTPException(404, str(exc)) from exc
    return {"api_key": key.to_json(), "secret": secret, "note": "shown once: store it now"}


@router.delete("/api-keys/{key_id}", response_model=schemas.OneApiKey, summary="Revoke an API key", **guard("accounts"))
def revoke_key(key_id: Id, store: StoreDep, audit: AuditDep) -> dict[str, Any]:
    key = accounts.revoke_key(store, audit, key_id)
    if key is None:
        raise HTTPException(404, f"no API key {key_id}")
    return {"api_key": key.to_json()}
