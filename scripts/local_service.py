"""`semblance serve` in its own process on 127.0.0.1, for the scripts that talk to the web service as a client
(scripts/benchmark_service.py, scripts/compare_behaviour.py): a free port, the server started, waited for and
stopped."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    """A port nothing listens on, on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(home: Path, checkout: Path, env: dict[str, str], *options: str) -> Iterator[tuple[str, int]]:
    """Serve the workspace `home` with `checkout`'s code (and `serve`'s `options`); yields the base URL and the
    server's pid once /healthz answers, and stops the server on leaving."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "--home", str(home), "serve", "--port", str(port), *options],
        cwd=checkout,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, trust_env=False, timeout=5) as http:
            for _ in range(1200):
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
        yield base, server.pid
    finally:
        server.terminate()
        server.wait(timeout=60)


def rss_mib(pid: int) -> float:
    """Resident memory of process `pid` and all its descendants (a server and its scan workers), in MiB."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration, ValueError):
            continue  # a process that ended meanwhile
    return total / 1024
