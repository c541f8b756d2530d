"""Fixtures of the sign-up tests: real DNS servers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.endpoint.support import Dnsmasq

from .support import UdpDns, signup_dnsmasq


@pytest.fixture(scope="session")
def dnsmasq() -> Iterator[Dnsmasq]:
    """dnsmasq with the sign-up test zone, for the whole session."""
    with signup_dnsmasq() as server:
        yield server


@pytest.fixture(scope="session")
def dns_address(dnsmasq: Dnsmasq) -> str:
    return f"127.0.0.1:{dnsmasq.port}"


@pytest.fixture
def silent_dns() -> Iterator[UdpDns]:
    """A server that reads every query and never answers."""
    server = UdpDns(servfail=False)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def servfail_dns() -> Iterator[UdpDns]:
    """A server that answers every query with SERVFAIL."""
    server = UdpDns(servfail=True)
    try:
        yield server
    finally:
        server.close()
