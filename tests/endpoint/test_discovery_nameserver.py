"""Discovery resolves SRV targets with the configured nameserver, not the system's.

The SRV record and its target's A record live only in a dnsmasq on 127.0.0.1:
the system resolver has never heard of ``arcguard.test``, so anything that
asks it (the way gRPC resolves a plain ``host:port`` target) fails to connect.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from arcguard import ArcGuard, Conclusion, fixed_window
from arcguard._endpoint import EndpointSelector, EndpointSettings, discover, probe
from arcguard._exceptions import ConfigurationError
from tests.endpoint.support import DOMAIN, Dnsmasq, start_health_server

pytestmark = pytest.mark.integration

TARGET = f"svc.{DOMAIN}"


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Dnsmasq, int]]:
    """The real decide service on 127.0.0.1, announced only by a dnsmasq."""
    server = start_health_server()
    try:
        with Dnsmasq.running(
            local_domains=[DOMAIN],
            srv=[(f"_arcguard._tcp.{DOMAIN}", TARGET, server.port, 10, 1)],
            hosts=[(TARGET, "127.0.0.1")],
        ) as dns:
            yield dns, server.port
    finally:
        server.stop()


def test_discovered_targets_connect_through_the_configured_nameserver(
    served: tuple[Dnsmasq, int],
) -> None:
    dns, port = served
    found = discover(DOMAIN, nameserver="127.0.0.1", port=dns.port, txt=False)
    assert [(c.host, c.port) for c in found] == [(TARGET, port)]
    (result,) = probe(found, samples=2, timeout=2.0)
    assert result.ok, result.error


def test_a_guard_with_a_discovery_nameserver_reaches_the_service(
    served: tuple[Dnsmasq, int],
) -> None:
    dns, _ = served
    environ = {
        "ARCGUARD_KEY": "ak_test",
        "ARCGUARD_DISCOVERY_DOMAIN": DOMAIN,
        "ARCGUARD_DNS_NAMESERVER": "127.0.0.1",
        "ARCGUARD_DNS_PORT": str(dns.port),
        "ARCGUARD_TLS": "0",
        "ARCGUARD_TIMEOUT_MS": "2000",
    }
    guard = ArcGuard(rules=[fixed_window(mode="LIVE", window="1h", max=1000)], environ=environ)
    request = {"type": "http", "method": "GET", "path": "/", "client": ("1.2.3.4", 1)}
    try:
        deadline = time.monotonic() + 15.0
        decision = guard.protect(request)
        while decision.conclusion is Conclusion.ERROR and time.monotonic() < deadline:
            time.sleep(0.1)
            decision = guard.protect(request)
        assert decision.conclusion is Conclusion.ALLOW, decision.reason
    finally:
        guard.close()


def test_a_nameserver_with_grpc_native_resolver_is_refused() -> None:
    # gRPC's native resolver (getaddrinfo) cannot be pointed at a nameserver:
    # the SDK would silently connect through the system's instead.
    settings = EndpointSettings(discovery_domain=DOMAIN, dns_nameserver="127.0.0.1")
    with pytest.raises(ConfigurationError, match="GRPC_DNS_RESOLVER"):
        EndpointSelector(settings, environ={"GRPC_DNS_RESOLVER": "native"})
