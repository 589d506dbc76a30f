"""Which addresses a sweep may fetch from: the SSRF guard's decision, a pure function of an IP address.

Refused unless an explicit allow-list names them: loopback, private (RFC 1918, unique-local), carrier-grade NAT,
link-local (where cloud metadata lives: 169.254.169.254, fd00:ec2::254), multicast, reserved, documentation and
benchmark ranges, unspecified and broadcast; an IPv6 address that embeds an IPv4 one (mapped, NAT64, 6to4, Teredo)
is judged by the IPv4 address inside. The fetcher asks this for every address a host resolves to, after every
redirect, and connects only to the address it checked.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_SITE_LOCAL = ipaddress.ip_network("fec0::/10")
"""Deprecated IPv6 site-local addresses: still routed inside some networks, so refused like private ones."""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


@dataclass(frozen=True)
class AllowList:
    """Networks fetched from even though the guard would refuse them (a test server on 127.0.0.1, a partner's
    mirror on the office network). Empty by default."""

    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        nets = []
        for e in entries:
            try:
                nets.append(ipaddress.ip_network(e.strip(), strict=False))
            except ValueError as exc:
                raise ValueError(f"--allow {e!r}: not an IP address or network ({exc})") from exc
        return cls(tuple(nets))

    def covers(self, ip: IPAddress) -> bool:
        return any(ip.version == n.version and ip in n for n in self.networks)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped, NAT64, 6to4 or Teredo IPv6 address, if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def decide(ip: IPAddress, allow: AllowList = AllowList()) -> Decision:
    """May a sweep connect to `ip`? With the reason, for the run's record."""
    if allow.covers(ip):
        return Decision(True, "on the allow-list")
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None:
            verdict = decide(inner, allow)
            return Decision(verdict.allowed, f"embeds {inner}: {verdict.reason}")
    if ip in METADATA:
        return Decision(False, "cloud metadata address")
    checks = (
        (ip.is_unspecified, "unspecified address"),
        (ip.is_loopback, "loopback address"),
        (ip.is_link_local, "link-local address"),
        (ip.is_multicast, "multicast address"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT, "carrier-grade NAT address"),
        (isinstance(ip, ipaddress.IPv6Address) and ip in _SITE_LOCAL, "site-local address"),
        (ip.is_private, "private address"),
        (ip.is_reserved, "reserved address"),
        (not ip.is_global, "not a public address"),
    )
    for refused, reason in checks:
        if refused:
            return Decision(False, reason)
    return Decision(True, "public address")


def parse_ip(text: str) -> IPAddress | None:
    """An IP literal (brackets and IPv6 zone ids removed), or None for a name."""
    try:
        return ipaddress.ip_address(text.strip("[]").split("%")[0])
    except ValueError:
        return None
