"""Accounts of the web service: `users add | list | disable | enable | set-role | reset-password` and
`api-keys create | list | revoke`, each change through service.usecases.accounts and audited as the operator."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Annotated

import typer
from rich.table import Table

from index.audit import Audit
from service.cli.app import console, err, fail, keys_app, service_store, users_app
from service.safe_text import cell, markup_safe
from service.store import Store
from service.store.accounts import AccountError, User
from service.usecases import accounts


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
    role: Annotated[str, typer.Option(help="admin | registrar | investigator | auditor | supervisor")],
    language: Annotated[str, typer.Option(help="en | zh (empty: follow the browser)")] = "",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
) -> None:
    """Add a user of the web service (the first admin is made here); the password is asked twice unless piped."""
    password = _password(password_stdin)
    with service_store() as (store, ws):
        try:
            user = accounts.add_user(store, ws.registry.record, username, password, role, language)
        except AccountError as exc:
            raise fail(str(exc)) from exc
    console.print(f"user [bold]{markup_safe(user.username)}[/] added as {user.role} (id {user.id})")


@users_app.command("disable")
def users_disable(username: Annotated[str, typer.Argument(help="The sign-in name.")]) -> None:
    """Disable a user: no sign-in, and every session and API key they hold ends at once (audited). Cases shared
    with them stay readable by the others they are shared with."""
    user = _change(username, lambda store, audit, u: accounts.set_disabled(store, audit, u.id, True))
    console.print(f"user [bold]{markup_safe(user.username)}[/] disabled; their sessions and API keys are ended")


@users_app.command("enable")
def users_enable(username: Annotated[str, typer.Argument(help="The sign-in name.")]) -> None:
    """Enable a disabled user again (without API keys: make new ones)."""
    user = _change(username, lambda store, audit, u: accounts.set_disabled(store, audit, u.id, False))
    console.print(f"user [bold]{markup_safe(user.username)}[/] enabled")


@users_app.command("set-role")
def users_set_role(
    username: Annotated[str, typer.Argument(help="The sign-in name.")],
    role: Annotated[str, typer.Argument(help="admin | registrar | investigator | auditor | supervisor")],
) -> None:
    """Give a user another role, from their next request on (audited)."""
    user = _change(username, lambda store, audit, u: accounts.set_role(store, audit, u.id, role))
    console.print(f"user [bold]{markup_safe(user.username)}[/] is now {user.role}")


@users_app.command("reset-password")
def users_reset_password(
    username: Annotated[str, typer.Argument(help="The sign-in name.")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
) -> None:
    """Set a user's password; every session of theirs ends (audited)."""
    password = _password(password_stdin)
    user = _change(username, lambda store, audit, u: accounts.reset_password(store, audit, u.id, password, None))
    console.print(f"password of [bold]{markup_safe(user.username)}[/] reset; their sessions are ended")


def _named(store: Store, username: str) -> User:
    user = store.accounts.by_name(username)
    if user is None:
        raise fail(f"no user {username!r}: add one with `semblance users add`")
    return user


def _change(username: str, change: Callable[[Store, Audit, User], User]) -> User:
    """Apply one account change to the user named `username`, audited as the operator; a refusal is a clear error."""
    with service_store() as (store, ws):
        user = _named(store, username)
        try:
            return change(store, ws.registry.record, user)
        except AccountError as exc:
            raise fail(f"{username}: {exc}") from exc


@users_app.command("list")
def users_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the web service's users."""
    with service_store(only_reads=True) as (store, _):
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
        user = _named(store, username)
        try:
            secret, key = accounts.create_key(store, ws.registry.record, user.id, label, caller=None)
        except AccountError as exc:
            raise fail(f"{username}: {exc}") from exc
    err.print(f"API key {key.id} for {markup_safe(user.username)} ({user.role}); shown once, store it now:")
    print(secret)


@keys_app.command("list")
def api_keys_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List API keys (never their secrets)."""
    with service_store(only_reads=True) as (store, _):
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
        key = accounts.revoke_key(store, ws.registry.record, key_id)
        if key is None:
            raise fail(f"no API key {key_id}")
    console.print(f"API key {key.id} revoked")
