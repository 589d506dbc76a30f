"""A sweep's run folder and the local runner: resumable at any moment, recording nothing twice.

`run.sqlite` in the run folder is the run's own record: one row per (listing, image), written when the sweep
starts and marked done, with its result, when the image has been scanned and ingested. The order is what makes a
kill at any moment safe: the findings store's `ingest` is idempotent per (sweep, listing, image), so an image whose
ingest committed but whose row was not yet marked is simply done again on restart and recorded once. The outputs
(results.jsonl, hits.csv, summary.html, and the evidence bundles with --reports) are written from run.sqlite at the
end, atomically, so a finished run's files always agree with its record.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from index.audit import Action
from index.connections import ThreadConnections, durable_connection, in_chunks
from index.keys import identifier_key
from index.migrations import Schema, SchemaVersionError, migrate
from service.engine import Engine
from service.store import Store
from service.store.listings import SweptImage
from service.supervision import identifiers
from service.supervision.regions import Placement, region_table
from service.sweep import stages
from service.sweep.fetch import Fetcher, FetchPolicy
from service.sweep.listings import ImageRef, Listing
from service.sweep.near_duplicates import NearDuplicates

RUN_DB = "run.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    seq INTEGER PRIMARY KEY,
    listing_key TEXT NOT NULL,
    image_index INTEGER NOT NULL,
    source TEXT NOT NULL,
    is_url INTEGER NOT NULL,
    listing_json TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done')),
    sha256 TEXT NOT NULL DEFAULT '',
    pdq TEXT NOT NULL DEFAULT '',
    image_group TEXT NOT NULL DEFAULT '',
    duplicate_of INTEGER,
    result_json TEXT NOT NULL DEFAULT '',
    provenance_json TEXT NOT NULL DEFAULT '{}',
    UNIQUE (listing_key, image_index)
);
CREATE INDEX IF NOT EXISTS items_sha ON items(sha256);
"""
RUN_RECORD = Schema("sweep run record", {1: SCHEMA})
"""The run record's schema (index.migrations). Version 1 is the first release's tables, so a run folder written
before versions were recorded reads as version 1 once opened: its tables already exist."""


@dataclass(frozen=True)
class SweepOptions:
    top_k: int = 5
    workers: int = 8
    """Images acquired (fetched or read) ahead of the scanner, in parallel; the engine scans one at a time."""
    fetch: FetchPolicy = field(default_factory=FetchPolicy)
    reports: bool = False


@dataclass
class Item:
    seq: int
    listing_key: str
    image_index: int
    source: str
    is_url: bool
    listing: dict[str, str]


