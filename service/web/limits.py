"""Rate limits (per client address and per credential), credentials checked before a body is read, and the
request-body cap, as ASGI middleware.

Token buckets: each key holds up to `per_minute` tokens, refilled continuously, one spent per request; an empty
bucket answers 429 with Retry-After (seconds until a token is back). Buckets live in memory: one server process per
office, and a restart forgiving everyone is harmless. The body cap counts bytes as they arrive, so a request that
lies about (or omits) its Content-Length is cut off at the cap too.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import quote

from starlette.requests import Request

from service.web.auth import UNSAFE_METHODS, identify

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BUCKETS = 100_000
"""Buckets kept (least recently used dropped): bounds memory against a flood of spoofed keys."""
SIGN_IN_PATHS = ("/api/v1/session", "/login")
UNLIMITED_PATHS = ("/healthz",)
"""Liveness answers from the event loop with no data and no lookup: a monitor polling it must never be told 429
(it would report a healthy server as down), and a flood of it costs less than the bucket it would fill."""


class TokenBuckets:
    """Thread-safe token buckets keyed by string."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Spend a token for `key`: 0 if there was one, else the seconds until there will be."""
        with self._lock:
            now = self.clock()
            tokens, last = self._buckets.pop(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            wait = 0.0
            if tokens >= 1:
                tokens -= 1
            else:
                wait = (1 - tokens) / self.rate
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > MAX_BUCKETS:
                self._buckets.popitem(last=False)
            return wait


async def _json(send: Send, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            + (headers or []),
        }
    )
    await send({"type": "http.response.body", "body": body})


def _credential(scope: Scope) -> str | None:
    """A digest of the request's credential (API key or session cookie), so a key is limited wherever it is used."""
    for name, value in scope.get("headers", []):
        if name == b"authorization" or (name == b"cookie" and b"semblance_session=" in value):
            return hashlib.sha256(value).hexdigest()[:32]
    return None


class RateLimit:
    """429 with Retry-After past `per_minute` requests per address or per credential; sign-in has its own, smaller
    budget per address."""

    def __init__(self, app: App, per_minute: int, sign_in_per_minute: int) -> None:
        self.app = app
        self.general = TokenBuckets(per_minute)
        self.sign_in = TokenBuckets(sign_in_per_minute)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        address = (scope.get("client") or ("unknown", 0))[0]
        waits = [self.general.take(f"ip:{address}")]
        credential = _credential(scope)
        if credential:
            waits.append(self.general.take(f"cred:{credential}"))
        if scope.get("method") == "POST" and scope.get("path") in SIGN_IN_PATHS:
            waits.append(self.sign_in.take(f"ip:{address}"))
        wait = max(waits)
        if wait > 0:
            retry = str(max(1, math.ceil(wait))).encode()
            await _json(send, 429, "too many requests: wait and try again", [(b"retry-after", retry)])
            return
        await self.app(scope, receive, send)


class CredentialsFirst:
    """401 for a request that would send a body (POST, PUT, PATCH, DELETE) without valid credentials, answered from
    its headers alone, before one byte of the body is read: nobody can make the server receive and spool an upload
    before being told to sign in. Signing in itself is the exception (its body holds the credentials)."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope.get("method") in UNSAFE_METHODS
            and scope.get("path") not in SIGN_IN_PATHS
            and identify(Request(scope)) is None
        ):
            if not str(scope.get("path", "")).startswith("/api/"):  # a page's form: back to sign-in, as pages do
                location = b"/login?next=" + quote(str(scope.get("path", "/"))).encode()
                await send({"type": "http.response.start", "status": 303, "headers": [(b"location", location)]})
                await send({"type": "http.response.body", "body": b""})
                return
            message = "sign in or send an API key (Authorization: Bearer ...)"
            await _json(send, 401, message, [(b"www-authenticate", b"Bearer")])
            return
        await self.app(scope, receive, send)


class BodyTooLarge(Exception):
    pass


class BodyCap:
    """413 for a request body over `max_bytes`, whether declared in Content-Length or found while reading."""

    def __init__(self, app: App, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = f"the request body is larger than this server accepts ({self.max_bytes:,} bytes)"
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await _json(send, 413, message)
                return
        seen = 0
        over = started = False

        async def counted() -> Message:
            nonlocal seen, over
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    over = True
                    raise BodyTooLarge
            return msg

        async def tracked(msg: Message) -> None:
            # whatever the app made of the cut-off body (a parser error, a 400), the client is told the truth
            nonlocal started
            if over:
                if msg["type"] == "http.response.start" and not started:
                    started = True
                    await _json(send, 413, message)
                return
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge:
            if not started:
                await _json(send, 413, message)
