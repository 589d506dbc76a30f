"""Marketplace listings swept, in the findings store: sellers ↔ listings ↔ images (SHA-256, PDQ) ↔ findings.

`ingest` writes one swept image in one transaction: its sweep, seller (with its business name and the identifiers
that link it to an entity) and listing (first and last seen, where it is offered from), the
suspect and its finding (the scan's JSON, exactly what `semblance scan` prints) and the listing's image row. It is
idempotent per (sweep, listing, image source), so a sweep that resumes after a crash re-ingests without recording
anything twice. The bytes of an image are kept in the evidence vault only when it matched a work (a hit): a sweep
of millions of listings keeps the evidence, not the haystack.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from service.store.database import Database, utc_now
from service.store.findings import Findings, record_finding, record_suspect

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
        if image.is_hit and image.data is not None:
            self._findings.vault.put(image.sha256, image.data)  # fsynced before the rows that name it
        seen = image.seen_at or utc_now()
        marketplace = image.marketplace or UNKNOWN
        with self._db.transaction() as db:
            seller_id = None
            if image.seller_key or image.seller_name:
                key = image.seller_key or image.seller_name
                db.execute(
                    "INSERT OR IGNORE INTO sellers (marketplace, seller_key, name) VALUES (?,?,?)",
                    (marketplace, key, image.seller_name),
                )
                seller_id = int(
                    db.execute(
                        "SELECT id FROM sellers WHERE marketplace=? AND seller_key=?", (marketplace, key)
                    ).fetchone()[0]
                )
                if image.business_name:
                    db.execute("UPDATE sellers SET business_name=? WHERE id=?", (image.business_name, seller_id))
                db.executemany(
                    "INSERT OR IGNORE INTO seller_identifiers (seller_id, kind, value, first_seen) VALUES (?,?,?,?)",
                    [(seller_id, kind, value, seen) for kind, value in image.identifiers if value],
                )
            db.execute(
                "INSERT INTO listings (marketplace, listing_key, seller_id, title, price, currency, listing_url, "
                "first_seen, last_seen, region_text, province_code, region_code) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT (marketplace, listing_key) DO UPDATE "
                "SET last_seen=max(last_seen, excluded.last_seen), first_seen=min(first_seen, excluded.first_seen), "
                "seller_id=coalesce(excluded.seller_id, seller_id), "
                # a listing that names where it is offered from moves there; one that names nothing stays put
                "region_text=iif(excluded.region_text <> '', excluded.region_text, region_text), "
                "province_code=iif(excluded.region_text <> '', excluded.province_code, province_code), "
                "region_code=iif(excluded.region_text <> '', excluded.region_code, region_code)",
                (
                    marketplace,
                    image.listing_key,
                    seller_id,
                    image.title,
                    image.price,
                    image.currency,
                    image.listing_url,
                    seen,
                    seen,
                    image.region_text,
                    image.province_code,
                    image.region_code,
                ),
            )
            listing_id = int(
                db.execute(
                    "SELECT id FROM listings WHERE marketplace=? AND listing_key=?", (marketplace, image.listing_key)
                ).fetchone()[0]
            )
            done = db.execute(
                "SELECT 1 FROM listing_images WHERE sweep_id=? AND listing_id=? AND source=?",
                (sweep_id, listing_id, image.source),
            ).fetchone()
            if done:
                return False
            source = image.source[:1000]
            size = len(image.data or b"")
            suspect_id = record_suspect(db, None, image.sha256, source, size, f"sweep {sweep_id}", source)
            record_finding(db, suspect_id, None, image.result, "sweep")
            db.execute(
                "INSERT INTO listing_images (listing_id, sweep_id, source, sha256, pdq, image_group, suspect_id, "
                "seen_at) VALUES (?,?,?,?,?,?,?,?)",
                (listing_id, sweep_id, image.source, image.sha256, image.pdq, image.image_group, suspect_id, seen),
            )
            _count_for_supervision(db, listing_id, seen, image.image_group, suspect_id)
        return True


def _count_for_supervision(db: sqlite3.Connection, listing_id: int, seen: str, group: str, suspect_id: int) -> None:
    """Inside the ingest's transaction: the listing counted once in its month's swept listings, under the region
    and marketplace it has now, and each hit of the image recorded with where and when it was seen (the
    supervision tables of migration 5)."""
    month = seen[:7]
    fresh = db.execute("INSERT OR IGNORE INTO listing_months VALUES (?, ?)", (listing_id, month)).rowcount
    if fresh:
        db.execute(
            "INSERT INTO swept_monthly SELECT ?, marketplace, province_code, region_code, 1 FROM listings WHERE id=? "
            "ON CONFLICT (month, marketplace, province_code, region_code) DO UPDATE SET listings = listings + 1",
            (month, listing_id),
        )
    db.execute(
        "INSERT OR IGNORE INTO hit_facts SELECT f.id, fm.ref, fm.verdict, ?, l.province_code, l.region_code, "
        "l.marketplace, l.id, l.seller_id, NULL, ? FROM findings f JOIN finding_matches fm ON fm.finding_id = f.id "
        "JOIN listings l ON l.id = ? WHERE f.suspect_id = ? AND fm.verdict IN ('copy', 'derivative')",
        (seen, group, listing_id, suspect_id),
    )
