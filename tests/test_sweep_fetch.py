"""The sweep's fetcher against a local HTTP server on 127.0.0.1 (allowed explicitly), and the SSRF guard's decisions
on addresses given directly or through a resolver stub: no test resolves an outside name or leaves 127.0.0.0/8."""

from __future__ import annotations

import http.server
import ipaddress
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from service.sweep.fetch import Fetcher, FetchPolicy
from service.sweep.netguard import AllowList, decide, parse_ip
from tests.service_support import suspect

JPEG = suspect("crop_night_cafe.jpg")
LOCAL = AllowList.parse(["127.0.0.1/32"])
SEEN: list[dict[str, str]] = []


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        SEEN.append({"path": self.path, "host": self.headers.get("Host", "")})
        route = self.path.split("?")[0]
        if route == "/ok.jpg":
            self._send(200, JPEG, "image/jpeg")
        elif route == "/html.jpg":
            self._send(200, b"<html>not a picture</html>", "image/jpeg")
        elif route == "/huge":
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.end_headers()
            try:
                self.wfile.write(JPEG[:100])
                for _ in range(400):
                    self.wfile.write(b"\0" * 65536)
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif route == "/declared-huge":
            self.send_response(200)
            self.send_header("Content-Length", str(10**10))
            self.end_headers()
        elif route == "/truncated":
            self.send_response(200)
            self.send_header("Content-Length", str(len(JPEG)))
            self.end_headers()
            self.wfile.write(JPEG[:1000])
            self.close_connection = True
        elif route == "/slow":
            time.sleep(1.5)
            self._send(200, JPEG, "image/jpeg")
        elif route == "/redirect":
            self._redirect("/ok.jpg")
        elif route == "/redirect-loop":
            self._redirect("/redirect-loop")
        elif route == "/redirect-private":
            self._redirect("http://10.0.0.7/ok.jpg")
        elif route == "/redirect-metadata":
            self._redirect("http://169.254.169.254/latest/meta-data/")
        elif route == "/bad-location":
            self._redirect("http://[x")
        elif route == "/odd-retry":
            self.send_response(503)
            self.send_header("Retry-After", "\u00b2")  # a superscript two: isdigit() but not a number
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif route == "/bad-gzip":
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(JPEG)))
            self.end_headers()
            self.wfile.write(JPEG)
        elif route == "/retry-much-later":
            self.send_response(429)
            self.send_header("Retry-After", "99999")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif route == "/retry-soon":
            seen = [s for s in SEEN if s["path"] == "/retry-soon"]
            if len(seen) % 2:
                self.send_response(503)
                self.send_header("Retry-After", "1")
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._send(200, JPEG, "image/jpeg")
        elif route == "/never":
            time.sleep(2.0)  # longer than the tests' read timeout: a host that never answers
            self._send(200, JPEG, "image/jpeg")
        elif route == "/drip":
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.end_headers()
            try:
                for byte in JPEG[:40]:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.1)
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif route == "/control-location":
            self.send_response(302)
            self.send_header("Location", "/ok.jpg\x00evil")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif route == "/busy":
            self._send(429, b"slow down", "text/plain")
        elif route == "/flaky":
            flaky = [s for s in SEEN if s["path"] == "/flaky"]
            if len(flaky) % 2:
                self._send(503, b"busy", "text/plain")
            else:
                self._send(200, JPEG, "image/jpeg")
        else:
            self._send(404, b"no", "text/plain")

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, where: str) -> None:
        self.send_response(302)
        self.send_header("Location", where)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def fetcher(**policy: Any) -> Fetcher:
    policy.setdefault("allow", LOCAL)
    policy.setdefault("politeness_s", 0.0)
    policy.setdefault("backoff_s", 0.01)
    return Fetcher(FetchPolicy(**policy), resolver=no_outside_names)


