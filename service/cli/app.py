"""The command-line door: the Typer app and its command groups, the global `--home` option, and what every
command group uses (the error exit, notices, the workspace's engine and service store, the progress bar)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from service.safe_text import cell, markup_safe
from service.time_budget import DEFAULT_ITEM_SECONDS

if TYPE_CHECKING:
    from index.workspace import Workspace
    from service.engine import Engine
    from service.store import Store

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Register original works and scan suspect images for copies, crops, collages and AI re-renderings of them.",
)
works_app = typer.Typer(no_args_is_help=True, help="List, show and remove registered works.")
models_app = typer.Typer(no_args_is_help=True, help="Manage embedder weights (the only command that downloads).")
audit_app = typer.Typer(no_args_is_help=True, help="Show and verify the audit trail (a hash chain of every action).")
app.add_typer(works_app, name="works")
app.add_typer(audit_app, name="audit")
app.add_typer(models_app, name="models")
users_app = typer.Typer(no_args_is_help=True, help="Users of the web service (`semblance serve`).")
keys_app = typer.Typer(no_args_is_help=True, help="API keys for machines using the web service.")
supervision_app = typer.Typer(
    no_args_is_help=True, help="The supervision picture: regions, entities, priority areas and their trends."
)
app.add_typer(supervision_app, name="supervision")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="api-keys")

console = Console()
err = Console(stderr=True)
STATE: dict[str, str | None] = {"home": None}

UNTRUSTED_KEY_EXIT = 3
"""`verify-report` exit code for a bundle whose signature is valid but whose key nobody vouched for."""

ItemTimeoutOption = Annotated[
    float,
    typer.Option(
        "--item-timeout", min=0, help="Seconds one input may take before it is reported as an error (0: no limit)."
    ),
]


@app.callback()
def _main(
    home: Annotated[
        str | None, typer.Option("--home", envvar="SEMBLANCE_HOME", help="Workspace folder (default ./semblance-data).")
    ] = None,
) -> None:
    STATE["home"] = home


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print `message` (data in it is never taken as markup) and return the exit to raise."""
    err.print(f"[bold red]error:[/] {markup_safe(message)}", highlight=False)
    return typer.Exit(code)


def notice(message: str) -> None:
    err.print(Text("note: ", style="yellow") + cell(message), highlight=False)


@contextmanager
def engine(embedder: str | None = None, item_seconds: float = DEFAULT_ITEM_SECONDS) -> Iterator[Engine]:
    """The workspace's engine; a read-only workspace is stated once, and waits for its lock are announced. The
    engine (and the model stacks it brings) is imported here, by the commands that scan or register, not by
    `--help` or the commands that only read records (`workspace`)."""
    from index.workspace import WorkspaceError
    from service.engine import Engine, EngineError

    try:
        e = Engine.open(STATE["home"], embedder)
    except EngineError as exc:
        raise fail(str(exc)) from exc
    e.workspace.notify = notice
    e.item_seconds = item_seconds or None
    if e.workspace.read_only is not None:
        notice(e.workspace.read_only_notice())
    try:
        yield e
    except (EngineError, WorkspaceError) as exc:  # WorkspaceError: a write refused in a read-only workspace
        raise fail(str(exc)) from exc
    finally:
        e.close()


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


@contextmanager
def workspace() -> Iterator[Workspace]:
    """The workspace's records (registry, vault, audit trail) without the engine: what `works list | show`, `audit`
    and `offenders` read, so they start without importing a model stack."""
    from index.workspace import Workspace, WorkspaceError, resolve_home

    try:
        ws = Workspace(resolve_home(STATE["home"]))
    except WorkspaceError as exc:
        raise fail(str(exc)) from exc
    if ws.read_only is not None:  # stated once, as the engine states it
        notice(ws.read_only_notice())
    try:
        yield ws
    finally:
        ws.close()


@contextmanager
def service_store(only_reads: bool = False) -> Iterator[tuple[Store, Workspace]]:
    """The workspace's service store (users, keys, cases, sweeps) and the workspace. A read-only workspace is refused
    unless the command `only_reads` (offenders, listings of users and keys, the supervision picture): those open the
    store read-only, as the registry's readers do."""
    from index.workspace import Workspace, WorkspaceError, resolve_home
    from service.store import DATABASE_NAME, Store
    from service.store.database import StoreVersionError

    try:
        ws = Workspace(resolve_home(STATE["home"]))
    except WorkspaceError as exc:
        raise fail(str(exc)) from exc
    if ws.read_only is not None:
        if not only_reads:
            ws.close()
            raise fail(ws.read_only_notice())
        notice(ws.read_only_notice())
        if not (ws.home / DATABASE_NAME).is_file():
            ws.close()
            raise fail(f"{ws.home}: no server or sweep has recorded anything in this workspace yet, nothing to read")
    try:
        store = Store.open(ws.home, read_only=ws.read_only is not None)
    except (StoreVersionError, OSError, sqlite3.Error) as exc:
        ws.close()
        raise fail(f"{ws.home}: cannot open the service store ({exc})") from exc
    try:
        yield store, ws
    finally:
        store.close()
        ws.close()
