"""Health-check probes against real gRPC servers behind delaying proxies on 127.0.0.1."""

from __future__ import annotations

import threading
import time

import pytest

from arcguard._endpoint import Candidate, probe, rank
from tests.endpoint.support import Backend, DecideServiceServer, free_port

pytestmark = pytest.mark.integration


def candidate(backend: Backend) -> Candidate:
    return Candidate("127.0.0.1", backend.port)


def test_probe_ranks_the_fastest_first(backends: dict[str, Backend]) -> None:
    order = [backends["slow"], backends["fast"], backends["medium"]]
    results = probe([candidate(b) for b in order], samples=3, timeout=0.5)
    assert [r.candidate.port for r in results] == [b.port for b in order]  # input order kept
    assert all(r.ok and len(r.samples_ms) == 3 for r in results)
    ranked = rank(results)
    assert [r.candidate.port for r in ranked] == [
        backends["fast"].port,
        backends["medium"].port,
        backends["slow"].port,
    ]
    # The proxies delay each direction: round trips gain about twice the delay.
    medium = next(r for r in results if r.candidate.port == backends["medium"].port)
    assert medium.median_ms is not None and medium.median_ms >= 2 * 15.0


def test_probes_run_concurrently(backends: dict[str, Backend]) -> None:
    started = time.perf_counter()
    results = probe([candidate(b) for b in backends.values()], samples=3, timeout=0.5)
    elapsed = time.perf_counter() - started
    serial = sum(r.median_ms or 0.0 for r in results) * 3 / 1000.0
    assert all(r.ok for r in results)
    # One after the other would take at least `serial`; together about the slowest one.
    assert elapsed < serial


def test_dead_endpoint_is_an_error_within_the_timeout() -> None:
    started = time.perf_counter()
    [result] = probe([Candidate("127.0.0.1", free_port())], samples=3, timeout=0.2)
    assert not result.ok
    assert result.median_ms is None and result.error
    assert time.perf_counter() - started < 2.0


def test_slow_endpoint_times_out(backends: dict[str, Backend]) -> None:
    # slow answers in ~80 ms; a 30 ms budget cannot be met.
    [result] = probe([candidate(backends["slow"])], samples=2, timeout=0.03)
    assert not result.ok


def test_not_serving_is_unhealthy(backends: dict[str, Backend]) -> None:
    backends["fast"].set_status(serving=False)
    [result] = probe([candidate(backends["fast"])], samples=2, timeout=0.5)
    assert not result.ok
    assert result.error is not None and "NOT_SERVING" in result.error


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError):
        probe([Candidate("127.0.0.1", 1)], samples=0)
    with pytest.raises(ValueError):
        probe([Candidate("127.0.0.1", 1)], timeout=0)
    assert probe([]) == []


def test_probe_against_the_decide_service_when_its_factory_exists() -> None:
    service = DecideServiceServer.start()
    if service is None:
        pytest.skip("decide_service.create_server is not there yet")
    try:
        [result] = probe([Candidate("127.0.0.1", service.port)], samples=3, timeout=0.5)
        assert result.ok, result.error
    finally:
        service.stop()


def test_probe_leaves_no_probe_threads_behind(backends: dict[str, Backend]) -> None:
    # Channels are closed (-W error would flag leaks) and the worker pool is shut down.
    for _ in range(3):
        probe([candidate(b) for b in backends.values()], samples=1, timeout=0.5)
    assert not [t for t in threading.enumerate() if t.name.startswith("arcguard-probe")]
