"""Setting up a workspace and its works: `init`, `register`, `works list | show | remove`, `info`, `calibrate`, and
`models fetch` (the only command that downloads)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from service.cli.app import (
    STATE,
    ItemTimeoutOption,
    app,
    console,
    engine,
    fail,
    models_app,
    progress,
    works_app,
    workspace,
)
from service.safe_text import cell, markup_safe
from service.time_budget import DEFAULT_ITEM_SECONDS

if TYPE_CHECKING:
    from service.results import RegisterOutcome


@app.command()
def init(
    embedder: Annotated[
        list[str] | None,
        typer.Option(
            "--embedder",
            help="auto | effnet-lite0 | sscd-distilled | sscd | clip:MODEL:TAG_OR_PATH; repeat to enable several.",
        ),
    ] = None,
    max_pixels: Annotated[int, typer.Option(help="Refuse images with more pixels (decompression bombs).")] = 80_000_000,
) -> None:
    """Create a workspace."""
    from service.engine import Engine, EngineError

    try:
        e = Engine.init(STATE["home"], embedder or ["auto"], max_pixels)
    except (EngineError, RuntimeError, OSError) as exc:
        raise fail(str(exc)) from exc
    specs = ", ".join(e.workspace.embedder_specs)
    console.print(f"workspace [bold]{markup_safe(e.workspace.home)}[/] ready; embedders: {markup_safe(specs)}")
    e.close()


@app.command()
def register(
    paths: Annotated[list[str] | None, typer.Argument(help="Image files, folders or .zip archives.")] = None,
    manifest: Annotated[
        str | None,
        typer.Option(
            help="CSV with path, ref[, title, author, rights_holder, registration_no, source_url, categories]."
        ),
    ] = None,
    ref: Annotated[str | None, typer.Option(help="Reference for a single work (default: file name).")] = None,
    title: Annotated[str, typer.Option()] = "",
    author: Annotated[str, typer.Option()] = "",
    rights_holder: Annotated[str, typer.Option("--rights-holder")] = "",
    registration_no: Annotated[str, typer.Option("--registration-no")] = "",
    source_url: Annotated[str, typer.Option("--source-url")] = "",
    categories: Annotated[
        str, typer.Option(help="Priority areas, comma-separated: painting, illustration, photography, ...")
    ] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print outcomes as JSON lines.")] = False,
    item_timeout: ItemTimeoutOption = DEFAULT_ITEM_SECONDS,
) -> None:
    """Register original works (duplicates by SHA-256 are reported, not stored twice). Each outcome is printed as
    soon as it is committed."""
    from service.inputs import InputError, display, expand, from_manifest
    from service.results import WorkMetadata
    from service.usecases.registration import metadata_from_row

    if bool(paths) == bool(manifest):
        raise fail("give image PATHs or --manifest, not both or neither")
    try:
        if manifest:
            items = [(i, metadata_from_row(i.row)) for i in from_manifest(manifest, ("path", "ref"))]
        else:
            found = list(expand(paths or []))
            if ref and len(found) > 1:
                raise fail(f"--ref names one work but {len(found)} files were given")
            # arguments are text a person typed, but bytes that are not UTF-8 must not reach the registry
            t = display
            meta = WorkMetadata(
                t(ref or ""), t(title), t(author), t(rights_holder), t(registration_no), t(source_url), t(categories)
            )
            items = [(i, meta) for i in found]
    except InputError as exc:
        raise fail(str(exc)) from exc
    counts = {"registered": 0, "duplicate": 0, "error": 0}
    try:
        with engine(item_seconds=item_timeout) as e, progress() as bar:
            task = bar.add_task("registering", total=len(items))
            for outcome in e.register_each(items):
                bar.advance(task)
                counts[outcome.status] += 1
                _print_registration(outcome, as_json)
    finally:
        if not as_json:
            done = f"{counts['registered']} registered, {counts['duplicate']} duplicate, {counts['error']} failed"
            console.print(done)


def _print_registration(o: RegisterOutcome, as_json: bool) -> None:
    """One outcome, printed (and flushed) the moment it is known."""
    if as_json:
        print(json.dumps(o.to_json(), ensure_ascii=False), flush=True)
        return
    colours = {"registered": "green", "duplicate": "yellow", "error": "red"}
    line = cell(f"{o.status:<10}", colours[o.status]) + "  " + cell(o.ref or "-") + "  " + cell(o.path)
    if o.message:
        line += cell(f"  ({o.message})", "dim")
    console.print(line, highlight=False, soft_wrap=True)
    console.file.flush()


@works_app.command("list")
def works_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List registered works."""
    with workspace() as ws:
        works = ws.registry.works()
    if as_json:
        print(json.dumps([w.to_json() for w in works], indent=2, ensure_ascii=False))
        return
    table = Table("ref", "title", "author", "rights holder", "size", "sha256", "registered", title="works")
    for w in works:
        table.add_row(
            *map(cell, (w.ref, w.title, w.author, w.rights_holder)),
            f"{w.width}x{w.height}",
            w.sha256[:16] + "…",
            cell(w.registered_at),
        )
    console.print(table)


