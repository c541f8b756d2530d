"""Atomicity under concurrency: threads on one MemoryStore, and three RedisStore
instances (each its own pool and event loop in its own thread, like three
decide-service replicas) on one redis-server."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

from arcguard._engine import LimitSpec, MemoryStore

from .redis_server import RedisServer

T0 = 1_700_000_040.0
FW = LimitSpec.fixed_window(max=100, window=60.0)
SW = LimitSpec.sliding_window(max=100, interval=60.0)
TB = LimitSpec.token_bucket(capacity=100, refill_rate=1, interval=3600.0)


def run_threads(n: int, target: Callable[[], int]) -> int:
    results: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(n)

    def work() -> None:
        barrier.wait(10)
        got = target()
        with lock:
            results.append(got)

    threads = [threading.Thread(target=work) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == n, "a worker did not finish"
    return sum(results)


@pytest.mark.parametrize("spec", [FW, SW, TB], ids=lambda s: s.algorithm)
def test_memory_store_8_threads_admit_exactly_the_limit(spec: LimitSpec) -> None:
    store = MemoryStore()
    total = run_threads(8, lambda: sum(store.hit(spec, "hot", 1, T0).allowed for _ in range(60)))
    assert total == 100


def _replica(url: str, spec: LimitSpec, key: str, hits: int, now: float | None) -> int:
    """One replica: its own RedisStore, pool and event loop, hits sent concurrently."""
    from arcguard._engine import RedisStore

    async def main() -> int:
        store = RedisStore(url, use_client_clock=now is not None, timeout=5.0, connect_timeout=5.0)
        try:
            t = now if now is not None else 0.0
            outcomes = await asyncio.gather(*(store.hit(spec, key, 1, t) for _ in range(hits)))
            return sum(o.allowed for o in outcomes)
        finally:
            await store.close()

    return asyncio.run(main())


@pytest.mark.redis
@pytest.mark.parametrize("spec", [FW, SW, TB], ids=lambda s: s.algorithm)
def test_three_redis_replicas_admit_exactly_the_limit(
    redis_server: RedisServer, spec: LimitSpec
) -> None:
    redis_server.flushall()
    total = run_threads(3, lambda: _replica(redis_server.url, spec, "hot", 80, T0))
    assert total == 100


@pytest.mark.redis
def test_three_redis_replicas_on_the_server_clock(redis_server: RedisServer) -> None:
    redis_server.flushall()
    spec = LimitSpec.fixed_window(max=100, window=3600.0)
    start = time.time() // 3600
    total = run_threads(3, lambda: _replica(redis_server.url, spec, "hot-srv", 80, None))
    if time.time() // 3600 == start:
        assert total == 100
    else:  # crossed an hour boundary during the test: two windows
        assert 100 <= total <= 200
