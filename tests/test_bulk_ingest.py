"""A cluster driver ingests a shard's images in one transaction (`Listings.ingest_many`); the store must come out
exactly as the statement-per-row ingest it replaced (kept here as the oracle) leaves it, one image at a time,
including where order matters: a listing seen twice in one batch that moves region, a seller named twice, the same
image recorded twice, a hit whose matches name one work twice, and a batch ingested again after a crash."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from service.store import Store
from service.store.database import utc_now
from service.store.findings import record_finding, record_suspect
from service.store.listings import UNKNOWN, SweptImage

TABLES = {
    "sellers": "marketplace, seller_key, name, business_name",
    "seller_identifiers": "seller_id, kind, value, first_seen",
    "listings": "marketplace, listing_key, seller_id, title, price, currency, listing_url, first_seen, last_seen, "
    "region_text, province_code, region_code",
    "suspects": "id, sha256, name, size_bytes, received_by, origin",
    "findings": "id, suspect_id, source, verdict, top_ref, top_score, result_json",
    "finding_matches": "finding_id, ref, verdict, score",
    "listing_images": "listing_id, sweep_id, source, sha256, pdq, image_group, suspect_id, seen_at",
    "listing_months": "listing_id, month",
    "swept_monthly": "month, marketplace, province_code, region_code, listings",
    "hit_facts": "finding_id, ref, verdict, seen_at, province_code, region_code, marketplace, listing_id, seller_id, "
    "case_id, image_group",
}
"""Every column ingest writes, but the arrival and scan times (the clock's)."""


def images(n: int, seed: int) -> list[SweptImage]:
    rng = random.Random(seed)
    places = [("浙江省杭州市", "33", "3301"), ("Shenzhen", "44", "4403"), ("", "", "")]
    out = []
    for _ in range(n):
        listing = rng.randrange(n // 10)
        hit = rng.random() < 0.3
        ref = f"work{rng.randrange(4)}"
        matches = [{"ref": ref, "verdict": "copy", "score": 0.99}, {"ref": ref, "verdict": "derivative", "score": 0.9},
                   {"ref": "work9", "verdict": "derivative", "score": 0.95}] if hit else []  # fmt: skip
        text, province, region = rng.choice(places)
        seller = rng.randrange(n // 5)
        out.append(
            SweptImage(
                listing_key=f"L{listing}",
                source=f"https://img.example/{listing}-{rng.randrange(4)}.jpg",  # now and then recorded twice
                sha256=f"{rng.randrange(n // 2):064x}",
                pdq=f"{rng.randrange(1 << 64):064x}",
                image_group=f"{rng.randrange(n // 2):064x}",
                result={"verdict": "copy" if hit else "no_match", "matches": matches, "path": "x"},
                marketplace=rng.choice(["taobao", "pdd", ""]),
                seller_key=f"s{seller}" if rng.random() < 0.9 else "",
                seller_name=f"shop {seller} {rng.randrange(2)}",
                seen_at=f"2026-{rng.randrange(1, 4):02d}-{rng.randrange(1, 28):02d}T00:00:00Z",
                region_text=text,
                province_code=province,
                region_code=region,
                business_name=rng.choice(["", f"biz {seller}"]),
                identifiers=(("contact", f"h{seller % 7}"),) if rng.random() < 0.3 else (),
                data=b"bytes" if hit else None,
            )
        )
    return out


def one_by_one(store: Store, sweep_id: int, image: SweptImage) -> bool:
    """The oracle: one image's rows as the statement-per-row ingest of the release before bulk ingest wrote them."""
    if image.is_hit and image.data is not None:
        store.findings.vault.put(image.sha256, image.data)  # fsynced before the rows that name it
    seen = image.seen_at or utc_now()
    marketplace = image.marketplace or UNKNOWN
    with store.database.transaction() as db:
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


def contents(home: Path) -> dict[str, list[tuple[object, ...]]]:
    store = Store.open(home)
    try:
        db = store.database.db
        return {t: [tuple(r) for r in db.execute(f"SELECT {c} FROM {t} ORDER BY {c}")] for t, c in TABLES.items()}
    finally:
        store.close()


def test_a_batch_leaves_the_store_as_one_by_one_recording_does(tmp_path: Path) -> None:
    batch = images(600, 1)
    (tmp_path / "one").mkdir()
    (tmp_path / "many").mkdir()
    one, many = Store.open(tmp_path / "one"), Store.open(tmp_path / "many")
    try:
        sweep_one, sweep_many = one.listings.sweep("run", "test"), many.listings.sweep("run", "test")
        # then part of it again, as a driver that resumes after a crash between the store's and the run's commits
        done_one = [one_by_one(one, sweep_one, image) for image in batch + batch[100:300]]
        done_many = [
            *many.listings.ingest_many(sweep_many, batch[:250]),
            *many.listings.ingest_many(sweep_many, batch[250:]),
            *many.listings.ingest_many(sweep_many, batch[100:300]),
        ]
    finally:
        one.close()
        many.close()
    assert done_many == done_one
    assert 0 < done_one[:600].count(False) < 300 and not any(done_one[600:])
    want, got = contents(tmp_path / "one"), contents(tmp_path / "many")
    assert all(want[t] for t in TABLES)  # every table written, so each comparison means something
    assert got == want


@pytest.mark.parametrize("overlapping", [False, True])
def test_shards_are_read_in_item_order(tmp_path: Path, overlapping: bool) -> None:
    """The driver records items in item order whatever shards the cluster wrote: runs one after another, or
    interleaved runs, each unsorted."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from service.sweep.ray_runner import rows_in_order

    seqs = list(range(1, 1201))
    parts = [seqs[i::3] for i in range(3)] if overlapping else [seqs[:500], seqs[500:900], seqs[900:]]
    rng = random.Random(3)
    for n, part in enumerate(parts):
        shuffled = rng.sample(part, len(part))
        pq.write_table(pa.table({"seq": shuffled, "value": [f"v{s}" for s in shuffled]}), tmp_path / f"{n}.parquet")
    rows = list(rows_in_order(sorted(tmp_path.glob("*.parquet"))))
    assert [r["seq"] for r in rows] == seqs and all(r["value"] == f"v{r['seq']}" for r in rows)
