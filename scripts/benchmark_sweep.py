"""Sweep benchmarks: listings per second from local files against the engine's own scan throughput, where a sweep's
time goes, and the offender queries on a synthetic store of millions of listing rows.

    python scripts/benchmark_sweep.py [--listings 150] [--rows 10000000]

Throughput: 100 dev originals are registered (../shared/eval; the bundled demo works when it is absent), then the
same listing images (150 dev derivatives and distractors, one listing each, four sellers) are swept with `semblance
sweep` and scanned with `semblance scan`, each as one process from start to finish (start-up included), and swept
once more in-process to time its stages. Target: the sweep at >= 80% of the scan's rate.

Offender queries: a synthetic findings store (service/store, the real schema and indexes) with --rows listings, each
with one image, its suspect and its finding, 200,000 sellers over 5 marketplaces, 1% of the images hits (a third of
them re-uploaded by another seller, so accounts link), filled by SQLite itself (recursive CTEs); then each query of
`semblance offenders` is timed; then listings get regions (120 prefectures, a few far more often than the rest), one
seller in 25 shares a contact with another, the supervision tables are filled as ingest keeps them, and every
supervision query is timed for combinations of the page's filters (target: <= 2 s each; every hit falls on
marketplace m0, as i % 100 = 0 implies i % 5 = 0, so the marketplace filter names m0), and the page and the API's
picture through the web app (target: the page <= 3 s). Writes docs/sweep-benchmark.json; scripts/benchmark.py quotes
it in docs/PERFORMANCE.md.
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

from index.migrations import statements  # noqa: E402
from index.registry import WorkRecord  # noqa: E402
from service.engine import Engine  # noqa: E402
from service.store import Store  # noqa: E402
from service.store.database import SUPERVISION_BACKFILL  # noqa: E402
from service.supervision.regions import region_table  # noqa: E402
from service.sweep.listings import read_listings  # noqa: E402
from service.sweep.run import SweepOptions, sweep_local  # noqa: E402
from service.usecases import supervision as S  # noqa: E402

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
    db.execute("CREATE TEMP TABLE places (k INTEGER PRIMARY KEY, province_code TEXT, region_code TEXT)")
    prefectures = [r for r in region_table().regions.values() if r.level == "prefecture"][:PLACES]
    db.executemany("INSERT INTO temp.places VALUES (?,?,?)", [(k, r.parent, r.code) for k, r in enumerate(prefectures)])
    hit_every = 100  # 1% of images are hits
    steps = [
        ("sweeps", "i, 'bench-' || i, 'synthetic', '2026-01-01T00:00:00Z'", 1),
        ("sellers", "i, 'm' || (i % 5), 's' || i, 'seller ' || i, ''", sellers),
        (
            "listings",
            f"i, 'm' || (i % 5), 'L' || i, 1 + (i * 7919) % {sellers}, '', '', '', '', "
            "'2026-0' || (1 + i % 9) || '-01T00:00:00Z', '2026-0' || (1 + i % 9) || '-02T00:00:00Z', "
            # where each listing is offered from: PLACES prefectures, a few of them much more often than the rest
            f"'', (SELECT province_code FROM temp.places WHERE k = ((i % 997) * (i % 997)) % {PLACES}), "
            f"(SELECT region_code FROM temp.places WHERE k = ((i % 997) * (i % 997)) % {PLACES})",
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
    times["finding_matches"] = round(time.perf_counter() - t0, 1)
    # every 50th seller account shares a contact (a keyed hash) with the next: the entities supervision links
    t0 = time.perf_counter()
    db.execute("BEGIN")
    db.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :sellers) "
        "INSERT INTO seller_identifiers SELECT i, 'contact', printf('%032x', i / 2), '2026-01-01' FROM n "
        "WHERE i % 50 < 2",
        {"sellers": sellers},
    )
    for statement in statements(SUPERVISION_BACKFILL):  # what ingest keeps up to date, filled at once here
        db.execute(statement)
    db.execute("COMMIT")
    times["supervision tables"] = round(time.perf_counter() - t0, 1)
    db.execute("ANALYZE")
    store.close()
    return times


PLACES = 120
"""Prefectures the synthetic listings are offered from."""
WORKS = [
    WorkRecord(f"work{i}", f"{i:064x}", 1, 1, 1, "JPEG", "", rights_holder=f"holder {i % 50}",
               categories=("painting", "illustration", "photography", "animation_character")[i % 4])
    for i in range(5000)
]  # fmt: skip
"""The registry the synthetic hits refer to (work0 .. work4999): 50 rights holders, four priority areas."""


def supervision_queries(home: Path) -> dict[str, float]:
    """Each query the supervision page and `semblance supervision` make, for combinations of its filters, timed on
    the synthetic store (the best of two runs: the first also warms SQLite's page cache)."""
    store = Store.open(home)
    out: dict[str, float] = {}
    audit: Any = lambda *_: None  # noqa: E731
    cases = {
        "one month, no filter": lambda: S.supervision_report(store, WORKS, S.month_scope("2026-05"), audit),
        "one month, a province": lambda: S.supervision_report(
            store, WORKS, S.month_scope("2026-05", region="330000"), audit
        ),
        "one month, a marketplace": lambda: S.supervision_report(
            store, WORKS, S.month_scope("2026-05", marketplace="m0"), audit
        ),
        "one month, a category": lambda: S.supervision_report(
            store, WORKS, S.month_scope("2026-05", category="painting"), audit
        ),
        "one month, marketplace + province + category": lambda: S.supervision_report(
            store, WORKS, S.month_scope("2026-05", "m0", "330000", "painting"), audit
        ),
        "a quarter, no filter": lambda: S.supervision_report(
            store, WORKS, S.scope_of("2026-04-01", "2026-07-01"), audit
        ),
        "14 days (not whole months), no filter": lambda: S.supervision_report(
            store, WORKS, S.scope_of("2026-05-01", "2026-05-15"), audit
        ),
        "two provinces side by side": lambda: S.side_by_side(
            store, WORKS, S.month_scope("2026-05", region="330000"), S.month_scope("2026-05", region="440000"), audit
        ),
        "the page: a month and its 12-month trend": lambda: (
            S.supervision_report(store, WORKS, S.month_scope("2026-05"), audit),
            S.monthly_trend(store, WORKS, S.month_scope("2026-05")),
        ),
    }
    try:
        for name, fn in cases.items():
            best = min(_timed(fn) for _ in range(2))
            out[name] = round(best, 2)
            print(f"supervision, {name}: {out[name]} s", flush=True)
    finally:
        store.close()
    return out


def supervision_page(home: Path) -> dict[str, float]:
    """The supervision page and the API's picture as a browser and a client get them: the web app (its real
    routes, templates and serialisation) over the synthetic store, through its ASGI interface; each the best of
    two loads. The workspace is made beside the store with no works registered."""
    from fastapi.testclient import TestClient

    from service.web.app import create_app
    from service.web.auth import SESSION_COOKIE
    from service.web.settings import ServiceSettings

    engine = Engine.init(str(home), ["auto"])
    store = Store.open(home)
    user = store.accounts.add_user("supervisor", "a long enough password", "supervisor")
    token, _ = store.accounts.start_session(user)
    key, _ = store.accounts.create_key(user.id, "benchmark")
    store.close()
    out: dict[str, float] = {}
    try:
        with TestClient(create_app(ServiceSettings(home=home), engine=engine)) as client:
            client.cookies.set(SESSION_COOKIE, token)
            for name, path, headers in (
                ("the page (/supervision), one month", "/supervision?month=2026-05", {}),
                ("the page, a province and a marketplace", "/supervision?month=2026-05&region=330000&marketplace=m0",
                 {}),
                ("the API's picture (/api/v1/supervision), one month", "/api/v1/supervision?month=2026-05",
                 {"Authorization": f"Bearer {key}"}),
            ):  # fmt: skip
                times = []
                for _ in range(2):
                    t0 = time.perf_counter()
                    r = client.get(path, headers=headers)
                    times.append(time.perf_counter() - t0)
                    assert r.status_code == 200, (path, r.status_code, r.text[:300])
                out[name] = round(min(times), 2)
                print(f"supervision, {name}: {out[name]} s ({len(r.content):,} bytes)", flush=True)
    finally:
        engine.close()
    return out


def _timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


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
            report["supervision"] = {
                "rows": args.rows,
                "query_s": supervision_queries(home) | supervision_page(home),
            }
    path.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