@works_app.command("show")
def works_show(ref: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show one work's registration record and audit trail."""
    with workspace() as ws:
        w = ws.registry.work_by("ref", ref)
        trail = ws.registry.audit_trail(ref)
        vault = str(ws.vault.path(w.sha256)) if w else ""
    if w is None:
        raise fail(f"no registered work with ref '{ref}'")
    record = {**w.to_json(), "vault_path": vault, "audit": trail}
    if as_json:
        print(json.dumps(record, indent=2, ensure_ascii=False))
        return
    table = Table("field", "value", title=cell(f"work {ref}"), show_header=False)
    for k, v in record.items():
        table.add_row(k, cell(json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v))
    console.print(table)


@works_app.command("remove")
def works_remove(
    ref: str,
    reason: Annotated[str, typer.Option(help="Why it is removed (required): recorded in the audit trail.")] = "",
) -> None:
    """Unregister a work; the audit trail records it and the vault keeps the file. A reason is required, as the API
    requires one: a removal changes what later scans can find."""
    if not reason.strip():
        raise fail(f'works remove {ref}: give --reason "..." (why the work is removed; the audit trail keeps it)')
    with engine() as e:
        removed = e.remove(ref, reason)
    if removed is None:
        raise fail(f"no registered work with ref '{ref}'")
    console.print(
        cell(f"removed '{ref}' (sha256 {removed.sha256}); the audit trail records the removal"), highlight=False
    )


@app.command()
def info(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Workspace, embedders, counts and thresholds."""
    with engine() as e:
        data = e.info()
    if as_json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return
    table = Table("field", "value", title="semblance workspace", show_header=False)
    for k, v in data.items():
        table.add_row(k, cell(json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v))
    console.print(table)


@app.command()
def calibrate(
    manifest: Annotated[
        str | None, typer.Option(help="Labelled CSV (path, role, pair_id: the shared/eval format), not synthetic.")
    ] = None,
    root: Annotated[str | None, typer.Option(help="Folder the manifest's paths are relative to.")] = None,
    negatives: Annotated[
        str | None,
        typer.Option(help="Folder of images unrelated to the works: half the background set, half negatives."),
    ] = None,
    per_work: Annotated[int, typer.Option(min=1, help="Synthetic transformations per registered work.")] = 6,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic transformations.")] = 20261202,
    embedder: Annotated[str | None, typer.Option(help="Enabled embedder to calibrate (default: the primary).")] = None,
) -> None:
    """Fit this workspace's own calibration for an embedder, with measured error rates."""
    from service.calibrate import calibrate as run_calibration
    from service.calibrate import describe_rates

    if manifest and negatives:
        raise fail("give --manifest (its distractors are the negatives) or --negatives, not both")
    for given in (manifest, root, negatives):
        if given and not os.path.exists(given):
            raise fail(f"{given}: not found")
    with engine(embedder) as e, progress() as bar:
        task = bar.add_task("calibrating", total=None)
        outcome = run_calibration(
            e,
            Path(manifest) if manifest else None,
            Path(root) if root else None,
            Path(negatives) if negatives else None,
            per_work,
            seed,
            lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(
        Text(
            f"calibrated {outcome.model.embedder} on {outcome.works} works, {outcome.queries} queries "
            f"({outcome.background_images} background images): {outcome.path}"
        )
    )
    for line in describe_rates(outcome.rates):
        console.print(Text(line))


@models_app.command("fetch")
def models_fetch(
    spec: Annotated[str, typer.Argument(help="clip:MODEL:TAG, e.g. clip:ViT-B-32:laion2b_s34b_b79k")],
) -> None:
    """Download CLIP weights into the local cache (needs internet; nothing else ever downloads)."""
    from detector.embedders import parse_spec, spec_for

    try:
        kind = spec_for(spec)
        _, model, tag = parse_spec(spec)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    if not kind.fetchable:
        console.print(f"{spec} ships with Semblance; nothing to fetch")
        return
    try:
        import open_clip

        open_clip.create_model_and_transforms(model, pretrained=tag)
    except Exception as exc:  # network, unknown tag: say what happened, no traceback
        raise fail(f"could not fetch {spec}: {exc}") from exc
    console.print(f"fetched {spec}; `semblance init --embedder {spec}` can now use it offline")
