"""Endpoint selection figures: the per-request cost of current(), and fail-over time.

Run: python -m pytest benchmarks/bench_endpoint.py -p no:cacheprovider -s --benchmark-only

Fail-over is measured on loopback with three real decide services (plain
grpc.health.v1 servers where decide_service.create_server is unavailable) behind
delaying proxies (0, 15 and 40 ms each way), as the transport drives it: each
call asks ``current()``, a failed call reports ``report_failure`` (the
threshold is the default 3). The time runs from the moment the chosen server
and its proxy are killed until ``current()`` returns the next endpoint.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from arcguard._endpoint import EndpointSelector, EndpointSettings, ProbeResult
from tests.endpoint.support import Backend

DELAYS_MS = {"fast": 0.0, "medium": 15.0, "slow": 40.0}
CALL_TIMEOUT = 0.25  # the deadline a transport would put on one Decide call
ROUNDS = 5


def _static_selector() -> EndpointSelector:
    targets = ("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3")

    def prober(candidates: Any) -> list[ProbeResult]:
        return [ProbeResult(c, (float(i),), float(i)) for i, c in enumerate(candidates, 1)]

    selector = EndpointSelector(
        EndpointSettings(candidates=targets, detect_platform=False), environ={}, prober=prober
    )
    selector.probe_now()
    return selector


def test_current(benchmark: Any) -> None:
    selector = _static_selector()
    assert benchmark(selector.current) == "127.0.0.1:1"


def test_report_success_steady_state(benchmark: Any) -> None:
    selector = _static_selector()
    benchmark(selector.report_success, "127.0.0.1:1")


class _Round:
    def __init__(self) -> None:
        self.backends = {name: Backend(name, delay) for name, delay in DELAYS_MS.items()}
        settings = EndpointSettings(
            candidates=tuple(b.target for b in self.backends.values()),
            probe_timeout=0.5,
            detect_platform=False,
        )
        self.selector = EndpointSelector(settings, environ={})
        self.selector.probe_now()
        assert self.selector.current() == self.backends["fast"].target
        self.channels: dict[str, grpc.Channel] = {}
        for backend in self.backends.values():  # connected, as a running transport would be
            self._check(backend.target)
        self.failed_calls = 0

    def _check(self, target: str) -> None:
        channel = self.channels.get(target)
        if channel is None:
            channel = grpc.insecure_channel(target, options=(("grpc.enable_http_proxy", 0),))
            self.channels[target] = channel
        health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT
        )

    def close(self) -> None:
        self.selector.close()
        for channel in self.channels.values():
            channel.close()
        for backend in self.backends.values():
            backend.close()


def test_failover_time(benchmark: Any) -> None:
    rounds: list[_Round] = []
    measured: list[tuple[float, float, int]] = []

    def setup() -> tuple[tuple[_Round], dict[str, Any]]:
        rounds.append(_Round())
        return (rounds[-1],), {}

    def kill_and_fail_over(state: _Round) -> None:
        chosen = state.selector.current()
        started = time.perf_counter()
        state.backends["fast"].kill()
        killed = time.perf_counter()
        for _ in range(100):  # bounded
            target = state.selector.current()
            if target != chosen:
                break
            try:
                state._check(target)
                state.selector.report_success(target)
            except grpc.RpcError:
                state.failed_calls += 1
                state.selector.report_failure(target)
        done = time.perf_counter()
        measured.append((done - started, done - killed, state.failed_calls))
        assert state.selector.current() == state.backends["medium"].target

    try:
        benchmark.pedantic(kill_and_fail_over, setup=setup, rounds=ROUNDS, iterations=1)
    finally:
        for state in rounds:
            state.close()
    total_ms = [t * 1000 for t, _, _ in measured]
    after_ms = [t * 1000 for _, t, _ in measured]
    benchmark.extra_info.update(
        {
            "failover_ms_median": round(statistics.median(total_ms), 2),
            "failover_ms_max": round(max(total_ms), 2),
            "after_kill_returned_ms_median": round(statistics.median(after_ms), 3),
            "after_kill_returned_ms_max": round(max(after_ms), 3),
            "failed_calls": sorted({n for _, _, n in measured}),
        }
    )
    print(f"\nfail-over: {benchmark.extra_info}")
