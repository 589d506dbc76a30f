"""HTTP service under load: single-image scans from concurrent clients, server and clients in separate processes.

    python scripts/benchmark_service.py [--requests 48] [--clients 1 4 16 50] [--workers N] [--soak-s 120]

Starts `semblance serve` on 127.0.0.1 (its own process) over a fresh workspace with the bundled demo works, first
with `--workers 0` (one engine in the server, scans in turn: the baseline, at one client), then with `--workers N`
(scan processes, one per core by default). From this process it sends single-image scans (POST
/api/v1/cases/{id}/scans with one demo suspect, cycling through them) at each level of concurrent clients.
Measured per level: requests per second, p50/p99 latency of one request (upload, scan, stored finding, answer),
503s (the queue bound), /healthz latency meanwhile (probed every 50 ms) and the peak RSS of the server with its
workers; then the RSS over `--soak-s` seconds of continuous load. Writes docs/service-latency.json;
`scripts/benchmark.py` quotes it in docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from local_service import rss_mib, served

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
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16, 50])
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="`serve --workers` of the measured run.")
    ap.add_argument("--soak-s", type=float, default=120.0, help="Seconds of continuous load for the RSS figure.")
    ap.add_argument("--out", default=str(REPO / "docs" / "service-latency.json"))
    args = ap.parse_args()
    suspects = [p.read_bytes() for p in sorted((DEMO / "suspects").glob("*.jpg"))]
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "ws"
        cli(home, "init")
        cli(home, "register", "--manifest", str(DEMO / "works.csv"))
        cli(home, "users", "add", "bench", "--role", "investigator", "--password-stdin", stdin="benchmark password\n")
        key = cli(home, "api-keys", "create", "bench").strip().splitlines()[-1]
        unlimited = ("--rate-per-minute", "1000000")  # the office's 600 a minute would cap what is measured
        with served(home, REPO, env, "--workers", "0", *unlimited) as (
            base,
            pid,
        ):  # one engine in the server: the baseline
            baseline = run(base, pid, key, suspects, args.requests, [1])
        with served(home, REPO, env, "--workers", str(args.workers), *unlimited) as (base, pid):
            levels = run(base, pid, key, suspects, args.requests, args.clients)
            soak = soak_rss(base, pid, key, suspects, args.soak_s, clients=max(args.clients[:3] or [4]))
    report = {
        "machine": f"{os.cpu_count()} cores ({platform.machine()}), Python {platform.python_version()}",
        "requests_per_level": args.requests,
        "suspects": len(suspects),
        "baseline": {"workers": 0, "levels": baseline},
        "workers": args.workers,
        "levels": levels,
        "soak": soak,
    }
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(f"baseline (in-process engine), 1 client: {baseline[0]['requests_per_s']:.2f} req/s")
    for r in levels:
        print(
            f"{r['clients']:>3} clients, {args.workers} workers: {r['requests_per_s']:.2f} req/s "
            f"({r['requests_per_s'] / baseline[0]['requests_per_s']:.2f}x), p50 {r['p50_ms']:.0f} ms, "
            f"p99 {r['p99_ms']:.0f} ms, 503s {r['refused']}, /healthz p99 {r['healthz_p99_ms']:.0f} ms"
        )
    print(f"RSS over {soak['seconds']:.0f} s of load (MiB): {soak['rss_mib']}")
    print(f"wrote {args.out}")


def run(base: str, pid: int, key: str, suspects: list[bytes], n: int, levels: list[int]) -> list[dict[str, float]]:
    """Per level of concurrent clients: requests/s, latency, 503s, /healthz latency meanwhile, peak RSS."""
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, trust_env=False, timeout=300) as http:
        case = http.post("/api/v1/cases", headers=headers, json={"number": "BENCH-1"}).json()["case"]["id"]
        url = f"/api/v1/cases/{case}/scans"
        for w in range(4):  # models loaded and caches warm, in every worker
            http.post(url, headers=headers, files={"files": (f"warm{w}.jpg", suspects[w % len(suspects)])})
        out = []
        for clients in levels:
            refused = [0]

            def one(i: int, refused: list[int] = refused) -> float:
                t0 = time.perf_counter()
                r = http.post(url, headers=headers, files={"files": (f"s{i}.jpg", suspects[i % len(suspects)])})
                if r.status_code == 503:
                    refused[0] += 1
                else:
                    r.raise_for_status()
                return (time.perf_counter() - t0) * 1000

            probe = _Probe(base, pid)
            t0 = time.perf_counter()
            with probe, ThreadPoolExecutor(clients) as pool:
                latencies = list(pool.map(one, range(max(n, clients))))
            wall = time.perf_counter() - t0
            out.append(
                {
                    "clients": clients,
                    "requests_per_s": round((len(latencies) - refused[0]) / wall, 2),
                    "p50_ms": round(float(np.percentile(latencies, 50)), 1),
                    "p99_ms": round(float(np.percentile(latencies, 99)), 1),
                    "refused": refused[0],
                    "healthz_p50_ms": round(float(np.percentile(probe.health, 50)), 1),
                    "healthz_p99_ms": round(float(np.percentile(probe.health, 99)), 1),
                    "rss_peak_mib": round(probe.peak, 1),
                }
            )
    return out


class _Probe:
    """While a level runs: /healthz every 50 ms (its latency) and the server's RSS with its workers (the peak)."""

    def __init__(self, base: str, pid: int) -> None:
        self.base, self.pid = base, pid
        self.health: list[float] = []
        self.peak = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop)

    def __enter__(self) -> None:
        self._thread.start()

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _loop(self) -> None:
        with httpx.Client(base_url=self.base, trust_env=False, timeout=60) as http:
            while not self._done.is_set():
                t0 = time.perf_counter()
                http.get("/healthz")
                self.health.append((time.perf_counter() - t0) * 1000)
                self.peak = max(self.peak, rss_mib(self.pid))
                self._done.wait(0.05)


def soak_rss(base: str, pid: int, key: str, suspects: list[bytes], seconds: float, clients: int) -> dict[str, object]:
    """The server's RSS (with its workers) before, every tenth of `seconds` of continuous load, and after."""
    headers = {"Authorization": f"Bearer {key}"}
    samples = [round(rss_mib(pid), 1)]
    stop = time.monotonic() + seconds
    done = [0]
    with httpx.Client(base_url=base, trust_env=False, timeout=300) as http:
        case = http.post("/api/v1/cases", headers=headers, json={"number": "SOAK-1"}).json()["case"]["id"]
        url = f"/api/v1/cases/{case}/scans"

        def client(c: int) -> None:
            i = c
            while time.monotonic() < stop:
                http.post(url, headers=headers, files={"files": (f"k{i}.jpg", suspects[i % len(suspects)])})
                done[0] += 1
                i += clients

        with ThreadPoolExecutor(clients) as pool:
            futures = [pool.submit(client, c) for c in range(clients)]
            while time.monotonic() < stop:
                time.sleep(seconds / 10)
                samples.append(round(rss_mib(pid), 1))
            for f in futures:
                f.result()
    time.sleep(2)
    samples.append(round(rss_mib(pid), 1))
    return {"seconds": seconds, "clients": clients, "scans": done[0], "rss_mib": samples}


if __name__ == "__main__":
    main()
