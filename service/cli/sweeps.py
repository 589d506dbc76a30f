"""Marketplace sweeps and what they build: `sweep` and the `offenders` ranking."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from service.cli.app import app, console, engine, err, fail, notice, service_store
from service.safe_text import cell, markup_safe


@app.command()
def sweep(
    listings: Annotated[str, typer.Argument(help="LISTINGS.csv, LISTINGS.jsonl, or a folder of such files.")],
    out: Annotated[str, typer.Option("--out", help="The run folder: rerun with the same one to resume.")],
    reports: Annotated[bool, typer.Option("--reports", help="Write a signed evidence bundle for every hit.")] = False,
    allow: Annotated[
        list[str] | None,
        typer.Option("--allow", help="Network fetched from although private or local (repeatable), e.g. 10.2.0.0/16."),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Images fetched or read ahead in parallel.")] = 8,
    top: Annotated[int, typer.Option("--top", min=1, max=20)] = 5,
    runner: Annotated[str, typer.Option("--runner", help="local (this machine) or ray (a Ray cluster).")] = "local",
) -> None:
    """Sweep marketplace listings: fetch or read every image, scan it, link sellers, listings and works in the
    offender store; writes results.jsonl, hits.csv and summary.html into the run folder. Resumable."""
    from index.migrations import SchemaVersionError
    from service.sweep.fetch import FetchPolicy
    from service.sweep.listings import ListingError, read_listings
    from service.sweep.netguard import AllowList
    from service.sweep.outputs import write_outputs
    from service.sweep.run import Counts, RunFolder, SweepOptions, sweep_local

    if runner not in ("local", "ray"):
        raise fail(f"--runner {runner}: local or ray")
    try:
        policy = FetchPolicy(allow=AllowList.parse(allow or []))
        found = list(read_listings(listings))
    except (ListingError, ValueError) as exc:
        raise fail(str(exc)) from exc
    options = SweepOptions(top_k=top, workers=workers, fetch=policy, reports=reports)
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise fail(f"--out {out}: exists and is not a folder; give a new or an earlier run's folder")
    try:
        RunFolder(folder).close()  # a run folder from a newer Semblance is refused before anything runs
    except SchemaVersionError as exc:
        raise fail(str(exc)) from exc
    except (OSError, sqlite3.Error) as exc:
        raise fail(f"--out {out}: cannot be used as a run folder ({exc})") from exc
    with engine() as e, service_store() as (store, _):
        if runner == "ray":
            from service.sweep.ray_runner import sweep_ray

            sweep_ray(e, store, found, folder, listings, options)
        else:
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
                console=err,
                disable=not err.is_terminal,
            ) as bar:
                task = bar.add_task("sweeping", total=None, rate="")
                started: list[float] = []  # when, and how many were done, at this session's first image

                def progress(counts: Counts, total: int) -> None:
                    now = time.monotonic()
                    if not started:
                        started.extend((now, counts.done - 1))  # a resumed run's earlier images are not its rate
                    rate = (counts.done - started[1]) / max(now - started[0], 1e-6)
                    bar.update(task, completed=counts.done, total=total, rate=f"{rate:.1f} img/s, {counts.hits} hits")

                counts = sweep_local(e, store, found, folder, listings, options, progress)
            for problem in counts.problems:
                notice(problem)
        try:
            final = write_outputs(folder, store, e, reports)
        except OSError as exc:
            raise fail(f"{folder}: cannot write the outputs ({exc.strerror or exc})") from exc
    console.print(f"{final.line()}; results in {markup_safe(folder)}/ (results.jsonl, hits.csv, summary.html)")


@app.command()
def offenders(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 50,
    seller: Annotated[
        int | None,
        typer.Option("--seller", min=1, max=2**63 - 1, help="The listings and findings behind one seller."),
    ] = None,
) -> None:
    """Rank sellers by the evidence against them (a score you can recompute: see `--json`'s score_components),
    with linked accounts, images reused by several sellers and the works most infringed."""
    from service.store.offenders import SCORE_WEIGHTS
    from service.usecases.offenders import offender_report, seller_evidence

    with service_store(only_reads=True) as (store, ws):
        if seller is not None:
            rows = seller_evidence(store, seller, ws.record)
            if as_json:
                print(json.dumps(rows, indent=2, ensure_ascii=False))
                return
            table = Table("seen", "marketplace", "listing", "image", "work", "verdict", "score", "finding")
            for r in rows:
                table.add_row(
                    *(
                        cell(str(r[k]))
                        for k in (
                            "seen_at",
                            "marketplace",
                            "listing_key",
                            "source",
                            "ref",
                            "verdict",
                            "score",
                            "finding_id",
                        )
                    )
                )
            console.print(table)
            return
        report = offender_report(store, limit, ws.record)
    if as_json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return
    ranking = report["sellers"]
    assert isinstance(ranking, list)
    table = Table(
        "score",
        "seller",
        "marketplace",
        "works copied",
        "derived only",
        "hit listings",
        "linked",
        "first",
        "last",
        "id",
    )
    for r in ranking:
        linked = ", ".join(f"{x['seller']}@{x['marketplace']}" for x in r["linked_sellers"])
        table.add_row(
            f"{r['score']:.1f}",
            cell(r["name"] or r["seller"]),
            cell(r["marketplace"]),
            str(r["works_copied"]),
            str(r["works_derived_only"]),
            str(r["hit_listings"]),
            cell(linked),
            r["first_seen"][:10],
            r["last_seen"][:10],
            str(r["seller_id"]),
        )
    console.print(table)
    console.print(
        "score = "
        + " + ".join(f"{w:g} x {k}" for k, (w, _) in SCORE_WEIGHTS.items())
        + "; `semblance offenders --seller ID` lists the evidence behind a row"
    )
