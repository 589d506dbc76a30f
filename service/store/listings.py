"""Marketplace listings swept, in the findings store: sellers ↔ listings ↔ images (SHA-256, PDQ) ↔ findings.

`ingest` writes one swept image in one transaction: its sweep, seller (with its business name and the identifiers
that link it to an entity) and listing (first and last seen, where it is offered from), the
suspect and its finding (the scan's JSON, exactly what `semblance scan` prints) and the listing's image row. It is
idempotent per (sweep, listing, image source), so a sweep that resumes after a crash re-ingests without recording
anything twice. The bytes of an image are kept in the evidence vault only when it matched a work (a hit): a sweep
of millions of listings keeps the evidence, not the haystack.
"""

from __future__ import annotations

import collections
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from index.connections import in_chunks
from service.store.database import Database, utc_now
from service.store.findings import Findings, headline, matched_works

UNKNOWN = "unknown"
"""Marketplace or seller of a listing that did not name one."""


@dataclass(frozen=True)
class SweptImage:
    """One image of one listing as a sweep saw it, with the scan's result."""

    listing_key: str
    source: str
    """The image's URL or path."""
    sha256: str
    pdq: str
    image_group: str
    """The SHA-256 of the first image of its near-duplicate group (PDQ within a tight distance), else its own."""
    result: dict[str, Any]
    marketplace: str = ""
    seller_key: str = ""
    seller_name: str = ""
    title: str = ""
    price: str = ""
    currency: str = ""
    listing_url: str = ""
    seen_at: str = ""
    region_text: str = ""
    """Where the listing says it is offered from, as given."""
    province_code: str = ""
    region_code: str = ""
    """The most precise division the region text places it in (service.supervision.regions), "" when uncertain."""
    business_name: str = ""
    identifiers: tuple[tuple[str, str], ...] = ()
    """(kind, stored value) of what links the seller's account to an entity (service.supervision.identifiers)."""
    data: bytes | None = None
    """The bytes as received: kept in the vault when the image is a hit."""
    result_json: str = ""
    """`result` as JSON when the caller has encoded it already (a sweep writes the same text to its run record)."""

    @property
    def is_hit(self) -> bool:
        return self.result.get("verdict") in ("copy", "derivative")


class Listings:
    """Sweeps, sellers, listings and their images in the service database."""

    def __init__(self, db: Database, findings: Findings) -> None:
        self._db = db
        self._findings = findings

    def sweep(self, run_key: str, source: str) -> int:
        """The id of the sweep recorded under `run_key` (a run folder's own id), made on first use."""
        with self._db.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO sweeps (run_key, source, started_at) VALUES (?,?,?)",
                (run_key, source, utc_now()),
            )
            return int(db.execute("SELECT id FROM sweeps WHERE run_key=?", (run_key,)).fetchone()[0])

    def ingest(self, sweep_id: int, image: SweptImage) -> bool:
        """Record one swept image; False when this sweep had already recorded it (a resumed run)."""
        return self.ingest_many(sweep_id, [image])[0]

    def ingest_many(self, sweep_id: int, images: Sequence[SweptImage]) -> list[bool]:
        """Record swept images in one transaction, exactly as recording them one by one in this order would (each
        False when this sweep had already recorded it). A cluster sweep's driver ingests a shard's thousands of
        images at once: one fsync and a few statements per table instead of a dozen statements and an fsync each.
        Hits' bytes are fsynced into the vault before the transaction that names them."""
        for image in images:
            if image.is_hit and image.data is not None:
                self._findings.vault.put(image.sha256, image.data)
        now = utc_now()
        self._db.db.execute(f"PRAGMA cache_size=-{INGEST_CACHE_KIB}")
        with self._db.transaction() as db:
            return _Batch(db, sweep_id, images, now).write()


INGEST_CACHE_KIB = 128 * 1024
"""SQLite's page cache for the connection that ingests (128 MiB, against its 2 MiB default): a batch touches the
listing, image and hit indexes at random keys, and at ten million listings those pages no longer fit the default.
Only sweeps ingest, so the web server's memory budget does not carry it."""


class _Row(NamedTuple):
    """An image recorded now, with its listing as it stands after the image's own upsert."""

    listing_id: int
    image: SweptImage
    seen: str
    marketplace: str
    province: str
    region: str
    seller: int | None


