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
def served(home: Path, checkout: Path, env: dict[str, str]) -> Iterator[str]:
    """Serve the workspace `home` with `checkout`'s code; yields the base URL once /healthz answers, and stops the
    server on leaving."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "--home", str(home), "serve", "--port", str(port)],
        cwd=checkout,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, trust_env=False, timeout=5) as http:
            for _ in range(600):
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=60)
