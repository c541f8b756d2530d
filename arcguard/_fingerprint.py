"""Fingerprints: the key that identifies "the same client" for a rule.

A fingerprint hashes the values of a rule's characteristics (request fields
or keys passed to ``protect()``). The client IP is keyed by its /64 for IPv6,
since one host commonly owns a whole /64 and rotating within it is free.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

try:  # hashlib's own import loads OpenSSL (milliseconds of a cold start) for BLAKE2 alone
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - not CPython
    from hashlib import blake2b

if TYPE_CHECKING:
    from ._request import RequestDetails

__all__ = ["characteristic_value", "fingerprint", "ip_key"]


@lru_cache(maxsize=4096)
def ip_key(ip: str) -> str:
    """The IP as a rate-limit / cache key: IPv4 as is, IPv6 as its /64."""
    if ":" not in ip:
        return ip
    try:
        addr = ipaddress.IPv6Address(ip.split("%", 1)[0])
    except ValueError:
        return ip
    if addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(ipaddress.IPv6Network((int(addr) >> 64 << 64, 64)))


def _bracketed(c: str, prefix: str) -> str | None:
    if c.startswith(prefix) and c.endswith('"]'):
        return c[len(prefix) : -2]
    return None


def characteristic_value(c: str, details: RequestDetails) -> str:
    """The value of one characteristic for a request ("" when absent)."""
    if c == "ip.src":
        return ip_key(details.ip)
    if c == "http.host":
        return details.host
    if c == "http.request.method":
        return details.method
    if c == "http.request.uri.path":
        return details.path
    if c == "http.user_agent":
        return details.header("user-agent") or ""
    name = _bracketed(c, 'http.request.headers["')
    if name is not None:
        return details.header(name.lower()) or ""
    name = _bracketed(c, 'http.request.cookies["')
    if name is not None:
        return details.cookie(name) or ""
    name = _bracketed(c, 'http.request.uri.args["')
    if name is not None:
        return details.arg(name) or ""
    return str(details.extras.get(c, ""))


def fingerprint(characteristics: Sequence[str], details: RequestDetails) -> str:
    """A stable hash of the characteristics' values for this request.

    Example: ``fingerprint(["ip.src"], details)`` keys a limit per client IP.
    """
    if len(characteristics) == 1 and characteristics[0] == "ip.src":
        return "ip:" + ip_key(details.ip)
    h = blake2b(digest_size=16)
    for c in characteristics:
        v = characteristic_value(c, details).encode("utf-8", "surrogateescape")
        h.update(c.encode())
        h.update(b"\x00")
        h.update(len(v).to_bytes(4, "little"))
        h.update(v)
    return "fp:" + h.hexdigest()
