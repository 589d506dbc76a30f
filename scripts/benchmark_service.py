"""HTTP service latency: single-image scans under concurrent load, server and clients in separate processes.

    python scripts/benchmark_service.py [--requests 48] [--clients 1 4 16]

Starts `semblance serve` on 127.0.0.1 (its own process) over a fresh workspace with the bundled demo works, then
from this process sends single-image scans (POST /api/v1/cases/{id}/scans with one demo suspect, cycling through
them) with 1, 4 and 16 concurrent clients. Measured per level: requests per second, and p50/p99 latency of one
request (upload, scan, stored finding, answer). The engine serves one scan at a time (service/web/gate.py), so
more clients raise latency, not throughput. Writes docs/service-latency.json; `scripts/benchmark.py` quotes it in
docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from local_service import served

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "samples" / "demo"
SEMBLANCE = [sys.executable, "-m", "service.cli"]


def cli(home: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [*SEMBLANCE, "--home", str(home), *args], input=stdin, capture_output=True, text=True, cwd=REPO, check=True
    )
    return done.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=48, help="Scans sent at each concurrency level.")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--out", default=str(REPO / "docs" / "service-latency.json"))
    args = ap.parse_args()
    suspects = [p.read_bytes() for p in sorted((DEMO / "suspects").glob("*.jpg"))]
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "ws"
        cli(home, "init")
        cli(home, "register", "--manifest", str(DEMO / "works.csv"))
        cli(home, "users", "add", "bench", "--role", "investigator", "--password-stdin", stdin="benchmark password\n")
        key = cli(home, "api-keys", "create", "bench").strip().splitlines()[-1]
        with served(home, REPO, os.environ | {"PYTHONUNBUFFERED": "1"}) as base:
            results = run(base, key, suspects, args.requests, args.clients)
    report = {
        "machine": f"{os.cpu_count()} cores ({platform.machine()}), Python {platform.python_version()}",
        "requests_per_level": args.requests,
        "suspects": len(suspects),
        "levels": results,
    }
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    for r in results:
        print(
            f"{r['clients']:>3} clients: {r['requests_per_s']:.2f} req/s, "
            f"p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms"
        )
    print(f"wrote {args.out}")


def run(base: str, key: str, suspects: list[bytes], n: int, levels: list[int]) -> list[dict[str, float]]:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, trust_env=False, timeout=300) as http:
        case = http.post("/api/v1/cases", headers=headers, json={"number": "BENCH-1"}).json()["case"]["id"]
        url = f"/api/v1/cases/{case}/scans"
        http.post(url, headers=headers, files={"files": ("warm.jpg", suspects[0])})  # models loaded, caches warm
        out = []
        for clients in levels:

            def one(i: int) -> float:
                t0 = time.perf_counter()
                r = http.post(url, headers=headers, files={"files": (f"s{i}.jpg", suspects[i % len(suspects)])})
                r.raise_for_status()
                return (time.perf_counter() - t0) * 1000

            t0 = time.perf_counter()
            with ThreadPoolExecutor(clients) as pool:
                latencies = list(pool.map(one, range(n)))
            wall = time.perf_counter() - t0
            out.append(
                {
                    "clients": clients,
                    "requests_per_s": round(n / wall, 2),
                    "p50_ms": round(float(np.percentile(latencies, 50)), 1),
                    "p99_ms": round(float(np.percentile(latencies, 99)), 1),
                }
            )
    return out


if __name__ == "__main__":
    main()