def no_outside_names(host: str, port: int) -> list[str]:
    """The resolver stub: a few test names, and a failure for anything else (nothing is looked up for real)."""
    table = {"shop.test": ["127.0.0.1"], "metadata.test": ["169.254.169.254"], "rebind.test": ["127.0.0.1", "10.0.0.1"]}
    if ".." in host:
        raise UnicodeError("label empty or too long")  # what getaddrinfo raises for such a name
    if host not in table:
        raise OSError(f"the test resolver does not know {host}")
    return table[host]


def test_an_image_is_fetched_with_its_hash_and_every_hop(server: str) -> None:
    got = fetcher().fetch(f"{server}/redirect")
    assert got.error is None and got.data == JPEG and got.kind == "jpeg"
    assert [h.status for h in got.hops] == [302, 200]
    assert got.hops[-1].url.endswith("/ok.jpg") and got.hops[-1].headers["content-type"] == "image/jpeg"
    import hashlib

    assert got.sha256 == hashlib.sha256(JPEG).hexdigest()


def test_the_connection_goes_to_the_checked_address_with_the_name_in_the_host_header(server: str) -> None:
    port = server.rsplit(":", 1)[1]
    got = fetcher().fetch(f"http://shop.test:{port}/ok.jpg")
    assert got.error is None and got.hops[0].address == "127.0.0.1"
    assert SEEN[-1]["host"] == f"shop.test:{port}"


@pytest.mark.parametrize(
    ("route", "words"),
    [
        ("/html.jpg", "not an image"),
        ("/huge", "cap"),
        ("/declared-huge", "declared"),
        ("/redirect-loop", "redirects"),
        ("/redirect-private", "10.0.0.7: refused (private address)"),
        ("/redirect-metadata", "169.254.169.254: refused (cloud metadata address)"),
        ("/missing", "HTTP 404"),
        ("/bad-location", "invalid URL"),
        ("/odd-retry", "HTTP 503"),
        ("/bad-gzip", "content encoding"),
    ],
)
def test_hostile_responses_are_refused_with_the_reason(server: str, route: str, words: str) -> None:
    got = fetcher(max_bytes=2_000_000, max_redirects=3).fetch(f"{server}{route}")
    assert got.data is None and got.error is not None and words in got.error


def test_slow_and_truncated_responses_are_retried_then_given_up(server: str) -> None:
    slow = fetcher(read_timeout_s=0.3, retries=1).fetch(f"{server}/slow")
    assert slow.data is None and "timed out" in (slow.error or "") and slow.attempts == 2
    cut = fetcher(retries=1).fetch(f"{server}/truncated")
    assert cut.data is None and "broke off" in (cut.error or "") and cut.attempts == 2


def test_a_transient_503_is_retried(server: str) -> None:
    got = fetcher(retries=2).fetch(f"{server}/flaky")
    assert got.error is None and got.data == JPEG and got.attempts == 2


def test_names_resolving_to_refused_addresses_are_never_connected_to(server: str) -> None:
    before = len(SEEN)
    port = server.rsplit(":", 1)[1]
    meta = fetcher().fetch(f"http://metadata.test:{port}/ok.jpg")
    assert meta.data is None and "cloud metadata" in (meta.error or "") and meta.hops == []
    rebind = fetcher().fetch(f"http://rebind.test:{port}/ok.jpg")  # one good address does not excuse a bad one
    assert rebind.data is None and "10.0.0.1" in (rebind.error or "")
    unguarded = fetcher(allow=AllowList()).fetch(f"{server}/ok.jpg")  # loopback itself, without the allow-list
    assert unguarded.data is None and "loopback" in (unguarded.error or "")
    assert len(SEEN) == before
    odd = fetcher().fetch("file:///etc/passwd")
    assert odd.data is None and "only http and https" in (odd.error or "")
    creds = fetcher().fetch(f"http://user:pw@127.0.0.1:{port}/ok.jpg")
    assert creds.data is None and "credentials" in (creds.error or "")
    for bad in ("http://127.0.0.1:99999/x", "http://127.0.0.1:abc/x", "http://a..b.test/x", "http://[::1/x"):
        got = fetcher().fetch(bad)
        assert got.data is None and got.error, bad


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "127.0.0.53",
        "169.254.169.254",
        "169.254.1.1",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.251",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",
        "ff02::1",
        "fec0::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::a9fe:a9fe",
        "2002:a9fe:a9fe::1",
    ],
)
def test_the_guard_refuses_private_link_local_metadata_and_reserved_addresses(address: str) -> None:
    ip = parse_ip(address)
    assert ip is not None
    assert not decide(ip).allowed


