"""Bulk ingest of a cluster sweep's results: images per second through the driver's real path, while the findings
store grows past ten million listing rows.

    python scripts/benchmark_ingest.py [--sweeps 10] [--images 1000000] [--out docs/ingest-benchmark.json]

Each sweep is one run folder of --images listing images, one image per listing, as the Ray runner leaves it before
its driver ingests: the run record planned (`Sweep`), then Parquet shards holding each item's scan result. The
driver's own function (`service.sweep.ray_runner._ingest`: shards in item order, `Sweep.record_many` per batch of
INGEST_BATCH: deduplication by SHA-256 and near-duplicate groups by PDQ, the findings store with the supervision
tables kept current, the run record) ingests them; only that is timed. Sweeps follow one another into the same store,
a month apart, so the store grows by --images listings a sweep, and a fifth of each sweep's listings are listings
of the sweep before, seen again.

What a result is: 1% of the images are hits carrying the match JSON of the sample report (docs/sample-report: every
signal's evidence, 2-3 KB; the work renamed to one of 5,000), the rest `no_match` results in the scan's shape;
2% of the images are byte-identical re-uploads and 1% near-identical (PDQ a few bits away). Sellers: 200,000 over
5 marketplaces; listings offered from 120 prefectures (a few much more often); one seller in 25 gives a contact
number. Writes --out (docs/PERFORMANCE.md and docs/SCALING.md quote it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from service.store import Store  # noqa: E402
from service.supervision.regions import region_table  # noqa: E402
from service.sweep.listings import ImageRef, Listing  # noqa: E402
from service.sweep.ray_runner import SHARDS, _ingest  # noqa: E402
from service.sweep.run import Sweep, SweepOptions  # noqa: E402

SELLERS = 200_000
MARKETPLACES = 5
PLACES = 120
SHARD_ROWS = 100_000
"""Rows per Parquet shard (Ray writes one per block; a block of 100,000 small rows is typical)."""


SCAN_MATCH_KEYS = ("ref", "score", "verdict", "signals", "region", "reference_region", "region_source",
                   "agreeing_signals", "score_basis", "view")  # fmt: skip
"""The keys of a match in a scan's JSON (`semblance scan`), all of which the sample report's evidence carries."""


def templates() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Scan results to copy: hits built from the sample report's two matches (every signal's evidence, as a scan
    records them), and a `no_match` result in the scan's own shape."""
    evidence = json.loads(
        (REPO / "docs" / "sample-report" / "collage_auvers_tanguy-bundle" / "evidence.json").read_text()
    )
    suspect = evidence["suspect"]
    shape = {"width": suspect["width"], "height": suspect["height"], "format": suspect["format"], "elapsed_ms": 412.0}
    hits = [
        {"path": "", "sha256": "", "verdict": m["verdict"], "matches": [{k: m[k] for k in SCAN_MATCH_KEYS if k in m}]}
        | shape
        for m in evidence["matches"]
    ]
    misses = [{"path": "", "sha256": "", "verdict": "no_match", "matches": []} | shape]
    return hits, misses


def sweep_listings(sweep: int, images: int, rng: random.Random) -> list[Listing]:
    """One sweep's listings: new ones, and a fifth seen in the sweep before."""
    prefectures = [r for r in region_table().regions.values() if r.level == "prefecture"][:PLACES]
    month = f"2026-{1 + sweep % 12:02d}-15T00:00:00Z"
    out = []
    for i in range(images):
        number = sweep * images + i
        if sweep and i % 5 == 0:
            number -= images  # seen again
        seller = (number * 7919) % SELLERS
        place = prefectures[(seller % 997) ** 2 % PLACES]
        fields = {
            "marketplace": f"m{seller % MARKETPLACES}",
            "seller": f"shop {seller}",
            "seller_id": f"s{seller}",
            "title": f"listing {number}",
            "price": "39.90",
            "currency": "CNY",
            "listing_url": f"https://m{seller % MARKETPLACES}.example/item/{number}",
            "seen_at": month,
            "region": place.name_zh,
        }
        identifiers = {"contact": f"138{seller // 2:08d}"} if seller % 25 == 0 else {}
        out.append(
            Listing(
                f"L{number}", [ImageRef(url=f"https://img.example/{sweep}/{i}.jpg")], fields, identifiers=identifiers
            )
        )
    return out


