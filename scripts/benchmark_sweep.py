"""Sweep benchmarks: listings per second from local files against the engine's own scan throughput, where a sweep's
time goes, and the offender queries on a synthetic store of millions of listing rows.

    python scripts/benchmark_sweep.py [--listings 150] [--rows 10000000]

Throughput: 100 dev originals are registered (../shared/eval; the bundled demo works when it is absent), then the
same listing images (150 dev derivatives and distractors, one listing each, four sellers) are swept with `semblance
sweep` and scanned with `semblance scan`, each as one process from start to finish (start-up included), and swept
once more in-process to time its stages. Target: the sweep at >= 80% of the scan's rate.

Offender queries: a synthetic findings store (service/store, the real schema and indexes) with --rows listings,
each with one image, its suspect and its finding, 200,000 sellers over 5 marketplaces, 1% of the images hits
(a third of them re-uploaded by another seller, so accounts link), filled by SQLite itself (recursive CTEs); then
each query of `semblance offenders` is timed. Writes docs/sweep-benchmark.json; scripts/benchmark.py quotes it in
docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from benchmark import real_files  # noqa: E402

from service.engine import Engine  # noqa: E402
from service.store import Store  # noqa: E402
from service.sweep.listings import read_listings  # noqa: E402
from service.sweep.run import SweepOptions, sweep_local  # noqa: E402

SEMBLANCE = [sys.executable, "-m", "service.cli"]
DEMO = REPO / "samples" / "demo"


def timed(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([*SEMBLANCE, *args], check=True, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def throughput(shared: Path, n: int, tmp: Path) -> dict[str, Any]:
    found = real_files(shared, n, 100)
    if found is None:
        originals = sorted((DEMO / "originals").glob("*.jpg"))
        images = sorted((DEMO / "suspects").glob("*.jpg"))
        source = "the bundled demo sample"
    else:
        originals, images = found
        source = f"{len(images)} dev derivatives and distractors of ../shared/eval"
    home = tmp / "ws"
    subprocess.run([*SEMBLANCE, "--home", str(home), "init"], check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    subprocess.run(
        [*SEMBLANCE, "--home", str(home), "register", *map(str, originals)],
        check=True,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    listing = tmp / "listings.csv"
    with listing.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["listing_id", "marketplace", "seller", "path"])
        for i, p in enumerate(images):
            w.writerow([f"L{i}", "bench", f"seller{i % 4}", str(p)])
    scan_s = timed(["--home", str(home), "scan", *map(str, images)])
    sweep_s = timed(["--home", str(home), "sweep", str(listing), "--out", str(tmp / "run1")])
    engine, store = Engine.open(str(home)), Store.open(home)
    try:
        t0 = time.perf_counter()
        counts = sweep_local(engine, store, read_listings(str(listing)), tmp / "run2", str(listing), SweepOptions())
        inproc_s = time.perf_counter() - t0
    finally:
        store.close()
        engine.close()
    per_image = {k: round(v / len(images) * 1000, 1) for k, v in counts.seconds.items()}
    return {
        "images": len(images),
        "source": source,
        "scan_per_s": round(len(images) / scan_s, 2),
        "sweep_per_s": round(len(images) / sweep_s, 2),
        "ratio": round(scan_s / sweep_s, 3),
        "in_process_per_s": round(len(images) / inproc_s, 2),
        "stage_ms_per_image": per_image,
    }


FILL = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :rows)
INSERT INTO {table} SELECT {columns} FROM n
"""


