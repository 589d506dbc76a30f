"""Accounts of the web service: `users add | list` and `api-keys create | list | revoke`."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from index.audit import Action
from service.cli.app import console, err, fail, keys_app, service_store, users_app
from service.safe_text import cell, markup_safe


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise fail("the two passwords differ")
    return first


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="The sign-in name.")],
    role: Annotated[str, typer.Option(help="admin | registrar | investigator | auditor")],
    language: Annotated[str, typer.Option(help="en | zh (empty: follow the browser)")] = "",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
) -> None:
    """Add a user of the web service (the first admin is made here); the password is asked twice unless piped."""
    from service.store.accounts import AccountError

    password = _password(password_stdin)
    with service_store() as (store, ws):
        try:
            user = store.accounts.add_user(username, password, role, language)
        except AccountError as exc:
            raise fail(str(exc)) from exc
        ws.registry.record(Action.USER_ADDED, {"username": user.username, "role": user.role})
    console.print(f"user [bold]{markup_safe(user.username)}[/] added as {user.role} (id {user.id})")


@users_app.command("list")
def users_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the web service's users."""
    with service_store() as (store, _):
        users = [u.to_json() for u in store.accounts.users()]
    if as_json:
        print(json.dumps(users, indent=2, ensure_ascii=False))
        return
    table = Table("id", "username", "role", "language", "created")
    for u in users:
        table.add_row(str(u["id"]), cell(str(u["username"])), str(u["role"]), str(u["language"]), str(u["created_at"]))
    console.print(table)


@keys_app.command("create")
def api_keys_create(
    username: Annotated[str, typer.Argument(help="The user the key acts as (its role applies).")],
    label: Annotated[str, typer.Option(help="What the key is for.")] = "",
) -> None:
    """Create an API key for a user; its secret is printed this once and stored only as a hash."""
    with service_store() as (store, ws):
        user = store.accounts.by_name(username)
        if user is None:
            raise fail(f"no user {username!r}: add one with `semblance users add`")
        secret, key = store.accounts.create_key(user.id, label)
        ws.registry.record(Action.API_KEY_CREATED, {"key_id": key.id, "user_id": user.id, "label": label})
    err.print(f"API key {key.id} for {markup_safe(user.username)} ({user.role}); shown once, store it now:")
    print(secret)


@keys_app.command("list")
def api_keys_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List API keys (never their secrets)."""
    with service_store() as (store, _):
        keys = [k.to_json() for k in store.accounts.api_keys()]
    if as_json:
        print(json.dumps(keys, indent=2, ensure_ascii=False))
        return
    table = Table("id", "user", "prefix", "label", "created", "revoked")
    for k in keys:
        columns = ("id", "user_id", "prefix", "label", "created_at", "revoked_at")
        table.add_row(*(cell(str(k[c] or "")) for c in columns))
    console.print(table)


@keys_app.command("revoke")
def api_keys_revoke(key_id: Annotated[int, typer.Argument(help="The key's id (from `api-keys list`).")]) -> None:
    """Revoke an API key at once."""
    with service_store() as (store, ws):
        key = store.accounts.revoke_key(key_id)
        if key is None:
            raise fail(f"no API key {key_id}")
        ws.registry.record(Action.API_KEY_REVOKED, {"key_id": key.id, "user_id": key.user_id})
    console.print(f"API key {key.id} revoked")