class _Batch:
    """One `ingest_many`: the rows of every table for a batch of images, written with executemany, and the state
    one-by-one recording would have seen at each image (a listing's place and seller, what this sweep already
    holds) followed in Python from one lookup per table."""

    def __init__(self, db: sqlite3.Connection, sweep_id: int, images: Sequence[SweptImage], now: str) -> None:
        self.db, self.sweep_id, self.images, self.now = db, sweep_id, images, now
        self.seen = [image.seen_at or now for image in images]
        self.marketplace = [image.marketplace or UNKNOWN for image in images]

    def write(self) -> list[bool]:
        seller_ids = self._sellers()
        before = self._by_key(
            "listings", "listing_key", "id, province_code, region_code, seller_id",
            {(m, i.listing_key) for m, i in zip(self.marketplace, self.images, strict=True)},
        )  # fmt: skip
        self.db.executemany(
            "INSERT INTO listings (marketplace, listing_key, seller_id, title, price, currency, listing_url, "
            "first_seen, last_seen, region_text, province_code, region_code) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT (marketplace, listing_key) DO UPDATE "
            "SET last_seen=max(last_seen, excluded.last_seen), first_seen=min(first_seen, excluded.first_seen), "
            "seller_id=coalesce(excluded.seller_id, seller_id), "
            # a listing that names where it is offered from moves there; one that names nothing stays put
            "region_text=iif(excluded.region_text <> '', excluded.region_text, region_text), "
            "province_code=iif(excluded.region_text <> '', excluded.province_code, province_code), "
            "region_code=iif(excluded.region_text <> '', excluded.region_code, region_code)",
            [
                (m, i.listing_key, sid, i.title, i.price, i.currency, i.listing_url, seen, seen, i.region_text,
                 i.province_code, i.region_code)
                for m, i, sid, seen in zip(self.marketplace, self.images, seller_ids, self.seen, strict=True)
            ],
        )  # fmt: skip
        new = {(m, i.listing_key) for m, i in zip(self.marketplace, self.images, strict=True)} - before.keys()
        ids = {key: int(row[0]) for key, row in before.items()} | {
            key: int(row[0]) for key, row in self._by_key("listings", "listing_key", "id", new).items()
        }
        # what each image's listing is after its own upsert, as one-by-one recording would read it
        state = {key: (str(r[1]), str(r[2]), r[3]) for key, r in before.items()}
        recorded = self._recorded(sorted(set(ids.values())))
        months = self._months(sorted(set(ids.values())))
        done: list[bool] = []
        rows: list[_Row] = []
        counted, swept = [], collections.Counter[tuple[str, str, str, str]]()
        for image, marketplace, seller_id, seen in zip(self.images, self.marketplace, seller_ids, self.seen,
                                                       strict=True):  # fmt: skip
            key = (marketplace, image.listing_key)
            listing_id = ids[key]
            province, region, listing_seller = state.get(key, ("", "", None))
            if image.region_text:
                province, region = image.province_code, image.region_code
            listing_seller = seller_id if seller_id is not None else listing_seller
            state[key] = (province, region, listing_seller)
            if (listing_id, image.source) in recorded:
                done.append(False)
                continue
            recorded.add((listing_id, image.source))
            done.append(True)
            rows.append(_Row(listing_id, image, seen, marketplace, province, region, listing_seller))
            month = seen[:7]
            if (listing_id, month) not in months:
                months.add((listing_id, month))
                counted.append((listing_id, month))
                swept[(month, marketplace, province, region)] += 1
        self._findings_and_images(rows)
        self.db.executemany("INSERT INTO listing_months VALUES (?, ?)", counted)
        self.db.executemany(
            "INSERT INTO swept_monthly VALUES (?,?,?,?,?) ON CONFLICT (month, marketplace, province_code, "
            "region_code) DO UPDATE SET listings = listings + excluded.listings",
            [(*k, n) for k, n in swept.items()],
        )
        return done

    def _sellers(self) -> list[int | None]:
        """Each image's seller id (None for a listing that names no seller), the sellers and their identifiers
        recorded as one-by-one recording would (the first name stays; the last business name given wins)."""
        keys = [
            (m, i.seller_key or i.seller_name) if (i.seller_key or i.seller_name) else None
            for m, i in zip(self.marketplace, self.images, strict=True)
        ]
        named = [(k, i) for k, i in zip(keys, self.images, strict=True) if k is not None]
        if not named:
            return [None] * len(keys)
        self.db.executemany(
            "INSERT OR IGNORE INTO sellers (marketplace, seller_key, name) VALUES (?,?,?)",
            [(k[0], k[1], i.seller_name) for k, i in named],
        )
        found = self._by_key("sellers", "seller_key", "id", {k for k, _ in named})
        ids = {key: int(row[0]) for key, row in found.items()}
        self.db.executemany(
            "UPDATE sellers SET business_name=? WHERE id=?",
            [(i.business_name, ids[k]) for k, i in named if i.business_name],
        )
        self.db.executemany(
            "INSERT OR IGNORE INTO seller_identifiers (seller_id, kind, value, first_seen) VALUES (?,?,?,?)",
            [
                (ids[k], kind, value, seen)
                for k, i, seen in zip(keys, self.images, self.seen, strict=True)
                if k is not None
                for kind, value in i.identifiers
                if value
            ],
        )
        return [None if k is None else ids[k] for k in keys]

    def _by_key(
        self, table: str, key_column: str, columns: str, keys: set[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[Any, ...]]:
        """Rows of `table` by (marketplace, key), looked up a chunk of keys at a time on its unique index."""
        by_marketplace: dict[str, list[str]] = collections.defaultdict(list)
        for marketplace, key in keys:
            by_marketplace[marketplace].append(key)
        out = {}
        for marketplace, names in by_marketplace.items():
            for part, marks in in_chunks(names):
                for row in self._tuples(
                    f"SELECT {columns}, {key_column} FROM {table} WHERE marketplace=? AND {key_column} IN ({marks})",
                    (marketplace, *part),
                ):
                    out[(marketplace, str(row[-1]))] = row
        return out

    def _tuples(self, sql: str, parameters: Sequence[Any]) -> sqlite3.Cursor:
        """A lookup's rows as plain tuples (the store's sqlite3.Row costs more than the lookup at this volume)."""
        cursor = self.db.cursor()
        cursor.row_factory = None
        return cursor.execute(sql, parameters)

    def _recorded(self, listing_ids: list[int]) -> set[tuple[int, str]]:
        """(listing, image source) pairs this sweep has already recorded among these listings."""
        return self._listing_pairs("source FROM listing_images WHERE sweep_id=? AND", (self.sweep_id,), listing_ids)

    def _months(self, listing_ids: list[int]) -> set[tuple[int, str]]:
        """(listing, month) pairs already counted among the months' swept listings."""
        return self._listing_pairs("month FROM listing_months WHERE", (), listing_ids)

    def _listing_pairs(self, rest: str, leading: tuple[Any, ...], listing_ids: list[int]) -> set[tuple[int, str]]:
        """(listing id, a text column) for these listings: `SELECT listing_id, {rest} listing_id IN (...)`."""
        out: set[tuple[int, str]] = set()
        for part, marks in in_chunks(listing_ids):
            sql = f"SELECT listing_id, {rest} listing_id IN ({marks})"
            out.update((int(r[0]), str(r[1])) for r in self._tuples(sql, (*leading, *part)))
        return out

    def _findings_and_images(self, rows: list[_Row]) -> None:
        """The suspects, findings, matched works, listing images and hit facts of the images recorded now, with
        ids given here (the transaction holds the write lock) so no row has to be read back."""
        if not rows:
            return
        suspect_base = int(self.db.execute("SELECT coalesce(max(id), 0) FROM suspects").fetchone()[0]) + 1
        finding_base = int(self.db.execute("SELECT coalesce(max(id), 0) FROM findings").fetchone()[0]) + 1
        origin = f"sweep {self.sweep_id}"
        self.db.executemany(
            "INSERT INTO suspects (id, case_id, sha256, name, size_bytes, received_at, received_by, origin) "
            "VALUES (?,NULL,?,?,?,?,?,?)",
            [
                (
                    suspect_base + n,
                    r.image.sha256,
                    r.image.source[:1000],
                    len(r.image.data or b""),
                    self.now,
                    origin,
                    r.image.source[:1000],
                )
                for n, r in enumerate(rows)
            ],
        )
        works = [matched_works(r.image.result) for r in rows]
        findings = [
            (finding_base + n, suspect_base + n, "sweep", *headline(r.image.result),
             r.image.result_json or json.dumps(r.image.result, ensure_ascii=False), self.now)
            for n, r in enumerate(rows)
        ]  # fmt: skip
        self.db.executemany(
            "INSERT INTO findings (id, suspect_id, case_id, source, verdict, top_ref, top_score, result_json, "
            "scanned_at, job_id) VALUES (?,?,NULL,?,?,?,?,?,?,NULL)",
            findings,
        )
        self.db.executemany(
            "INSERT OR IGNORE INTO finding_matches VALUES (?,?,?,?)",
            [(finding_base + n, *work) for n, found in enumerate(works) for work in found],
        )
        self.db.executemany(
            "INSERT INTO listing_images (listing_id, sweep_id, source, sha256, pdq, image_group, suspect_id, "
            "seen_at) VALUES (?,?,?,?,?,?,?,?)",
            [
                (
                    r.listing_id,
                    self.sweep_id,
                    r.image.source,
                    r.image.sha256,
                    r.image.pdq,
                    r.image.image_group,
                    suspect_base + n,
                    r.seen,
                )
                for n, r in enumerate(rows)
            ],
        )
        facts = []
        for n, (r, found) in enumerate(zip(rows, works, strict=True)):
            if not r.image.is_hit:
                continue
            first: dict[str, str] = {}
            for ref, verdict, _ in found:
                first.setdefault(ref, verdict)  # finding_matches keeps the first
            facts += [
                (finding_base + n, ref, verdict, r.seen, r.province, r.region, r.marketplace, r.listing_id, r.seller,
                 None, r.image.image_group)
                for ref, verdict in first.items()
                if verdict in ("copy", "derivative")
            ]  # fmt: skip
        self.db.executemany("INSERT OR IGNORE INTO hit_facts VALUES (?,?,?,?,?,?,?,?,?,?,?)", facts)
