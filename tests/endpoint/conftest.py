"""Fixtures for the endpoint tests: three delayed health backends and a dnsmasq."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.endpoint.support import DOMAIN, Backend, Dnsmasq

#: Extra one-way delay of each backend's proxy, in ms (round trip gains twice that).
DELAYS_MS = {"fast": 0.0, "medium": 15.0, "slow": 40.0}


@pytest.fixture
def backends() -> Iterator[dict[str, Backend]]:
    """Three health servers on 127.0.0.1, each behind a delaying proxy."""
    started: dict[str, Backend] = {}
    try:
        for name, delay in DELAYS_MS.items():
            started[name] = Backend(name, delay)
        yield started
    finally:
        for backend in started.values():
            backend.close()


@pytest.fixture(scope="module")
def dns_server() -> Iterator[Dnsmasq]:
    """dnsmasq on 127.0.0.1 with the discovery records of ``arcguard.test``.

    ``_arcguard._tcp.arcguard.test`` lists iad and ord at priority 10 (weights
    60 and 40) and fra at priority 20; iad and ord carry ``region=`` TXT,
    fra none. ``down.arcguard.test`` says the service is not offered
    (target ``.``).
    """
    srv = f"_arcguard._tcp.{DOMAIN}"
    with Dnsmasq.running(
        local_domains=[DOMAIN],
        srv=[
            (srv, f"iad.{DOMAIN}", 5001, 10, 60),
            (srv, f"ord.{DOMAIN}", 5002, 10, 40),
            (srv, f"fra.{DOMAIN}", 5003, 20, 0),
            (f"_arcguard._tcp.down.{DOMAIN}", ".", 0, 0, 0),
        ],
        txt=[(f"iad.{DOMAIN}", "region=iad"), (f"ord.{DOMAIN}", "v=1 region=ORD")],
        hosts=[(f"iad.{DOMAIN}", "127.0.0.1"), (f"down.{DOMAIN}", "127.0.0.1")],
    ) as server:
        yield server
