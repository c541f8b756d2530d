"""End to end on loopback: three real health servers behind delaying proxies, dnsmasq.

The "transport" here is the smallest honest stand-in for the SDK's: it asks
the selector for the target of every call, keeps one channel per target,
reports each outcome, and treats a failed call as an ERROR decision that is
allowed (fail open) rather than raising.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from arcguard._endpoint import EndpointChange, EndpointSelector, EndpointSettings
from tests.endpoint.support import DOMAIN, Backend, Dnsmasq

pytestmark = pytest.mark.integration

THRESHOLD = 3


class StandInTransport:
    """One Check call per "decision", to whatever the selector says now."""

    def __init__(self, selector: EndpointSelector, timeout: float = 0.3) -> None:
        self.selector = selector
        self.timeout = timeout
        self.channels: dict[str, grpc.Channel] = {}
        self.allowed_on_error = 0
        self.ok = 0
        self.lock = threading.Lock()
        # As the SDK transport does: a channel to an endpoint that failed may
        # sit in reconnect backoff, so switching to a target starts afresh.
        selector.on_change(self._fresh)

    def _fresh(self, change: EndpointChange) -> None:
        with self.lock:
            stale = self.channels.pop(change.current, None)
        if stale is not None:
            stale.close()

    def _stub(self, target: str) -> health_pb2_grpc.HealthStub:
        with self.lock:
            channel = self.channels.get(target)
            if channel is None:
                channel = grpc.insecure_channel(target, options=(("grpc.enable_http_proxy", 0),))
                self.channels[target] = channel
        return health_pb2_grpc.HealthStub(channel)

    def decide(self) -> str:
        """Returns "ALLOW" on success and "ERROR" (allowed) on failure; never raises."""
        target = self.selector.current()
        try:
            self._stub(target).Check(health_pb2.HealthCheckRequest(), timeout=self.timeout)
        except grpc.RpcError:
            self.selector.report_failure(target)
            self.allowed_on_error += 1
            return "ERROR"
        self.selector.report_success(target)
        self.ok += 1
        return "ALLOW"

    def close(self) -> None:
        with self.lock:
            for channel in self.channels.values():
                channel.close()
            self.channels.clear()


def wait_for(
    predicate: Callable[[], bool], timeout: float, step: Callable[[], object] | None = None
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if step is not None:
            step()
        time.sleep(0.01)
    return False


@pytest.fixture
def selector(backends: dict[str, Backend]) -> Iterator[EndpointSelector]:
    settings = EndpointSettings(
        candidates=tuple(
            b.target for b in (backends["slow"], backends["medium"], backends["fast"])
        ),
        probe_interval=0.3,
        probe_timeout=0.5,
        failover_threshold=THRESHOLD,
        detect_platform=False,
    )
    built = EndpointSelector(settings, environ={})
    try:
        yield built
    finally:
        built.close()


def test_fastest_is_chosen_killed_over_and_taken_back(
    backends: dict[str, Backend], selector: EndpointSelector
) -> None:
    fast, medium, slow = backends["fast"], backends["medium"], backends["slow"]
    changes: list[EndpointChange] = []
    selector.on_change(changes.append)
    transport = StandInTransport(selector)
    try:
        # The first call does not wait for probes: it goes to the first candidate.
        assert selector.current() == slow.target
        assert transport.decide() == "ALLOW"
        selector.start()
        assert wait_for(lambda: selector.current() == fast.target, timeout=5.0)
        assert [e.target for e in selector.ranked()] == [fast.target, medium.target, slow.target]
        for _ in range(5):
            assert transport.decide() == "ALLOW"

        fast.kill()
        failed_before = transport.allowed_on_error
        decisions = [transport.decide() for _ in range(THRESHOLD + 5)]
        assert selector.current() == medium.target
        # Only the calls that reached the threshold failed, and they failed open.
        assert transport.allowed_on_error - failed_before <= THRESHOLD
        assert decisions[THRESHOLD:] == ["ALLOW"] * 5
        assert any(c.previous == fast.target and c.current == medium.target for c in changes)

        fast.restart()
        assert wait_for(lambda: selector.current() == fast.target, timeout=5.0)
        assert transport.decide() == "ALLOW"
        assert "faster" in selector.choice().reason or "lowest" in selector.choice().reason
    finally:
        transport.close()


def test_traffic_keeps_flowing_from_many_threads_while_the_chosen_endpoint_dies(
    backends: dict[str, Backend], selector: EndpointSelector
) -> None:
    fast, medium = backends["fast"], backends["medium"]
    selector.start()
    assert wait_for(lambda: selector.current() == fast.target, timeout=5.0)
    transport = StandInTransport(selector)
    stop = threading.Event()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(2000):  # bounded
                if stop.is_set():
                    return
                transport.decide()
        except BaseException as exc:  # a raise would be a closed failure
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        time.sleep(0.2)
        fast.kill()
        assert wait_for(lambda: selector.current() == medium.target, timeout=5.0)
        ok_after = transport.ok
        assert wait_for(lambda: transport.ok > ok_after + 20, timeout=5.0)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        transport.close()
    assert not errors
    # In-flight calls on the dead target may fail too, but not unboundedly.
    assert transport.allowed_on_error <= THRESHOLD + 4 * 2


def test_dns_discovered_candidates_are_probed_and_the_fastest_chosen(
    backends: dict[str, Backend],
) -> None:
    fast, medium, slow = backends["fast"], backends["medium"], backends["slow"]
    srv = f"_arcguard._tcp.{DOMAIN}"
    # The targets' A records exist only in this dnsmasq: the system resolver
    # cannot find them, so connecting proves they were resolved through it.
    names = {b: f"{n}.{DOMAIN}" for n, b in (("slow", slow), ("medium", medium), ("fast", fast))}
    with Dnsmasq.running(
        local_domains=[DOMAIN],
        srv=[
            (srv, names[slow], slow.port, 10, 10),
            (srv, names[medium], medium.port, 10, 10),
            (srv, names[fast], fast.port, 20, 10),
        ],
        hosts=[(name, "127.0.0.1") for name in names.values()],
    ) as dns_server:
        settings = EndpointSettings(
            discovery_domain=DOMAIN,
            dns_nameserver="127.0.0.1",
            dns_port=dns_server.port,
            probe_timeout=0.5,
            detect_platform=False,
        )
        selector = EndpointSelector(settings, environ={})
        try:
            assert selector.choice().source == "default"
            ranked = selector.probe_now()
            assert all(r.ok for r in ranked), [r.error for r in ranked]
            via = f"127.0.0.1:{dns_server.port}"
            assert selector.current() == f"dns://{via}/{names[fast]}:{fast.port}"
            assert [e.source for e in selector.ranked()] == ["discovered"] * 3
        finally:
            selector.close()
