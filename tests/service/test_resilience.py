"""Failure and recovery with real servers: the service stops mid-run, the
transport fails fast with the right error and its breaker opens, the guard
fails open, the service comes back and calls recover; graceful drain on
shutdown (in-process and as a real `python -m decide_service` subprocess)."""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from arcguard._engine import Engine, MemoryStore
from arcguard._engine.ratelimit import LimitSpec, RateLimitOutcome
from arcguard._exceptions import TransportError, TransportTimeout, Unavailable
from arcguard._request import RequestDetails
from arcguard._rules import fixed_window
from arcguard._transport import BreakerSettings, GrpcTransport, GrpcTransportSettings
from decide_service import SERVICE_NAME
from tests._servers import ROOT

from ._process import DecideProcess
from .conftest import KEY, TEST_TIMEOUT, RunningService, service_settings

pytestmark = pytest.mark.integration

RULES = (fixed_window(window="1h", max=1000),)
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def d(ip: str = "203.0.113.7") -> RequestDetails:
    return RequestDetails(ip=ip, headers=[("user-agent", "Mozilla/5.0")])


def transport_to(target: str, **kw: Any) -> GrpcTransport:
    kw.setdefault("timeout", 0.5)
    kw.setdefault("breaker", BreakerSettings(base_backoff=0.3, max_backoff=1.0, jitter=0.1))
    return GrpcTransport(GrpcTransportSettings(key=KEY, **kw), target)


def wait_recovered(t: GrpcTransport, timeout: float = 15.0) -> int:
    """Calls until one succeeds; returns the number of failed attempts."""
    deadline = time.monotonic() + timeout
    failures = 0
    while time.monotonic() < deadline:
        try:
            t.decide(d(), RULES)
            return failures
        except TransportError:
            failures += 1
            time.sleep(0.05)
    raise AssertionError(f"no recovery within {timeout}s")


def test_stopped_service_fails_fast_opens_the_breaker_and_recovers_after_restart() -> None:
    svc = RunningService(service_settings(metrics_port=None))
    port = svc.port
    t = transport_to(svc.target)
    try:
        assert t.decide(d(), RULES).results[0].code == 0
        svc.stop(grace=0)

        errors: list[TransportError] = []
        for _ in range(3):
            t0 = time.perf_counter()
            with pytest.raises(TransportError) as err:
                t.decide(d(), RULES)
            assert time.perf_counter() - t0 < 0.5 + 0.25  # within the deadline
            errors.append(err.value)
        assert all(isinstance(e, (Unavailable, TransportTimeout)) for e in errors)
        assert t.breaker().state == "open"

        # While open, a call fails at once without touching the network.
        timings = []
        for _ in range(200):
            t0 = time.perf_counter()
            with pytest.raises(Unavailable, match="circuit open"):
                t.decide(d(), RULES)
            timings.append(time.perf_counter() - t0)
        assert statistics.median(timings) < 0.001

        svc = RunningService(service_settings(port=port, metrics_port=None))
        wait_recovered(t)
        assert t.breaker().state == "closed"
        assert t.decide(d(), RULES).results[0].code == 0
    finally:
        t.close()
        svc.stop()


def test_guard_fails_open_while_the_service_is_down_and_recovers() -> None:
    from arcguard import ArcGuard

    svc = RunningService(service_settings(metrics_port=None))
    port = svc.port
    guard = ArcGuard(
        rules=[fixed_window(window="1h", max=1000)],
        key=KEY,
        endpoint=svc.target,
        timeout=0.5,
        environ={},
    )
    try:
        assert guard.protect(d("192.0.2.10")).conclusion.value == "ALLOW"
        svc.stop(grace=0)
        decision = guard.protect(d("192.0.2.11"))
        assert decision.is_error() and decision.is_allowed()
        svc = RunningService(service_settings(port=port, metrics_port=None))
        deadline = time.monotonic() + 15
        while guard.protect(d("192.0.2.12")).is_error():
            assert time.monotonic() < deadline, "guard did not recover"
            time.sleep(0.05)
    finally:
        guard.close()
        svc.stop()


