"""`semblance audit show | verify`: the audit trail, a hash chain of every action."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from service.cli.app import audit_app, console, err, workspace
from service.safe_text import cell


@audit_app.command("show")
def audit_show(
    ref: Annotated[str | None, typer.Option(help="Only the entries of this work's ref.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Every audit entry in order: when, what, which file, who and from where, and its hash."""
    with workspace() as ws:
        trail = ws.registry.audit_trail(ref)
    if as_json:
        print(json.dumps(trail, indent=2, ensure_ascii=False))
        return
    table = Table("id", "at", "action", "ref", "who", "origin", "hash", title="audit trail")
    for t in trail:
        table.add_row(*(cell(str(t[k])) for k in ("id", "at", "action", "ref", "who", "origin")), str(t["hash"])[:12])
    console.print(table)


@audit_app.command("verify")
def audit_verify(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Check the audit trail's hash chain: exit 0 when intact, 1 when an entry was edited, deleted, reordered or cut
    off (each problem is named)."""
    with workspace() as ws:
        chain = ws.registry.verify_audit()
    if as_json:
        print(json.dumps({"intact": chain.intact, "entries": chain.entries, "problems": chain.problems}))
    elif chain.intact:
        head = f"; head: entry {chain.head[0]}, {chain.head[1]}" if chain.head else ""
        console.print(cell(f"audit trail intact: {chain.entries} entries{head}"), highlight=False)
    else:
        for problem in chain.problems:
            err.print(Text("BROKEN: ", style="bold red") + cell(problem), highlight=False)
    if not chain.intact:
        raise typer.Exit(1)
