"""Rate-limit benchmarks (pytest-benchmark; not part of the default test run).

Run::

    python -m pytest benchmarks/bench_ratelimit.py -p no:cacheprovider --benchmark-only \
        --benchmark-columns=min,median,mean,ops,rounds --benchmark-sort=name

Groups:

* ``local``: the cost a MemoryStore fixed-window check adds on top of the local
  Wasm decision (``Engine.decide(..., local=...)``), next to the ``limits``
  package's ``MemoryStorage`` + ``FixedWindowRateLimiter.hit``.
* ``redis``: a raw redis-py ``EVALSHA`` round trip (sync client, the same
  fixed-window script) next to our ``SyncRedisStore.hit`` and ``RedisStore.hit``
  (async, one event loop), against a local redis-server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from arcguard._engine import Engine, LimitSpec, MemoryStore
from arcguard._request import RequestDetails
from arcguard._rules import fixed_window
from tests.engine.redis_server import RedisServer, redis_server_available

MAX = 10**9  # never denies: measures the allowed path, as most requests take
DETAILS = RequestDetails(ip="203.0.113.9", method="GET", host="example.com", path="/api")
LOCAL = [(2, '{"type":"fixed_window"}')]


@pytest.mark.benchmark(group="local")
def test_arcguard_engine_decide_memory_fixed_window(benchmark: Any) -> None:
    engine = Engine(MemoryStore())
    rules = [fixed_window(window="60s", max=MAX)]
    engine.decide(DETAILS, rules, local=LOCAL)
    d = benchmark(engine.decide, DETAILS, rules, local=LOCAL)
    assert d.results[0].code == 0


@pytest.mark.benchmark(group="local")
def test_arcguard_memory_store_hit(benchmark: Any) -> None:
    store = MemoryStore()
    spec = LimitSpec.fixed_window(max=MAX, window=60.0)
    clock = time.time
    benchmark(lambda: store.hit(spec, "rule:ip:203.0.113.9", 1, clock()))


@pytest.mark.benchmark(group="local")
def test_limits_memory_fixed_window_hit(benchmark: Any) -> None:
    from limits import RateLimitItemPerMinute
    from limits.storage import MemoryStorage
    from limits.strategies import FixedWindowRateLimiter

    limiter = FixedWindowRateLimiter(MemoryStorage())
    item = RateLimitItemPerMinute(MAX)
    assert benchmark(limiter.hit, item, "rule", "203.0.113.9")


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    if not redis_server_available():
        pytest.skip("redis-server is not on PATH")
    server = RedisServer.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.mark.benchmark(group="redis")
def test_raw_redis_py_evalsha(benchmark: Any, redis_url: str) -> None:
    import redis

    from arcguard._engine.redis import _script_source

    client = redis.Redis.from_url(redis_url)
    sha = client.script_load(_script_source("fixed_window"))
    key = "arcguard:{raw}:fw"
    benchmark(client.evalsha, sha, 1, key, "", "1000", MAX, "60.0", 1)
    client.close()


@pytest.mark.benchmark(group="redis")
def test_arcguard_sync_redis_store_hit(benchmark: Any, redis_url: str) -> None:
    from arcguard._engine import SyncRedisStore

    store = SyncRedisStore(redis_url)
    spec = LimitSpec.fixed_window(max=MAX, window=60.0)
    store.hit(spec, "sync", 1, 0.0)
    assert benchmark(store.hit, spec, "sync", 1, 0.0).allowed
    store.close()


@pytest.mark.benchmark(group="redis")
def test_arcguard_async_redis_store_hit(benchmark: Any, redis_url: str) -> None:
    from arcguard._engine import RedisStore

    loop = asyncio.new_event_loop()
    store = RedisStore(redis_url)
    spec = LimitSpec.fixed_window(max=MAX, window=60.0)
    loop.run_until_complete(store.hit(spec, "async", 1, 0.0))
    out = benchmark(lambda: loop.run_until_complete(store.hit(spec, "async", 1, 0.0)))
    assert out.allowed
    loop.run_until_complete(store.close())
    loop.close()


# -- the cost on top of protect() ------------------------------------------------------


@pytest.mark.benchmark(group="protect")
@pytest.mark.parametrize("with_limit", [False, True], ids=["bot-only", "bot+fixed_window"])
def test_protect_with_and_without_a_local_limit(benchmark: Any, with_limit: bool) -> None:
    """protect() in local dev mode on a browser GET, with and without a fixed
    window: the difference of the two medians is what the limiter adds."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _requests import browser_scope
    from _stats import per_call

    from arcguard import ArcGuard, detect_bot
    from arcguard._core import get_core

    get_core().wait_optimized(120)
    rules: list[Any] = [detect_bot(deny=["CATEGORY:HTTP_LIBRARY"])]
    if with_limit:
        rules.append(fixed_window(window="60s", max=MAX))
    guard = ArcGuard(rules=rules, environ={"ARCGUARD_ENV": "development"})
    scope = browser_scope()
    assert guard.protect(scope).is_allowed()
    per_call(benchmark, lambda: guard.protect(scope))


@pytest.mark.benchmark(group="protect")
def test_protect_local_limit_cost_interleaved(benchmark: Any) -> None:
    """The same two guards, called alternately (one call each per round) and
    each call timed: both medians come from the same moments of a shared
    machine's load, so their difference is the limiter's cost with less of
    the run-to-run swing of the two separate tests above. The table's time
    is the round (both calls); the figures are printed and in extra_info."""
    import statistics
    import sys
    import time
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _requests import browser_scope

    from arcguard import ArcGuard, detect_bot
    from arcguard._core import get_core

    get_core().wait_optimized(120)
    dev = {"ARCGUARD_ENV": "development"}
    bot = ArcGuard(rules=[detect_bot(deny=["CATEGORY:HTTP_LIBRARY"])], environ=dev)
    limited = ArcGuard(
        rules=[detect_bot(deny=["CATEGORY:HTTP_LIBRARY"]), fixed_window(window="60s", max=MAX)],
        environ=dev,
    )
    scope = browser_scope()
    assert bot.protect(scope).is_allowed() and limited.protect(scope).is_allowed()
    clock = time.perf_counter
    plain: list[float] = []
    with_limit: list[float] = []
    flip = [False]

    def round_() -> None:
        # Alternate which guard goes first, so neither always runs on warm caches.
        first, second = (limited, bot) if flip[0] else (bot, limited)
        t0 = clock()
        first.protect(scope)
        t1 = clock()
        second.protect(scope)
        t2 = clock()
        if flip[0]:
            with_limit.append(t1 - t0)
            plain.append(t2 - t1)
        else:
            plain.append(t1 - t0)
            with_limit.append(t2 - t1)
        flip[0] = not flip[0]

    for _ in range(500):
        round_()
    plain.clear()
    with_limit.clear()
    benchmark.pedantic(round_, rounds=20_000, iterations=1, warmup_rounds=0)
    p50 = statistics.median(plain) * 1e6
    p50_limited = statistics.median(with_limit) * 1e6
    info = {
        "bot_only_p50_us": round(p50, 2),
        "bot_fixed_window_p50_us": round(p50_limited, 2),
        "limiter_cost_us": round(p50_limited - p50, 2),
    }
    benchmark.extra_info.update(info)
    print(f"\n{benchmark.name}: {info}")
