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

import contextlib
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


# -- the request path does not pay for probing ---------------------------------------


def _probe_round_figures() -> dict[str, float]:
    """protect() p50 with the selector idle, then while probe rounds run back to back.

    Three real decide services run as subprocesses on 127.0.0.1 (so their work
    does not share this process's GIL); the guard has a key, so it is in
    service mode and its selector probes them. Two request kinds: one decided
    locally (a browser GET with a bot rule: local Wasm decision + background
    report) and one escalated (a rate limit: one Decide call).
    """
    import os
    import threading

    from _requests import browser_scope
    from _stats import percentiles

    from arcguard import ArcGuard, detect_bot, fixed_window
    from tests._servers import PYTHON, free_port, run_server

    ports = [free_port() for _ in range(3)]
    with contextlib.ExitStack() as stack:
        for p in ports:
            stack.enter_context(run_server(
                [PYTHON, "-m", "decide_service", "--port", str(p), "--no-auth",
                 "--metrics-port", "-1", "--log-level", "WARNING"], p))
        env = {
            "ARCGUARD_CANDIDATES": ",".join(f"127.0.0.1:{p}" for p in ports),
            "ARCGUARD_ALLOWED_HOSTS": "loopback",
            "ARCGUARD_DETECT_PLATFORM": "0",
            "ARCGUARD_PROBE_INTERVAL_S": "3600",
            "ARCGUARD_TLS": "0",
        }
        local = ArcGuard(rules=[detect_bot(deny=["CATEGORY:HTTP_LIBRARY"])], key="k",
                         environ={**os.environ, **env}, timeout=0.25)
        remote = ArcGuard(rules=[fixed_window(window="60s", max=10**9)], key="k",
                          environ={**os.environ, **env}, timeout=0.25)
        selector = remote._transport._selector  # type: ignore[union-attr]
        scope = browser_scope()
        out: dict[str, float] = {}
        for name, guard, n in (("local", local, 4000), ("escalated", remote, 1500)):
            for _ in range(200):
                guard.protect(scope)
            idle = [_timed(lambda: guard.protect(scope)) for _ in range(n)]
            stop = threading.Event()
            rounds = [0]

            def probing() -> None:
                while not stop.is_set():
                    selector.probe_now()
                    rounds[0] += 1

            t = threading.Thread(target=probing, daemon=True)
            t.start()
            busy = [_timed(lambda: guard.protect(scope)) for _ in range(n)]
            stop.set()
            t.join(10)
            p_idle, p_busy = percentiles(idle)["p50_us"], percentiles(busy)["p50_us"]
            out[f"{name}_p50_idle_us"] = p_idle
            out[f"{name}_p50_probing_us"] = p_busy
            out[f"{name}_ratio"] = round(p_busy / p_idle, 3)
            out[f"{name}_probe_rounds"] = rounds[0]
        local.close()
        remote.close()
    return out


def _timed(fn: Any) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def test_protect_p50_during_probe_rounds(benchmark: Any) -> None:
    info = benchmark.pedantic(_probe_round_figures, rounds=1, iterations=1)
    benchmark.extra_info.update(info)
    print(f"\nprotect() p50 idle vs during probe rounds: {info}")
