"""validate_email's MX check, decided by the engine: in local dev mode (the
engine in-process) and through a real decide service subprocess, both asking
a real dnsmasq on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from arcguard import ArcGuard, EmailReason, RequestDetails, validate_email
from tests._servers import free_port
from tests.service._process import DecideProcess

from .support import ZONE, UdpDns

pytestmark = pytest.mark.integration

REQ = RequestDetails(ip="203.0.113.9", headers={"user-agent": "Mozilla/5.0 Firefox/126.0"})
KEY = "ak_signup_test"

CASES = [
    (f"ann@good.{ZONE}", "ALLOW", (), "mx"),
    (f"ann@a.{ZONE}", "ALLOW", (), "a_fallback"),
    (f"ann@aaaa.{ZONE}", "ALLOW", (), "a_fallback"),
    (f"ann@nullmx.{ZONE}", "DENY", ("NO_MX_RECORDS",), "null_mx"),
    (f"ann@private.{ZONE}", "DENY", ("NO_MX_RECORDS",), "private_address"),
    (f"ann@spf.{ZONE}", "DENY", ("NO_MX_RECORDS",), "spf_reject_all"),
    (f"ann@gone.{ZONE}", "DENY", ("NO_MX_RECORDS",), "nxdomain"),
]


def dev_guard(dns: str, **options: object) -> ArcGuard:
    env = {"ARCGUARD_DNS_SERVERS": dns, "ARCGUARD_DNS_TIMEOUT": "0.5"}
    return ArcGuard(rules=[validate_email(**options)], environ=env)  # type: ignore[arg-type]


def email_reason(decision: object) -> EmailReason:
    r = decision.reason  # type: ignore[attr-defined]
    assert isinstance(r, EmailReason), r
    return r


@pytest.mark.parametrize(("email", "conclusion", "types", "mx"), CASES)
def test_dev_mode_checks_mx(
    dns_address: str, email: str, conclusion: str, types: tuple[str, ...], mx: str
) -> None:
    g = dev_guard(dns_address)
    for decision in (g.protect(REQ, email=email), asyncio.run(g.aprotect(REQ, email=email))):
        r = email_reason(decision)
        assert decision.conclusion.value == conclusion, r
        assert (r.email_types, r.mx) == (types, mx)
        assert r.detail


def test_no_lookup_when_syntax_or_lists_decided(dns_address: str) -> None:
    g = dev_guard(dns_address)
    engine = g._transport.engine  # type: ignore[union-attr]
    for email in ("broken", "x@mailinator.com"):
        assert g.protect(REQ, email=email).is_denied()
    assert engine.dns.queries == 0
    g.protect(REQ, email=f"x@good.{ZONE}")
    assert engine.dns.queries == 1
    g.protect(REQ, email=f"y@good.{ZONE}")  # the domain's answer is cached
    assert engine.dns.queries == 1


def test_unknown_is_allowed_unless_denied(silent_dns: UdpDns) -> None:
    allow = dev_guard(silent_dns.address).protect(REQ, email="ann@example.com")
    assert allow.is_allowed()
    r = email_reason(allow)
    assert (r.email_types, r.mx) == (("UNKNOWN",), "timeout")
    strict = dev_guard(silent_dns.address, deny=["INVALID", "NO_MX_RECORDS", "UNKNOWN"])
    assert strict.protect(REQ, email="ann@example.org").is_denied()


def test_servfail_is_unknown(servfail_dns: UdpDns) -> None:
    r = email_reason(dev_guard(servfail_dns.address).protect(REQ, email="ann@example.com"))
    assert (r.email_types, r.mx) == (("UNKNOWN",), "servfail")


@pytest.fixture
def service(tmp_path: Path, dns_address: str) -> Iterator[DecideProcess]:
    keys = tmp_path / "keys"
    keys.write_text(KEY + "\n")
    proc = DecideProcess(
        free_port(), str(keys), tmp_path / "service.log", ["--dns-server", dns_address]
    )
    proc.start()
    try:
        proc.wait_serving()
        yield proc
    finally:
        proc.close()


def test_the_decide_service_checks_mx(service: DecideProcess) -> None:
    g = ArcGuard(rules=[validate_email()], key=KEY, endpoint=service.target, environ={})
    try:
        for email, conclusion, types, mx in CASES:
            for decision in (
                g.protect(REQ, email=email),
                asyncio.run(g.aprotect(REQ, email=email)),
            ):
                r = email_reason(decision)
                assert decision.conclusion.value == conclusion, (email, r, service.output())
                assert (r.email_types, r.mx) == (types, mx)
        # Decided in-process: the service is not asked (nothing to look up).
        assert g.protect(REQ, email="x@mailinator.com").is_denied()
    finally:
        g.close()


def test_the_service_answers_unknown_within_the_sdk_deadline(
    tmp_path: Path, silent_dns: UdpDns
) -> None:
    keys = tmp_path / "keys"
    keys.write_text(KEY + "\n")
    proc = DecideProcess(
        free_port(),
        str(keys),
        tmp_path / "service.log",
        ["--dns-server", silent_dns.address, "--dns-timeout", "0.4"],
    )
    proc.start()
    try:
        proc.wait_serving()
        g = ArcGuard(rules=[validate_email()], key=KEY, endpoint=proc.target, environ={})
        try:
            decision = g.protect(REQ, email="ann@example.com")
        finally:
            g.close()
        assert not decision.is_error(), decision.reason
        r = email_reason(decision)
        assert (r.email_types, r.mx) == (("UNKNOWN",), "timeout")
        assert decision.is_allowed()
    finally:
        proc.close()