def offender_store(home: Path, rows: int) -> dict[str, float]:
    """Fill a findings store with `rows` synthetic listings in SQLite itself; returns the fill times."""
    store = Store.open(home)
    db = store.database.db
    times: dict[str, float] = {}
    sellers = 200_000
    hit_every = 100  # 1% of images are hits
    steps = [
        ("sweeps", "i, 'bench-' || i, 'synthetic', '2026-01-01T00:00:00Z'", 1),
        ("sellers", "i, 'm' || (i % 5), 's' || i, 'seller ' || i", sellers),
        (
            "listings",
            f"i, 'm' || (i % 5), 'L' || i, 1 + (i * 7919) % {sellers}, '', '', '', '', "
            "'2026-0' || (1 + i % 9) || '-01T00:00:00Z', '2026-0' || (1 + i % 9) || '-02T00:00:00Z'",
            rows,
        ),
        ("suspects", "i, NULL, printf('%064x', i), 'img' || i, 1000, '2026-01-01T00:00:00Z', 'sweep 1', ''", rows),
        (
            "findings",
            f"i, i, NULL, 'sweep', CASE WHEN i % {hit_every} = 0 THEN 'copy' ELSE 'no_match' END, "
            f"CASE WHEN i % {hit_every} = 0 THEN 'work' || (i % 5000) ELSE '' END, NULL, '{{}}', "
            "'2026-01-01T00:00:00Z', NULL",
            rows,
        ),
        # a third of the hit images are re-uploads of an earlier hit by another seller: same image group
        (
            "listing_images",
            f"i, i, 1, 'img' || i, printf('%064x', i), '', "
            f"CASE WHEN i % {hit_every * 3} = 0 THEN printf('%064x', i - {hit_every}) "
            "ELSE printf('%064x', i) END, i, '2026-0' || (1 + i % 9) || '-01T00:00:00Z'",
            rows,
        ),
    ]
    for table, columns, count in steps:
        t0 = time.perf_counter()
        db.execute("BEGIN")
        db.execute(FILL.format(table=table, columns=columns), {"rows": count})
        db.execute("COMMIT")
        times[table] = round(time.perf_counter() - t0, 1)
        print(f"filled {table}: {count:,} rows in {times[table]} s", flush=True)
    t0 = time.perf_counter()
    db.execute("BEGIN")
    db.execute("INSERT INTO finding_matches SELECT id, top_ref, 'copy', 0.99 FROM findings WHERE verdict = 'copy'")
    db.execute("COMMIT")
    db.execute("ANALYZE")
    times["finding_matches"] = round(time.perf_counter() - t0, 1)
    store.close()
    return times


def offender_queries(home: Path) -> dict[str, float]:
    store = Store.open(home)
    out: dict[str, float] = {}
    try:
        for name, fn in (
            ("ranking (top 50 sellers, with links)", lambda: store.offenders.ranking(50)),
            ("images reused by several sellers", lambda: store.offenders.shared_images()),
            ("works most infringed", lambda: store.offenders.works_most_infringed(50)),
        ):
            t0 = time.perf_counter()
            result = fn()
            out[name] = round(time.perf_counter() - t0, 2)
            print(f"{name}: {out[name]} s ({len(result)} rows)", flush=True)
        top = store.offenders.ranking(1)[0].seller_id
        t0 = time.perf_counter()
        rows = store.offenders.evidence(top)
        out["evidence behind one seller"] = round(time.perf_counter() - t0, 3)
        print(f"evidence: {out['evidence behind one seller']} s ({len(rows)} rows)", flush=True)
    finally:
        store.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listings", type=int, default=150)
    ap.add_argument("--rows", type=int, default=10_000_000, help="Listing rows of the synthetic offender store.")
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "eval"))
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--skip-offenders", action="store_true")
    ap.add_argument("--out", default=str(REPO / "docs" / "sweep-benchmark.json"))
    args = ap.parse_args()
    path = Path(args.out)
    report: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    report["machine"] = f"{os.cpu_count()} cores ({platform.machine()}), Python {platform.python_version()}"
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_throughput:
            report["throughput"] = throughput(Path(args.shared), args.listings, Path(tmp) / "t")
            print(json.dumps(report["throughput"], indent=1), flush=True)
        if not args.skip_offenders:
            home = Path(tmp) / "offenders"
            home.mkdir()
            fill = offender_store(home, args.rows)
            size = (home / "service.sqlite").stat().st_size
            report["offenders"] = {
                "rows": args.rows,
                "fill_s": fill,
                "database_gb": round(size / 1e9, 2),
                "query_s": offender_queries(home),
            }
    path.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
