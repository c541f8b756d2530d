"""The DNS checks (MX, forward-confirmed reverse DNS) against real servers on
127.0.0.1: dnsmasq for the answers, silent and SERVFAIL servers for failures.
Both faces (blocking and asyncio) are held to the same answers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from arcguard import ConfigurationError
from arcguard._signup.dns import DnsChecker, DnsSettings, MxResult, RdnsResult

from .support import NEG_TTL, NEG_ZONE, ZONE, ZONE_TTL, UdpDns, negative_ttl_dnsmasq

pytestmark = pytest.mark.integration

GOOGLE = ("googlebot.com", "google.com")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


Face = Callable[[DnsChecker, str], Any]


def mx_sync(c: DnsChecker, domain: str) -> MxResult:
    return c.mx(domain)


def mx_async(c: DnsChecker, domain: str) -> MxResult:
    return asyncio.run(c.amx(domain))


def rdns_sync(c: DnsChecker, ip: str) -> RdnsResult:
    return c.fcrdns(ip, GOOGLE)


def rdns_async(c: DnsChecker, ip: str) -> RdnsResult:
    return asyncio.run(c.afcrdns(ip, GOOGLE))


MX_FACES = pytest.mark.parametrize("mx", [mx_sync, mx_async], ids=["sync", "async"])
RDNS_FACES = pytest.mark.parametrize("rdns", [rdns_sync, rdns_async], ids=["sync", "async"])


def checker(address: str, **options: Any) -> DnsChecker:
    return DnsChecker(DnsSettings([address], timeout=options.pop("timeout", 1.0)), **options)


@MX_FACES
@pytest.mark.parametrize(
    ("domain", "outcome", "has_mail"),
    [
        (f"good.{ZONE}", "mx", True),
        (f"nullmx.{ZONE}", "null_mx", False),
        (f"a.{ZONE}", "a_fallback", True),
        (f"aaaa.{ZONE}", "a_fallback", True),
        (f"private.{ZONE}", "private_address", False),
        (f"spf.{ZONE}", "spf_reject_all", False),
        (f"nothing-here.{ZONE}", "nxdomain", False),
    ],
)
def test_mx_outcomes(mx: Face, dns_address: str, domain: str, outcome: str, has_mail: bool) -> None:
    result = mx(checker(dns_address), domain)
    assert (result.outcome, result.has_mail) == (outcome, has_mail), result
    assert result.ttl == (ZONE_TTL if outcome != "nxdomain" else 300)  # no SOA: 300


def test_mx_prefers_the_lowest_preference(dns_address: str) -> None:
    assert checker(dns_address).mx(f"good.{ZONE}").detail == f"2 MX, preferred mx1.good.{ZONE}"


@MX_FACES
def test_a_server_that_never_answers_is_unknown_within_the_bound(
    mx: Face, silent_dns: UdpDns
) -> None:
    c = checker(silent_dns.address, timeout=0.3)
    start = time.monotonic()
    result = mx(c, "example.com")
    elapsed = time.monotonic() - start
    assert (result.outcome, result.has_mail) == ("timeout", None)
    assert "0.3 s" in result.detail
    assert silent_dns.received >= 1  # it was asked
    # Bounded by the setting (generous slack for a loaded machine), not by
    # dnspython's own 5 s default.
    assert elapsed < 0.3 + 2.0


@MX_FACES
def test_servfail_is_unknown(mx: Face, servfail_dns: UdpDns) -> None:
    result = mx(checker(servfail_dns.address), "example.com")
    assert (result.outcome, result.has_mail) == ("servfail", None)


def _ages_out_after(c: DnsChecker, clock: Clock, domain: str, ttl: float) -> None:
    before = c.queries
    c.mx(domain)
    sent = c.queries - before
    assert sent >= 1
    clock.now += ttl - 1
    c.mx(domain)
    assert c.queries - before == sent  # still cached
    clock.now += 2
    c.mx(domain)
    assert c.queries - before == 2 * sent  # expired: asked again


def test_results_are_cached_for_their_ttl(dns_address: str) -> None:
    clock = Clock()
    c = checker(dns_address, clock=clock)
    _ages_out_after(c, clock, f"good.{ZONE}", ZONE_TTL)
    _ages_out_after(c, clock, f"a.{ZONE}", ZONE_TTL)  # MX (none), TXT, A, AAAA: all 60 s


def test_negative_answers_are_cached_for_the_soa_negative_ttl() -> None:
    clock = Clock()
    with negative_ttl_dnsmasq() as d:
        c = checker(f"127.0.0.1:{d.port}", clock=clock)
        result = c.mx(f"nothing-here.{NEG_ZONE}")
        assert (result.outcome, result.ttl) == ("nxdomain", NEG_TTL)
        _ages_out_after(c, clock, f"elsewhere.{NEG_ZONE}", NEG_TTL)


def test_a_zero_ttl_is_never_cached_and_failures_briefly(silent_dns: UdpDns) -> None:
    from tests.endpoint.support import Dnsmasq

    clock = Clock()
    with Dnsmasq.running(
        local_domains=["zero.test"], hosts=[("a.zero.test", "93.184.215.14")]
    ) as d:
        c = checker(f"127.0.0.1:{d.port}", clock=clock)  # dnsmasq's default TTL: 0
        assert c.mx("a.zero.test").outcome == "a_fallback"
        n = c.queries
        c.mx("a.zero.test")
        assert c.queries == 2 * n
    slow = checker(silent_dns.address, timeout=0.2, clock=Clock())
    slow.mx("example.com")
    n = slow.queries
    slow.mx("example.com")
    assert slow.queries == n  # the failure is remembered (failure_ttl), not retried at once


def test_the_cache_is_bounded(dns_address: str) -> None:
    c = DnsChecker(DnsSettings([dns_address], cache_size=2))
    for d in ("good", "a", "aaaa", "nullmx"):
        c.mx(f"{d}.{ZONE}")
    assert c.cached == 2


@RDNS_FACES
@pytest.mark.parametrize(
    ("ip", "status", "detail"),
    [
        ("192.0.2.10", "verified", "192.0.2.10 is crawl-192-0-2-10.googlebot.com"),
        ("192.0.2.20", "spoofed", "PTR evil.example.net is not under googlebot.com"),
        ("192.0.2.30", "spoofed", "does not resolve back to 192.0.2.30"),
        ("192.0.2.40", "spoofed", "192.0.2.40 has no PTR record"),
        ("not-an-ip", "spoofed", "not an IP address"),
    ],
)
def test_forward_confirmed_reverse_dns(
    rdns: Face, dns_address: str, ip: str, status: str, detail: str
) -> None:
    result = rdns(checker(dns_address), ip)
    assert result.status == status
    assert detail in result.detail


def test_reverse_dns_failures_are_unknown(silent_dns: UdpDns) -> None:
    result = checker(silent_dns.address, timeout=0.2).fcrdns("192.0.2.10", GOOGLE)
    assert result.status == "unknown"


@pytest.mark.parametrize("bad", ["dns.example", "1.2.3.4:99999", "[::1]:x"])
def test_bad_settings_raise(bad: str) -> None:
    with pytest.raises(ConfigurationError):
        DnsSettings([bad])
    with pytest.raises(ConfigurationError):
        DnsSettings(timeout=0)


def test_settings_from_the_environment() -> None:
    s = DnsSettings.from_env(
        {"ARCGUARD_DNS_SERVERS": "127.0.0.1:5353, [::1]:53, ::1", "ARCGUARD_DNS_TIMEOUT": "0.5"}
    )
    assert s.nameservers == ("127.0.0.1:5353", "[::1]:53", "::1")
    assert s.timeout == 0.5
    with pytest.raises(ConfigurationError):
        DnsSettings.from_env({"ARCGUARD_DNS_TIMEOUT": "soon"})
