"""Fetching listing images safely: the SSRF guard on every hop, the connection pinned to the checked address,
caps enforced while streaming, content sniffed, retries with backoff and jitter, and politeness per host.

Each fetch resolves the host once (`resolver`, injectable so tests never resolve outside names), asks
`netguard.decide` about every address it got, and connects to the first one by its IP literal, sending the name in
the Host header (and as the TLS server name, so certificates are still checked against the name): a DNS answer
that changes between the check and the connection (rebinding) is never used. Redirects are followed by hand, each
target checked the same way. The HTTP client ignores proxy variables (`trust_env=False`), so no proxy can carry a
request past the guard. Every hop (URL, address, status, headers, time) is kept: evidence bundles record how an
image was obtained.
"""

from __future__ import annotations

import hashlib
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from service.sweep.netguard import AllowList, IPAddress, decide, parse_ip
from service.untrusted import IMAGE_KINDS, sniff

Resolver = Callable[[str, int], list[str]]
USER_AGENT = "Semblance-sweep/0.1 (copyright infringement detection; contact: the operator of this sweep)"
KEPT_HEADERS = ("content-type", "content-length", "last-modified", "etag", "server", "date", "location", "retry-after")


@dataclass(frozen=True)
class FetchPolicy:
    """The limits of one sweep's fetching, with why each is what it is."""

    connect_timeout_s: float = 5.0
    read_timeout_s: float = 20.0
    """Seconds without a byte before giving up; a slow drip is also cut by `total_timeout_s`."""
    total_timeout_s: float = 60.0
    max_bytes: int = 50 * 1024 * 1024
    """No listing photo needs more; enforced while streaming, whatever Content-Length says."""
    max_redirects: int = 5
    retries: int = 2
    """Retries after a timeout, a connection error, 429 or 5xx: a marketplace CDN hiccups, a second try works."""
    backoff_s: float = 0.5
    """First retry waits backoff_s × (1 + jitter), the next twice that; Retry-After is honoured up to
    `retry_after_cap_s`."""
    retry_after_cap_s: float = 30.0
    """The longest a server's Retry-After is waited for; one asking for longer is not retried in this sweep (its
    request is recorded with the header), since a sweep that sleeps for an hour helps nobody."""
    item_budget_s: float = 90.0
    """All attempts at one URL together, waits included: a host that drips a byte at a time or never answers
    costs at most this, not attempts × `total_timeout_s`."""
    host_failures: int = 3
    """Fetches of one host that failed in a row (after their retries) before the rest of that host's URLs in this
    sweep are skipped at once, each with the reason: a dead host must not cost every one of its items in full."""
    per_host: int = 2
    """Requests in flight to one host at a time."""
    politeness_s: float = 0.25
    """Gap between two requests to one host."""
    allow: AllowList = field(default_factory=AllowList)


@dataclass(frozen=True)
class Hop:
    url: str
    address: str
    status: int
    headers: dict[str, str]
    at: str

    def to_json(self) -> dict[str, object]:
        return {"url": self.url, "address": self.address, "status": self.status, "headers": self.headers, "at": self.at}


@dataclass
class Fetched:
    """What a fetch got: the bytes and their SHA-256 as received, or the reason there are none; every hop."""

    url: str
    data: bytes | None = None
    sha256: str = ""
    kind: str = ""
    hops: list[Hop] = field(default_factory=list)
    started_at: str = ""
    error: str | None = None
    attempts: int = 0

    def provenance(self) -> dict[str, object]:
        """How the image was obtained, for results and evidence bundles."""
        return {
            "url": self.url,
            "final_url": self.hops[-1].url if self.hops else self.url,
            "started_at": self.started_at,
            "hops": [h.to_json() for h in self.hops],
            "sha256": self.sha256,
            "size_bytes": len(self.data) if self.data is not None else None,
            "attempts": self.attempts,
            "error": self.error,
        }


class Refused(Exception):
    """A request the guard or the policy refuses: not retried."""


