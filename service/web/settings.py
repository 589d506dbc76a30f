"""The server's limits and switches, in one place, with why each is what it is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MiB = 1024 * 1024


@dataclass(frozen=True)
class ServiceSettings:
    home: Path
    """The workspace folder: registry, vault, service store and evidence live under it."""
    max_upload_bytes: int = 1024 * MiB
    """One request's body: a phone's export zipped is hundreds of MB; past 1 GiB, use the CLI on the server."""
    max_files_per_upload: int = 5000
    """Files (archive members included) one upload may start a job for."""
    rate_per_minute: int = 600
    """Requests a minute per client address and per credential (10/s sustained); the burst is the same number."""
    sign_in_per_minute: int = 10
    """Sign-in attempts a minute per address: enough for typing mistakes, too few for guessing."""
    secure_cookies: bool | None = None
    """True/False forces the cookie's Secure flag; None follows the request (https -> Secure)."""

    def over_tls(self, scheme: str) -> bool:
        """Whether a request came over TLS as far as cookies and HSTS go: `secure_cookies` if set, else the
        request's scheme (behind a proxy, the one it forwarded)."""
        return self.secure_cookies if self.secure_cookies is not None else scheme == "https"

    item_seconds: float | None = 120.0
    """Longest one image may take in the engine before it is reported as an error (see service/time_budget)."""
    scan_workers: int = 0
    """Processes that scan suspects (service.scan_pool), each with its own engine and its share of the cores;
    `semblance serve` starts one per core. 0 scans on the web process's own engine, one at a time (the tests)."""
    scan_queue: int = 32
    """Suspects in flight to the workers before another is answered 503 with Retry-After: twice the 16 clients an
    office is sized for, so they never see one, while a flood is told to come back instead of waiting a minute."""
