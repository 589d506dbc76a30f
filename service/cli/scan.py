"""`semblance scan`: suspects in, verdicts out (a table, or JSON lines whose fields are a public contract)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer
from rich.table import Table

from service.cli.app import ItemTimeoutOption, app, console, engine, fail, progress
from service.safe_text import cell
from service.time_budget import DEFAULT_ITEM_SECONDS

if TYPE_CHECKING:  # the engine and its inputs load with the scan, not with `semblance --help`
    from service.inputs import InputItem
    from service.results import ScanResult


@app.command()
def scan(
    paths: Annotated[list[str] | None, typer.Argument(help="Suspect files, folders or .zip archives.")] = None,
    manifest: Annotated[str | None, typer.Option(help="CSV with a `path` column.")] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Matches to report per suspect.")] = 5,
    jsonl: Annotated[
        str | None,
        typer.Option(help="Write one JSON line per suspect to this new file ('-': stdout); never over an input."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Let --jsonl replace an existing file.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array instead of tables.")] = False,
    near_misses: Annotated[bool, typer.Option("--near-misses", help="Also list candidates judged no_match.")] = False,
    embedder: Annotated[str | None, typer.Option(help="Embedder to query with (must be enabled).")] = None,
    all_files: Annotated[
        bool, typer.Option("--all-files", help="In folders, try every file, not just image suffixes.")
    ] = False,
    item_timeout: ItemTimeoutOption = DEFAULT_ITEM_SECONDS,
) -> None:
    """Scan suspect images against the registered works."""
    from index.audit import Action
    from service.inputs import InputError, expand, from_manifest

    if bool(paths) == bool(manifest):
        raise fail("give suspect PATHs or --manifest, not both or neither")
    try:
        items: list[InputItem] = list(from_manifest(manifest)) if manifest else list(expand(paths or [], all_files))
    except InputError as exc:
        raise fail(str(exc)) from exc
    if jsonl and jsonl != "-":
        _check_output(jsonl, items, [manifest] if manifest else [], force)
    results: list[ScanResult] = []
    sink: TextIO | None = None
    try:
        with engine(embedder, item_timeout) as e, progress() as bar:
            _ = e.calibration  # no calibration, no scan: refused before the output file is made
            if jsonl:  # opened only now: arguments and workspace are valid, so a failed command truncates nothing
                sink = sys.stdout if jsonl == "-" else open(jsonl, "w" if force else "x", encoding="utf-8")  # noqa: SIM115
            task = bar.add_task("scanning", total=len(items))
            for r in e.scan_many(items, top, near_misses):
                bar.advance(task)
                if sink:
                    sink.write(json.dumps(r.to_json(), ensure_ascii=False) + "\n")
                    sink.flush()
                r.image = None
                results.append(r)
            e.record(Action.SCAN, _custody(results))
    except OSError as exc:
        raise fail(f"{jsonl}: cannot write ({exc.strerror or exc})") from exc
    finally:
        if sink and sink is not sys.stdout:
            sink.close()
    if as_json:
        print(json.dumps([r.to_json() for r in results], indent=2, ensure_ascii=False))
    elif jsonl != "-":
        _print_scan(results)


def _custody(results: list[ScanResult]) -> dict[str, object]:
    """What a scan batch's audit entry records: every input's name, the SHA-256 of its bytes as read, and its
    verdict (or that it could not be compared): the chain of custody of what was examined."""
    verdicts: dict[str, int] = {}
    for r in results:
        key = r.verdict if r.error is None else "unreadable"
        verdicts[key] = verdicts.get(key, 0) + 1
    files = [[r.path, r.sha256, r.verdict if r.error is None else "unreadable"] for r in results]
    return {"inputs": len(results), "verdicts": verdicts, "files": files}


def _check_output(target: str, items: list[InputItem], extra_inputs: list[str], force: bool) -> None:
    """Refuse an output file that is an input, looks like evidence (an image or archive), or exists (without
    --force): scanning must never destroy what it was given."""
    from service.inputs import IMAGE_SUFFIXES

    suffix = Path(target).suffix.lower()
    if suffix in IMAGE_SUFFIXES or suffix == ".zip":
        raise fail(f"{target}: refusing to write JSON lines over a file named like an image or archive (evidence?)")
    if not os.path.lexists(target):
        return
    sources = {i.source_path for i in items if i.source_path} | set(extra_inputs)
    for source in sources:
        try:
            same = os.path.samefile(source, target)
        except OSError:
            continue
        if same:
            raise fail(f"{target}: is one of the inputs of this scan; refusing to write over it")
    if not force:
        raise fail(f"{target}: already exists; choose a new file, or give --force to replace it")


def _bbox(poly: list[tuple[float, float]]) -> str:
    xs, ys = [p[0] for p in poly], [p[1] for p in poly]
    return f"{min(xs):.0f},{min(ys):.0f}-{max(xs):.0f},{max(ys):.0f}"


def _print_scan(results: list[ScanResult]) -> None:
    colours = {"copy": "bold red", "derivative": "magenta", "no_match": "green"}
    table = Table("suspect", "verdict", "work", "score", "match", "agreeing", "region (x0,y0-x1,y1)", title="scan")
    for r in results:
        name = cell(Path(r.path).name)
        if r.error is not None:
            table.add_row(name, cell("error", "red"), "", "", "", cell(r.error), "")
            continue
        if not r.matches:
            table.add_row(name, cell("no_match", colours["no_match"]), "", "", "", "", "")
        for i, m in enumerate(r.matches):
            region = "" if m.region is None else f"{m.region_source} " + _bbox(m.region)
            first = i == 0
            table.add_row(
                name if first else "",
                cell(r.verdict, colours[r.verdict]) if first else "",
                cell(m.ref),
                f"{m.score:.3f}",
                cell(m.verdict, colours[m.verdict]),
                ", ".join(m.agreeing_signals),
                region,
            )
    console.print(table)
    n_err = sum(r.error is not None for r in results)
    verdicts = [r.verdict for r in results if r.error is None]
    console.print(
        f"{len(results)} scanned: {verdicts.count('copy')} copy, {verdicts.count('derivative')} derivative, "
        f"{verdicts.count('no_match')} no match, {n_err} unreadable"
    )
