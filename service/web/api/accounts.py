"""Users and API keys: admin only. A key's secret is in the answer that creates it, and nowhere else ever."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from index.audit import Action
from service.store.accounts import AccountError
from service.web import schemas
from service.web.auth import Id, guard
from service.web.deps import Caller, Gate, StoreDep

router = APIRouter(prefix="/api/v1", tags=["accounts"], responses=schemas.ERRORS)


class NewUser(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    role: str = Field(max_length=20)
    language: str = Field(default="", max_length=8)


class NewKey(BaseModel):
    user_id: int = Field(ge=1, le=2**63 - 1)
    label: str = Field(default="", max_length=200)


@router.get("/users", response_model=schemas.Users, summary="List users", **guard("accounts"))
def list_users(store: StoreDep) -> dict[str, Any]:
    return {"users": [u.to_json() for u in store.accounts.users()]}


@router.post("/users", status_code=201, response_model=schemas.OneUser, summary="Add a user", **guard("accounts"))
def add_user(body: NewUser, store: StoreDep, gate: Gate, principal: Caller) -> dict[str, Any]:
    try:
        user = store.accounts.add_user(body.username, body.password, body.role, body.language)
    except AccountError as exc:
        raise HTTPException(422, str(exc)) from exc
    gate.record(principal.actor, Action.USER_ADDED, {"username": user.username, "role": user.role})
    return {"user": user.to_json()}


@router.get(
    "/api-keys", response_model=schemas.ApiKeys, summary="List API keys (never their secrets)", **guard("accounts")
)
def list_keys(store: StoreDep) -> dict[str, Any]:
    return {"api_keys": [k.to_json() for k in store.accounts.api_keys()]}


@router.post(
    "/api-keys",
    status_code=201,
    response_model=schemas.NewApiKey,
    summary="Create an API key (its secret is shown once)",
    **guard("accounts"),
)
def create_key(body: NewKey, store: StoreDep, gate: Gate, principal: Caller) -> dict[str, Any]:
    try:
        secret, key = store.accounts.create_key(body.user_id, body.label)
    except AccountError as exc:
        raise HTTPException(404, str(exc)) from exc
    gate.record(principal.actor, Action.API_KEY_CREATED, {"key_id": key.id, "user_id": key.user_id, "label": key.label})
    return {"api_key": key.to_json(), "secret": secret, "note": "shown once: store it now"}


@router.delete("/api-keys/{key_id}", response_model=schemas.OneApiKey, summary="Revoke an API key", **guard("accounts"))
def revoke_key(key_id: Id, store: StoreDep, gate: Gate, principal: Caller) -> dict[str, Any]:
    key = store.accounts.revoke_key(key_id)
    if key is None:
        raise HTTPException(404, f"no API key {key_id}")
    gate.record(principal.actor, Action.API_KEY_REVOKED, {"key_id": key.id, "user_id": key.user_id})
    return {"api_key": key.to_json()}