def test_deadline_exceeded_is_a_transport_timeout_and_counts_for_the_breaker() -> None:
    svc = RunningService(service_settings(metrics_port=None), engine=Engine(SlowStore(0.3)))
    t = transport_to(svc.target, timeout=0.05)
    try:
        for _ in range(3):
            t0 = time.perf_counter()
            with pytest.raises(TransportTimeout):
                t.decide(d(), RULES)
            assert time.perf_counter() - t0 < 0.05 + 0.2
        assert t.breaker().state == "open"
    finally:
        t.close()
        svc.stop(grace=0)


class SlowStore:
    """An async store whose rate-limit check takes ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.sync = MemoryStore()

    async def hit(self, spec: LimitSpec, key: str, cost: int, now: float) -> RateLimitOutcome:
        await asyncio.sleep(self.delay)
        return self.sync.hit(spec, key, cost, now)

    async def incr_window(self, key: str, window_s: float, amount: int, now: float) -> int:
        return self.sync.incr_window(key, window_s, amount, now)

    async def block(self, key: str, ttl_s: float, now: float) -> None:
        self.sync.block(key, ttl_s, now)

    async def blocked_for(self, key: str, now: float) -> float:
        return self.sync.blocked_for(key, now)

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self.sync.close()


def watch_health(target: str, statuses: list[int], started: threading.Event) -> None:
    """Collects health statuses from a Watch stream until it ends."""
    with grpc.insecure_channel(target) as ch:
        stream = health_pb2_grpc.HealthStub(ch).Watch(
            health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=30
        )
        try:
            for resp in stream:
                statuses.append(resp.status)
                started.set()
        except grpc.RpcError:
            pass


def test_graceful_shutdown_reports_not_serving_and_drains_in_flight_calls() -> None:
    svc = RunningService(service_settings(metrics_port=None), engine=Engine(SlowStore(0.5)))
    statuses: list[int] = []
    started = threading.Event()
    watcher = threading.Thread(target=watch_health, args=(svc.target, statuses, started))
    watcher.start()
    assert started.wait(10)
    t = transport_to(svc.target, timeout=5.0)
    result: list[Any] = []
    call = threading.Thread(target=lambda: result.append(t.decide(d(), RULES)))
    call.start()
    time.sleep(0.2)  # the call is in flight, waiting on the slow store
    svc.stop(grace=3.0)
    call.join(10)
    watcher.join(10)
    t.close()
    assert result and result[0].results[0].code == 0  # drained, not cut
    assert statuses[0] == SERVING and NOT_SERVING in statuses


# -- a real subprocess ------------------------------------------------------------------


def test_subprocess_sigterm_shuts_down_gracefully(decide_process: DecideProcess) -> None:
    target = decide_process.target
    t = transport_to(target, timeout=TEST_TIMEOUT)
    assert t.decide(d(), RULES).results[0].code == 0
    t.close()
    statuses: list[int] = []
    started = threading.Event()
    watcher = threading.Thread(target=watch_health, args=(target, statuses, started))
    watcher.start()
    assert started.wait(10)
    decide_process.signal(signal.SIGTERM)
    code, out = decide_process.wait()
    watcher.join(10)
    assert code == 0, out
    assert NOT_SERVING in statuses
    assert out.index("NOT_SERVING") < out.index('"msg": "stopped"')


def test_subprocess_killed_then_restarted_recovers(decide_process: DecideProcess) -> None:
    target = decide_process.target
    t = transport_to(target)
    try:
        t.decide(d(), RULES)  # connect (the first call may pay for the handshake)
        decide_process.signal(signal.SIGKILL)
        decide_process.wait()
        for _ in range(3):
            with pytest.raises(TransportError):
                t.decide(d(), RULES)
        assert t.breaker().state == "open"
        with pytest.raises(Unavailable, match="circuit open"):
            t.decide(d(), RULES)
        decide_process.start()
        wait_recovered(t)
        assert t.decide(d(), RULES).results[0].code == 0
    finally:
        t.close()


def test_subprocess_refuses_to_start_without_keys() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "decide_service", "--port", "0"],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("ARCGUARD_")}
        | {"PYTHONPATH": str(ROOT)},
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    assert b"no API keys" in proc.stderr