def test_the_guard_allows_public_addresses_and_what_the_allow_list_names() -> None:
    for address in ("93.184.216.34", "2606:4700:4700::1111"):
        ip = parse_ip(address)
        assert ip is not None and decide(ip).allowed
    assert decide(ipaddress.ip_address("10.1.2.3"), AllowList.parse(["10.1.0.0/16"])).allowed
    assert not decide(ipaddress.ip_address("10.2.0.1"), AllowList.parse(["10.1.0.0/16"])).allowed
    with pytest.raises(ValueError, match="not an IP address"):
        AllowList.parse(["mirror.example"])


def test_the_client_ignores_proxy_settings(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://10.9.9.9:3128")
    monkeypatch.setenv("ALL_PROXY", "http://10.9.9.9:3128")
    f = fetcher()
    assert f.client.trust_env is False
    assert f.fetch(f"{server}/ok.jpg").error is None  # straight to the server, not through the proxy


def test_retry_after_is_honoured_up_to_its_cap_and_recorded(server: str) -> None:
    waits: list[float] = []
    policy = FetchPolicy(allow=LOCAL, politeness_s=0.0, backoff_s=0.01)
    later = Fetcher(policy, resolver=no_outside_names, sleep=waits.append).fetch(f"{server}/retry-much-later")
    assert later.data is None and later.attempts == 1 and waits == []  # asked for 99999 s: not retried at all
    assert "asked to wait 99999 s" in (later.error or "") and later.hops[0].headers["retry-after"] == "99999"
    soon = Fetcher(policy, resolver=no_outside_names, sleep=waits.append).fetch(f"{server}/retry-soon")
    assert soon.error is None and soon.attempts == 2 and waits and waits[0] >= 1.0  # waited as it was told


def test_a_malformed_location_is_an_error_of_the_item_not_a_retry(server: str) -> None:
    got = fetcher(retries=2).fetch(f"{server}/control-location")
    assert got.data is None and got.attempts == 1 and "malformed" in (got.error or "")


def test_a_dripping_host_costs_one_item_budget_in_all(server: str) -> None:
    started = time.monotonic()
    got = fetcher(retries=2, total_timeout_s=60.0, item_budget_s=1.0).fetch(f"{server}/drip")
    assert got.data is None and "in all" in (got.error or "") and time.monotonic() - started < 2.5


def test_a_host_that_keeps_failing_is_skipped_for_the_rest_of_the_sweep(server: str) -> None:
    f = fetcher(read_timeout_s=0.2, retries=0, host_failures=2)
    dead = server.replace("127.0.0.1", "shop.test")
    first, second = f.fetch(f"{dead}/never"), f.fetch(f"{dead}/never")
    assert "timed out" in (first.error or "") and "timed out" in (second.error or "")
    started = time.monotonic()
    third = f.fetch(f"{dead}/ok.jpg")
    assert third.error == "skipped: shop.test failed 2 fetches in a row in this sweep" and third.attempts == 0
    assert time.monotonic() - started < 0.1
    assert f.fetch(f"{server}/ok.jpg").error is None  # another host is not affected
    busy = fetcher(retries=0, host_failures=2)
    for _ in range(3):
        assert busy.fetch(f"{dead}/busy").error == "HTTP 429"  # busy is alive: never counted as a dead host
    assert busy.fetch(f"{dead}/ok.jpg").error is None