def write_shards(sweep: Sweep, folder: Path, rng: random.Random, hits: list[dict[str, Any]],
                 misses: list[dict[str, Any]]) -> int:  # fmt: skip
    """Parquet shards as the Ray scan stage writes them, one row per pending item; returns the hits written."""
    shards = folder / SHARDS
    shards.mkdir(parents=True, exist_ok=True)
    columns: dict[str, list[Any]] = {k: [] for k in ("seq", "data", "sha256", "provenance", "error", "result", "pdq")}
    written = 0
    recent: list[tuple[str, str]] = []

    def flush() -> None:
        if columns["seq"]:
            pq.write_table(pa.table(columns), shards / f"{columns['seq'][0]:012d}.parquet")
            for v in columns.values():
                v.clear()

    for item in sweep.firsts:
        roll = rng.random()
        if roll < 0.02 and recent:  # byte-identical re-upload of a recent image
            sha, pdq = rng.choice(recent)
        elif roll < 0.03 and recent:  # near-identical: PDQ a few bits away
            sha = f"{rng.getrandbits(256):064x}"
            base = int(rng.choice(recent)[1], 16)
            pdq = f"{base ^ (1 << rng.randrange(256)) ^ (1 << rng.randrange(256)):064x}"
        else:
            sha, pdq = f"{rng.getrandbits(256):064x}", f"{rng.getrandbits(256):064x}"
        recent = ([*recent, (sha, pdq)])[-1000:]
        hit = rng.random() < 0.01
        result = dict(rng.choice(hits if hit else misses))
        result["sha256"] = sha
        if hit:
            work = rng.randrange(5000)
            result["matches"] = [m | {"ref": f"work{work}"} for m in result["matches"]]
            written += 1
        columns["seq"].append(item.seq)
        columns["data"].append(b"\xff\xd8 jpeg bytes of a hit" if hit else b"")
        columns["sha256"].append(sha)
        columns["provenance"].append(json.dumps({"url": item.source, "status": 200, "sha256": sha}))
        columns["error"].append("")
        columns["result"].append(json.dumps(result, ensure_ascii=False))
        columns["pdq"].append(pdq)
        if len(columns["seq"]) >= SHARD_ROWS:
            flush()
    flush()
    return written


def write_report(rows: list[dict[str, Any]], database_bytes: int, args: argparse.Namespace) -> None:
    """--out from the sweeps measured so far (written after each, so a run stopped early keeps its figures)."""
    total_images = sum(r["images"] for r in rows)
    total_s = sum(r["ingest_s"] for r in rows)
    slowest = min(r["images_per_s"] for r in rows)
    report = {
        "machine": f"{os.cpu_count()} cores ({platform.machine()}), Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "command": f"python scripts/benchmark_ingest.py --sweeps {args.sweeps} --images {args.images}",
        "sweeps": rows,
        "images": total_images,
        "ingest_s": round(total_s, 1),
        "images_per_s": round(total_images / total_s),
        "slowest_sweep_images_per_s": slowest,
        "database_gb": round(database_bytes / 1e9, 2),
        "hours_for_100m_at_slowest": round(100e6 / slowest / 3600, 2),
        "note": args.note,
    }
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sweeps", type=int, default=10)
    ap.add_argument("--images", type=int, default=1_000_000, help="Listing images per sweep.")
    ap.add_argument("--work", help="Folder for the store and run folders (default: a temporary one).")
    ap.add_argument("--out", default=str(REPO / "docs" / "ingest-benchmark.json"))
    ap.add_argument("--note", default="", help="What else ran on the machine, said beside the figures.")
    ap.add_argument(
        "--from-log",
        help="Write --out from the sweep lines an earlier run printed (one stopped before this version wrote --out "
        "after each sweep); --database names its store file for the size.",
    )
    ap.add_argument("--database", help="With --from-log: that run's service.sqlite.")
    args = ap.parse_args()
    if args.from_log:
        logged = [json.loads(x) for x in Path(args.from_log).read_text().splitlines() if x.startswith('{"sweep"')]
        write_report(logged, Path(args.database).stat().st_size if args.database else 0, args)
        print(f"wrote {args.out} from {len(logged)} sweeps of {args.from_log}")
        return
    rng = random.Random(20261207)
    hits, misses = templates()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        home = Path(tmp)
        store = Store.open(home)
        try:
            for n in range(args.sweeps):
                folder = home / f"run{n}"
                t0 = time.perf_counter()
                sweep = Sweep(store, sweep_listings(n, args.images, rng), folder, f"benchmark sweep {n}")
                planned = time.perf_counter() - t0
                hit_count = write_shards(sweep, folder, rng, hits, misses)
                t0 = time.perf_counter()
                _ingest(sweep, folder / SHARDS, SweepOptions())
                seconds = time.perf_counter() - t0
                sweep.run.close()
                shutil.rmtree(folder)  # the run record and shards: the store is what grows from sweep to sweep
                listings = int(store.database.db.execute("SELECT count(*) FROM listings").fetchone()[0])
                row = {
                    "sweep": n,
                    "images": len(sweep.firsts),
                    "hits": hit_count,
                    "plan_s": round(planned, 1),
                    "ingest_s": round(seconds, 1),
                    "images_per_s": round(len(sweep.firsts) / seconds),
                    "listing_rows_after": listings,
                    "duplicates": sweep.counts.duplicates,
                    "near_duplicates": sweep.counts.near_duplicates,
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
                write_report(rows, (home / "service.sqlite").stat().st_size, args)
        finally:
            store.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