@dataclass
class Counts:
    listings: int = 0
    images: int = 0
    done: int = 0
    hits: int = 0
    copies: int = 0
    derivatives: int = 0
    errors: int = 0
    duplicates: int = 0
    near_duplicates: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    """Where the scanner's time went: waiting for fetch/read, scanning, ingesting (for the benchmark)."""

    def spent(self, stage: str, since: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - since

    def line(self) -> str:
        return (
            f"{self.listings:,} listings, {self.images:,} images: {self.hits:,} hits ({self.copies:,} copy, "
            f"{self.derivatives:,} derivative), {self.errors:,} errors, {self.duplicates:,} identical and "
            f"{self.near_duplicates:,} near-identical re-uploads"
        )


class RunFolder:
    """The run folder's record (run.sqlite): items, their state and results."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._connections = ThreadConnections(lambda: durable_connection(folder / RUN_DB))
        try:
            migrate(self.db, RUN_RECORD, folder / RUN_DB)
        except SchemaVersionError:
            self.close()
            raise
        self.db.execute("INSERT OR IGNORE INTO meta VALUES ('run_key', ?)", (uuid.uuid4().hex,))

    @property
    def db(self) -> sqlite3.Connection:
        return self._connections.get()

    @property
    def run_key(self) -> str:
        return str(self.db.execute("SELECT value FROM meta WHERE key='run_key'").fetchone()[0])

    def close(self) -> None:
        self._connections.close_all()

    def plan(self, listings: Iterable[Listing]) -> list[str]:
        """Add every listing's images (already planned ones are kept as they are); returns the listings' problems."""
        problems: list[str] = []
        rows = []
        for listing in listings:
            problems += [f"{listing.origin or listing.listing_id}: {p}" for p in listing.problems]
            record = json.dumps(listing.to_json(), ensure_ascii=False)
            for i, ref in enumerate(listing.images):
                rows.append((listing.key, i, ref.source, int(bool(ref.url)), record))
        self.db.execute("BEGIN IMMEDIATE")
        self.db.executemany(
            "INSERT OR IGNORE INTO items (listing_key, image_index, source, is_url, listing_json) VALUES (?,?,?,?,?)",
            rows,
        )
        self.db.execute("COMMIT")
        return problems

    def pending(self) -> list[Item]:
        rows = self.db.execute(
            "SELECT seq, listing_key, image_index, source, is_url, listing_json FROM items WHERE state='pending' "
            "ORDER BY seq"
        ).fetchall()
        return [Item(r[0], r[1], r[2], r[3], bool(r[4]), json.loads(r[5])) for r in rows]

    def firsts_with(self, shas: set[str]) -> dict[str, tuple[int, dict[str, Any], str, str]]:
        """For each of these SHA-256s met before, the first done, scanned (not duplicate) item with those bytes:
        its seq, result, PDQ and group. A few hundred at a time on the SHA-256 index."""
        found: dict[str, tuple[int, str, str, str]] = {}
        for part, marks in in_chunks(sorted(shas)):
            for sha, seq, result, pdq, group in self.db.execute(
                f"SELECT sha256, seq, result_json, pdq, image_group FROM items WHERE sha256 IN ({marks}) "
                "AND state='done' AND duplicate_of IS NULL AND result_json <> ''",
                part,
            ):
                if sha not in found or seq < found[sha][0]:
                    found[sha] = (seq, result, pdq, group)
        return {sha: (seq, json.loads(result), pdq, group) for sha, (seq, result, pdq, group) in found.items()}

    def done_sources(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT DISTINCT source FROM items WHERE state='done'")}

    def acquired_before(self, item: Item) -> stages.Acquired:
        """What the first item with this item's source got (no bytes: its scan is reused by SHA-256)."""
        row = self.db.execute(
            "SELECT seq, sha256, provenance_json, result_json FROM items WHERE source=? AND state='done' "
            "ORDER BY seq LIMIT 1",
            (item.source,),
        ).fetchone()
        provenance = json.loads(row[2]) | {"same_source_as_item": row[0]}
        error = None if row[1] else (json.loads(row[3]) or {}).get("error") or "not obtained"
        return stages.Acquired(item.source, None, row[1], provenance, error)

    def groups(self) -> Iterator[tuple[str, str]]:
        """(PDQ, group) of every scanned item so far, in order (to rebuild the near-duplicate index on resume)."""
        yield from self.db.execute(
            "SELECT pdq, image_group FROM items WHERE state='done' AND duplicate_of IS NULL AND pdq <> '' ORDER BY seq"
        )

    def finish_many(self, outcomes: Sequence[_Outcome]) -> None:
        """Mark a batch's items done with their results, in one transaction."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.executemany(
                "UPDATE items SET state='done', result_json=?, provenance_json=?, sha256=?, pdq=?, image_group=?, "
                "duplicate_of=? WHERE seq=?",
                [
                    (
                        o.result_json(),
                        json.dumps(o.got.provenance, ensure_ascii=False),
                        "" if o.unobtained else o.got.sha256,
                        o.pdq,
                        o.group,
                        o.duplicate_of,
                        o.item.seq,
                    )
                    for o in outcomes
                ],
            )
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def rows(self) -> Iterator[dict[str, Any]]:
        """Every item in order, as the outputs need them."""
        cur = self.db.execute(
            "SELECT seq, listing_key, image_index, source, listing_json, state, sha256, pdq, image_group, "
            "duplicate_of, result_json, provenance_json FROM items ORDER BY seq"
        )
        for r in cur:
            yield {
                "seq": r[0],
                "listing_key": r[1],
                "image_index": r[2],
                "source": r[3],
                "listing": json.loads(r[4]),
                "state": r[5],
                "sha256": r[6],
                "pdq": r[7],
                "image_group": r[8],
                "duplicate_of": r[9],
                "result": json.loads(r[10]) if r[10] else None,
                "provenance": json.loads(r[11]),
            }


ProgressFn = Callable[[Counts, int], None]


class Sweep:
    """One run of a sweep as every runner drives it: started from the run folder's record (what is pending, the
    near-duplicate groups so far, the store's sweep id), each item recorded through `record`, ended by `end`."""

    def __init__(self, store: Store, listings: Iterable[Listing], folder: Path, source: str) -> None:
        self.store, self.folder, self.source = store, folder, source
        self.run = RunFolder(folder)
        listing_list = list(listings)
        self.counts = Counts(listings=len(listing_list))
        placing = entity_fields(listing_list, identifier_key(store.home))
        self.counts.problems = self.run.plan(listing_list) + placing
        self.run_key = self.run.run_key
        self.sweep_id = store.listings.sweep(self.run_key, source)
        self.near = NearDuplicates()
        self.near.extend(self.run.groups())
        todo = self.run.pending()
        self.total = int(self.run.db.execute("SELECT COUNT(*) FROM items").fetchone()[0])
        self.counts.images = self.total
        self.counts.done = self.total - len(todo)
        self.firsts, self.repeats = split_repeats(todo, self.run)

    def record(
        self,
        engine: Engine | None,
        item: Item,
        got: stages.Acquired,
        options: SweepOptions,
        scanned: tuple[dict[str, Any], str] | None = None,
    ) -> None:
        """Scan (or reuse the scan of identical bytes, or take `scanned`, a runner's own scan of these bytes),
        ingest, then mark the item done: in that order, which is what makes a kill at any moment safe."""
        self.record_many(engine, [(item, got, scanned)], options)

    def record_many(
        self,
        engine: Engine | None,
        entries: Sequence[tuple[Item, stages.Acquired, tuple[dict[str, Any], str] | None]],
        options: SweepOptions,
    ) -> None:
        """`record` for a batch of items in order, as recording them one by one would: one store transaction and
        one run-record transaction for all of them (a cluster driver ingests a shard's thousands at once)."""
        counts = self.counts
        counts.done += len(entries)
        outcomes: list[_Outcome] = []
        firsts: dict[str, int] = {}  # SHA-256 -> position in this batch of the item that scans those bytes
        stored = self.run.firsts_with({got.sha256 for _, got, _ in entries if got.sha256})
        for item, got, scanned in entries:
            outcome = self._outcome(engine, item, got, scanned, options, firsts.get(got.sha256), stored.get(got.sha256))
            if outcome.scanned_here:
                firsts[got.sha256] = len(outcomes)
            outcomes.append(outcome)
        fresh = [o for o in outcomes if o.scanned_here]
        for o, (group, near) in zip(fresh, self.near.assign([(o.pdq, o.got.sha256) for o in fresh]), strict=True):
            o.group = group
            counts.near_duplicates += near
        for o in outcomes:
            if o.first_here is not None:  # identical bytes met earlier in this batch: its scan and group
                first = outcomes[o.first_here]
                o.result = first.result | {"path": o.item.source}
                o.pdq, o.group, o.duplicate_of = first.pdq, first.group, first.item.seq
        t = time.perf_counter()
        self.store.listings.ingest_many(self.sweep_id, [_swept(o) for o in outcomes if not o.unobtained])
        self.run.finish_many(outcomes)
        counts.spent("recording (store and run)", t)
        for o in outcomes:
            if o.unobtained:
                counts.errors += 1
                continue
            verdict = o.result.get("verdict")
            counts.errors += verdict is None
            counts.hits += verdict in ("copy", "derivative")
            counts.copies += verdict == "copy"
            counts.derivatives += verdict == "derivative"

    def _outcome(
        self,
        engine: Engine | None,
        item: Item,
        got: stages.Acquired,
        scanned: tuple[dict[str, Any], str] | None,
        options: SweepOptions,
        first_here: int | None,
        stored: tuple[int, dict[str, Any], str, str] | None,
    ) -> _Outcome:
        """What one item of a batch is: a repeat of bytes met before (earlier in this batch, at `first_here`, or
        in the run record: `stored`), bytes not obtained, or a scan (the runner's, or the engine's now)."""
        if first_here is not None:
            self.counts.duplicates += 1
            return _Outcome(item, got, {}, first_here=first_here)
        if stored is not None:
            self.counts.duplicates += 1
            seq, result, pdq, group = stored
            return _Outcome(item, got, result | {"path": item.source}, pdq, group, duplicate_of=seq)
        if got.data is None:
            error = {"path": item.source, "sha256": "", "verdict": None, "error": got.error}
            return _Outcome(item, got, error, unobtained=True)
        if scanned is None:
            assert engine is not None, "an item without a runner's scan needs the engine"
            t = time.perf_counter()
            scanned = stages.scan(engine, item.source, got.data, options.top_k)
            self.counts.spent("scanning (engine)", t)
        return _Outcome(item, got, scanned[0], scanned[1], scanned_here=True)

    def record_repeats(self, engine: Engine, options: SweepOptions, progress: ProgressFn | None = None) -> None:
        """The items naming a URL or file met before in this run: fetched or read once, recorded for each."""
        for item in self.repeats:
            self.record(engine, item, self.run.acquired_before(item), options)
            if progress:
                progress(self.counts, self.total)

    def end(self, engine: Engine, runner: str) -> Counts:
        """Close the run's record and note the sweep in the audit trail."""
        self.run.close()
        engine.record(
            Action.SWEEP,
            {
                "run_key": self.run_key,
                "source": self.source,
                "folder": str(self.folder),
                "images": self.total,
                "runner": runner,
            },
        )
        return self.counts


@dataclass
class _Outcome:
    """One item of `Sweep.record_many`: its result, PDQ and group, and where they came from."""

    item: Item
    got: stages.Acquired
    result: dict[str, Any]
    pdq: str = ""
    group: str = ""
    duplicate_of: int | None = None
    """The seq of the first item with these bytes, whose scan this one reuses."""
    first_here: int | None = None
    """That first item's position in the same batch (its group is known once the batch's groups are assigned)."""
    scanned_here: bool = False
    unobtained: bool = False
    """No bytes were obtained: recorded in the run with its error, not ingested."""
    _json: str = ""

    def result_json(self) -> str:
        """The result as JSON, encoded once for the store and the run record."""
        if not self._json:
            self._json = json.dumps(self.result, ensure_ascii=False)
        return self._json


def _swept(o: _Outcome) -> SweptImage:
    """The store's row for an item recorded now."""
    listing = o.item.listing
    region = tuple(listing.get(k, "") for k in REGION_FIELDS)
    placed = _placed(region)
    return SweptImage(
        listing_key=listing.get("listing_id", o.item.listing_key),
        source=o.item.source,
        sha256=o.got.sha256,
        pdq=o.pdq,
        image_group=o.group,
        result=o.result,
        marketplace=listing.get("marketplace", ""),
        seller_key=listing.get("seller_id", "") or listing.get("seller", ""),
        seller_name=listing.get("seller", ""),
        title=listing.get("title", ""),
        price=listing.get("price", ""),
        currency=listing.get("currency", ""),
        listing_url=listing.get("listing_url", ""),
        seen_at=listing.get("seen_at", ""),
        region_text=" ".join(text for text in region if text),
        province_code=placed.province.code if placed.province else "",
        region_code=placed.code,
        business_name=listing.get("business_name", ""),
        identifiers=tuple((kind, listing[name]) for name, kind in STORED_IDENTIFIERS.items() if listing.get(name)),
        data=o.got.data,
        result_json=o.result_json(),
    )


@functools.lru_cache(maxsize=65536)
def _placed(texts: tuple[str, ...]) -> Placement:
    """Where a listing's region fields place it (cached: a sweep's listings name a few hundred places)."""
    return region_table().place(*texts)


REGION_FIELDS = ("region", "province", "city")
"""The listing fields that say where it is offered from, read together (service.supervision.regions)."""
STORED_IDENTIFIERS = {"business_licence": "licence", "contact_hash": "contact", "payment_hash": "payment"}
"""Listing field (after `entity_fields`) -> identifier kind recorded with the seller."""


def entity_fields(listings: list[Listing], key: bytes) -> list[str]:
    """Replace each listing's contact and payment account by their keyed hashes (`contact_hash`, `payment_hash`)
    before anything is written; returns a problem line for each region that cannot be placed (its listings are
    counted under no region)."""
    problems = []
    for listing in listings:
        for column, value in listing.identifiers.items():
            kind = identifiers.LISTING_COLUMNS[column]
            if identifiers.meaningful(kind, value):  # "无", "-", "N/A" would link every shop that wrote them
                listing.fields[f"{kind}_hash"] = identifiers.keyed(key, kind, value)
        listing.identifiers = {}
        licence = listing.fields.pop("business_licence", "")
        if licence and identifiers.meaningful("licence", licence):
            listing.fields["business_licence"] = identifiers.normalised("licence", licence)
        given = tuple(listing.fields.get(k, "") for k in REGION_FIELDS)
        if any(given):
            placed = _placed(given)
            if placed.problem:
                problems.append(f"{listing.origin or listing.listing_id}: region {placed.problem}; counted under "
                                f"{placed.province.name_en if placed.province else 'no region'}")  # fmt: skip
    return problems


HEAD_WAIT_S = 0.5
"""How long the sweep waits for the oldest item in flight before recording a later one that is ready: local files
and healthy hosts come back in order within it (so runs stay in input order), a stalled host does not."""


def sweep_local(
    engine: Engine,
    store: Store,
    listings: Iterable[Listing],
    folder: Path,
    source: str,
    options: SweepOptions = SweepOptions(),
    progress: ProgressFn | None = None,
    fetcher: Fetcher | None = None,
) -> Counts:
    """Run (or resume) a sweep into `folder` on this machine; returns the counts (the outputs are then written by
    `outputs.write_outputs`)."""
    sweep = Sweep(store, listings, folder, source)
    own_fetcher = fetcher is None and any(item.is_url for item in sweep.firsts)
    fetcher = fetcher or (Fetcher(options.fetch) if own_fetcher else None)
    try:
        with ThreadPoolExecutor(options.workers) as pool:
            t = time.perf_counter()
            for item, got in _ahead(sweep.firsts, lambda it: _acquire(it, fetcher), pool, options.workers * 2):
                sweep.counts.spent("waiting for fetch or read", t)
                sweep.record(engine, item, got, options)
                if progress:
                    progress(sweep.counts, sweep.total)
                t = time.perf_counter()
        sweep.record_repeats(engine, options, progress)
    finally:
        if own_fetcher and fetcher is not None:
            fetcher.close()
    return sweep.end(engine, "local")


def split_repeats(todo: list[Item], run: RunFolder) -> tuple[list[Item], list[Item]]:
    """Items whose source (URL or path) is new to this run, and those that repeat one already met."""
    seen = run.done_sources()
    firsts: list[Item] = []
    repeats: list[Item] = []
    for item in todo:
        (repeats if item.source in seen else firsts).append(item)
        seen.add(item.source)
    return firsts, repeats


def _acquire(item: Item, fetcher: Fetcher | None) -> stages.Acquired:
    ref = ImageRef(url=item.source) if item.is_url else ImageRef(path=item.source)
    return stages.acquire(ref, fetcher)


def _ahead(
    items: list[Item], fn: Callable[[Item], stages.Acquired], pool: ThreadPoolExecutor, window: int
) -> Iterator[tuple[Item, stages.Acquired]]:
    """`fn` over `items` on the pool, at most `window` ahead of the consumer: in order while the oldest is ready
    within HEAD_WAIT_S, else whichever is ready first, so one slow host never holds back what other hosts gave."""
    futures: list[tuple[Item, Future[stages.Acquired]]] = []
    it = iter(items)
    for item in it:
        futures.append((item, pool.submit(fn, item)))
        if len(futures) >= window:
            break
    while futures:
        if not wait([futures[0][1]], timeout=HEAD_WAIT_S).done:
            wait([f for _, f in futures], return_when=FIRST_COMPLETED)
        chosen = next(i for i, (_, f) in enumerate(futures) if f.done())
        item, future = futures.pop(chosen)
        nxt = next(it, None)
        if nxt is not None:
            futures.append((nxt, pool.submit(fn, nxt)))
        yield item, future.result()