class Transient(Exception):
    """A failure worth retrying (timeout, connection error, 429, 5xx)."""

    def __init__(self, message: str, retry_after: float | None = None, busy: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.busy = busy
        """The host answered that it is busy (429, or Retry-After): alive, so not a failure of the host."""


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the operating system resolves `host` to (what the real sweep uses; tests inject a stub)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or url
    except ValueError:
        return url


def _retry_after(value: str) -> float | None:
    """Seconds from a Retry-After header (seconds or an HTTP date), or None when absent or unreadable."""
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Fetcher:
    """Fetches image URLs under a `FetchPolicy`; thread-safe (one per sweep, shared by its fetch workers)."""

    def __init__(
        self,
        policy: FetchPolicy = FetchPolicy(),
        resolver: Resolver = system_resolver,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.policy = policy
        self.resolver = resolver
        self.sleep = sleep
        timeout = httpx.Timeout(policy.read_timeout_s, connect=policy.connect_timeout_s)
        # no kept-alive connections: a pool keyed by the pinned IP could hand a TLS connection checked against one
        # host's certificate to another host on the same address
        limits = httpx.Limits(max_keepalive_connections=0)
        self.client = httpx.Client(trust_env=False, follow_redirects=False, timeout=timeout, limits=limits)
        self._hosts: dict[str, threading.Semaphore] = {}
        self._last: dict[str, float] = {}
        self._failing: dict[str, int] = {}
        """Host -> fetches that failed in a row (FetchPolicy.host_failures)."""
        self._lock = threading.Lock()

    def close(self) -> None:
        self.client.close()

    def fetch(self, url: str) -> Fetched:
        """Fetch `url`: never raises; a refusal or failure is `Fetched.error`."""
        out = Fetched(url, started_at=now())
        host = _host(url)
        with self._lock:
            failed = self._failing.get(host, 0)
        if failed >= self.policy.host_failures:
            out.error = f"skipped: {host} failed {failed} fetches in a row in this sweep"
            return out
        budget = time.monotonic() + self.policy.item_budget_s
        transient = False
        for attempt in range(self.policy.retries + 1):
            out.attempts = attempt + 1
            out.hops = []
            transient = False
            try:
                out.data = self._follow(url, out, budget)
                out.sha256 = hashlib.sha256(out.data).hexdigest()
                out.kind = sniff(out.data) or ""
                if out.kind not in IMAGE_KINDS:
                    ctype = out.hops[-1].headers.get("content-type", "none") if out.hops else "none"
                    raise Refused(f"not an image (judged by its content; Content-Type said {ctype})")
                out.error = None
                break
            except Refused as exc:
                out.error = str(exc)
                out.data = None
                break
            except Transient as exc:
                out.error = str(exc)
                out.data = None
                transient = not exc.busy
                wait = self.policy.backoff_s * (2**attempt) * (1 + random.random())
                if exc.retry_after is not None and exc.retry_after > self.policy.retry_after_cap_s:
                    out.error += (
                        f"; the server asked to wait {exc.retry_after:.0f} s before retrying, longer than this sweep "
                        f"waits ({self.policy.retry_after_cap_s:.0f} s)"
                    )
                    break
                wait = max(wait, exc.retry_after or 0.0)
                if attempt == self.policy.retries or time.monotonic() + wait >= budget:
                    break
                self.sleep(wait)
            except Exception as exc:  # a hostile URL or response must never stop a sweep: it is this item's error
                out.error = f"cannot fetch ({type(exc).__name__}: {exc})"
                out.data = None
                break
        with self._lock:  # a host that answers (a refusal, 429, Retry-After) is not dead; one that only fails may be
            self._failing[host] = self._failing.get(host, 0) + 1 if transient else 0
        return out

    def _follow(self, url: str, out: Fetched, budget: float) -> bytes:
        current = url
        for _ in range(self.policy.max_redirects + 1):
            status, headers, body = self._one(current, out, budget)
            if status in (301, 302, 303, 307, 308):
                location = headers.get("location")
                if not location:
                    raise Refused(f"redirect ({status}) without a Location")
                try:
                    current = urljoin(current, location)
                except ValueError as exc:
                    raise Refused(f"redirect to an invalid URL ({exc})") from exc
                continue
            if status == 429 or status >= 500:
                after = _retry_after(headers.get("retry-after", ""))
                raise Transient(f"HTTP {status}", after, busy=status == 429 or after is not None)
            if status != 200:
                raise Refused(f"HTTP {status}")
            assert body is not None
            return body
        raise Refused(f"more than {self.policy.max_redirects} redirects")

    def _one(self, url: str, out: Fetched, budget: float) -> tuple[int, dict[str, str], bytes | None]:
        """One request to `url`, pinned to a checked address; returns status, kept headers and (for 200) the body."""
        try:
            parts = urlsplit(url)
            explicit_port = parts.port
        except ValueError as exc:
            raise Refused(f"{url}: not a valid URL ({exc})") from exc
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Refused(f"{url}: only http and https URLs are fetched")
        if parts.username or parts.password:
            raise Refused(f"{url}: URLs with credentials are not fetched")
        host = parts.hostname
        port = explicit_port or (443 if parts.scheme == "https" else 80)
        address = self._checked_address(host, port)
        literal = f"[{address}]" if address.version == 6 else str(address)
        pinned = urlunsplit((parts.scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
        host_header = host if explicit_port is None else f"{host}:{explicit_port}"
        extensions = {"sni_hostname": host} if parts.scheme == "https" and parse_ip(host) is None else {}
        with self._polite(host):
            deadline = min(time.monotonic() + self.policy.total_timeout_s, budget)
            try:
                with self.client.stream(
                    "GET",
                    pinned,
                    headers={"Host": host_header, "User-Agent": USER_AGENT, "Accept": "image/*"},
                    extensions=extensions,
                ) as r:
                    headers = {k: v for k, v in r.headers.items() if k.lower() in KEPT_HEADERS}
                    out.hops.append(Hop(url, str(address), r.status_code, headers, now()))
                    if r.status_code != 200:
                        return r.status_code, headers, None
                    declared = r.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > self.policy.max_bytes:
                        raise Refused(f"{int(declared):,} bytes declared; the cap is {self.policy.max_bytes:,}")
                    chunks, size = [], 0
                    for chunk in r.iter_bytes():
                        size += len(chunk)
                        if size > self.policy.max_bytes:
                            raise Refused(f"more than {self.policy.max_bytes:,} bytes; stopped reading at the cap")
                        if time.monotonic() > deadline:
                            raise Transient(f"took longer than {self.policy.total_timeout_s:.0f} s, or this URL's "
                                            f"{self.policy.item_budget_s:.0f} s in all")  # fmt: skip
                        chunks.append(chunk)
                    return 200, headers, b"".join(chunks)
            except httpx.TimeoutException as exc:
                raise Transient(f"timed out ({type(exc).__name__})") from exc
            except httpx.DecodingError as exc:
                raise Refused(f"the response's content encoding is broken ({exc})") from exc
            except httpx.RemoteProtocolError as exc:
                if "header" in str(exc).lower():  # a malformed answer (a bad Location, say): asking again won't help
                    raise Refused(f"the server's answer is malformed ({exc})") from exc
                raise Transient(f"the connection broke off ({exc})") from exc
            except httpx.TransportError as exc:
                raise Transient(f"could not connect ({exc})") from exc

    def _checked_address(self, host: str, port: int) -> IPAddress:
        """The address to connect to: every address the host resolves to must pass the guard."""
        literal = parse_ip(host)
        if literal is not None:
            candidates = [literal]
        else:
            try:
                resolved = self.resolver(host, port)
            except UnicodeError as exc:  # an empty or over-long label: not a name at all
                raise Refused(f"{host}: not a valid host name ({exc})") from exc
            except OSError as exc:
                raise Transient(f"{host}: could not resolve ({exc})") from exc
            candidates = [ip for ip in (parse_ip(a) for a in resolved) if ip is not None]
            if not candidates:
                raise Refused(f"{host}: resolves to no address")
        for ip in candidates:
            verdict = decide(ip, self.policy.allow)
            if not verdict.allowed:
                raise Refused(f"{host} resolves to {ip}: refused ({verdict.reason})")
        return candidates[0]

    def _polite(self, host: str) -> _HostSlot:
        with self._lock:
            sem = self._hosts.setdefault(host, threading.Semaphore(self.policy.per_host))
        return _HostSlot(self, host, sem)

    def _wait_turn(self, host: str) -> None:
        with self._lock:
            last = self._last.get(host, 0.0)
            start = max(time.monotonic(), last + self.policy.politeness_s)
            self._last[host] = start
        delay = start - time.monotonic()
        if delay > 0:
            self.sleep(delay)


class _HostSlot:
    """Context: one of the host's concurrent slots, entered no sooner than the politeness gap after the last."""

    def __init__(self, fetcher: Fetcher, host: str, sem: threading.Semaphore) -> None:
        self.fetcher, self.host, self.sem = fetcher, host, sem

    def __enter__(self) -> None:
        self.sem.acquire()
        self.fetcher._wait_turn(self.host)

    def __exit__(self, *exc: object) -> None:
        self.sem.release()
