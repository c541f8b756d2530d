"""The service on a real redis-server: replicas share counters, health follows
Redis, and a Redis outage becomes ERROR results, never a crash."""

from __future__ import annotations

import contextlib
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from arcguard._request import RequestDetails
from arcguard._rules import fixed_window, shield
from decide_service import SERVICE_NAME
from tests.engine.redis_server import RedisServer

from .conftest import RunningService, service_settings

pytestmark = [pytest.mark.integration, pytest.mark.redis]

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def health(svc: RunningService) -> int:
    with grpc.insecure_channel(svc.target) as ch:
        return int(
            health_pb2_grpc.HealthStub(ch)
            .Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=5)
            .status
        )


def wait_health(svc: RunningService, status: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while health(svc) != status:
        assert time.monotonic() < deadline, f"health never became {status}"
        time.sleep(0.05)


def test_two_replicas_share_one_rate_limit(redis_url: str) -> None:
    a = RunningService(service_settings(redis_url=redis_url, metrics_port=None))
    b = RunningService(service_settings(redis_url=redis_url, metrics_port=None))
    ta, tb = a.transport(), b.transport()
    try:
        rules = (fixed_window(window="1h", max=3),)
        d = RequestDetails(ip="192.0.2.77")
        codes = [(ta if i % 2 else tb).decide(d, rules).results[0].code for i in range(5)]
        assert codes == [0, 0, 0, 1, 1]
    finally:
        ta.close()
        tb.close()
        a.stop()
        b.stop()


def test_reports_count_shield_suspicion_in_redis(redis_url: str) -> None:
    svc = RunningService(service_settings(redis_url=redis_url, metrics_port=None))
    t = svc.transport()
    try:
        rules = (shield(threshold=2, window="60s", block_for="60s"),)
        d = RequestDetails(ip="192.0.2.78")
        for _ in range(2):
            t.report(d, rules, [(1, '{"type":"SHIELD","suspicious":true}')])
        t.reporter.flush()
        assert t.decide(d, rules, local=[(0, '{"type":"SHIELD"}')]).results[0].code == 1
    finally:
        t.close()
        svc.stop()


def test_health_follows_redis_and_an_outage_gives_error_results(own_redis: RedisServer) -> None:
    svc = RunningService(service_settings(redis_url=own_redis.url, metrics_port=None))
    t = svc.transport()
    rules = (fixed_window(window="1h", max=100),)
    d = RequestDetails(ip="192.0.2.79")
    try:
        wait_health(svc, SERVING)
        assert t.decide(d, rules).results[0].code == 0
        own_redis.stop()
        wait_health(svc, NOT_SERVING)
        out = t.decide(d, rules).results[0]
        assert out.code == 4 and '"ERROR"' in out.reason  # the rule errs, the call does not
        own_redis.restart()
        wait_health(svc, SERVING)
        assert t.decide(d, rules).results[0].code == 0
    finally:
        t.close()
        svc.stop()


# -- the store's EVALSHA paths ---------------------------------------------------------


@pytest.fixture(params=["pipelined", "pooled"])
def evalsha_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways RedisStore sends EVALSHA: one pipelined connection (hiredis
    installed, plain URL) and redis-py's pooled connections (the fallback)."""
    from arcguard._engine import redis as redis_store

    if request.param == "pipelined":
        if redis_store.hiredis is None:
            pytest.skip("hiredis is not installed")
    else:
        monkeypatch.setattr(redis_store._Pipeline, "for_pool", lambda *a: None)
    return str(request.param)


def test_store_reloads_its_scripts_after_a_script_flush_and_counts_once(
    redis_url: str, evalsha_path: str
) -> None:
    import asyncio

    import redis as redis_py

    from arcguard._engine import LimitSpec, RedisStore

    spec = LimitSpec.fixed_window(max=3, window=3600.0)

    async def main() -> list[bool]:
        store = RedisStore(redis_url)
        try:
            got = [(await store.hit(spec, "flush", 1, 0.0)).allowed]
            with redis_py.Redis.from_url(redis_url) as r:
                r.script_flush()  # as after a restart: EVALSHA now answers NOSCRIPT
            for _ in range(3):
                got.append((await store.hit(spec, "flush", 1, 0.0)).allowed)
            return got
        finally:
            await store.close()

    assert asyncio.run(main()) == [True, True, True, False]


def test_a_cancelled_call_does_not_leave_its_reply_for_the_next_one(
    redis_url: str, evalsha_path: str
) -> None:
    """A call cancelled while awaiting Redis (the client's deadline passed) must
    not hand its connection back with the reply still to come."""
    import asyncio

    import redis as redis_py

    from arcguard._engine import LimitSpec, RedisStore

    spec = LimitSpec.fixed_window(max=1000, window=3600.0)
    other = LimitSpec.fixed_window(max=50, window=3600.0)

    async def main() -> int:
        store = RedisStore(redis_url, max_connections=1, timeout=5.0)
        try:
            await store.hit(spec, "warm", 1, 0.0)  # the one connection, connected
            with redis_py.Redis.from_url(redis_url) as r:
                r.execute_command("CLIENT", "PAUSE", "300", "ALL")
            first = asyncio.ensure_future(store.hit(spec, "cancel", 1, 0.0))
            await asyncio.sleep(0.1)  # sent, its reply held back by the pause
            first.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await first
            # This call must read its own reply (another key, another limit),
            # not the cancelled one's (remaining 999).
            return (await store.hit(other, "after-cancel", 1, 0.0)).remaining
        finally:
            await store.close()

    assert asyncio.run(main()) == 49


def test_store_selects_the_url_database_and_authenticates(
    own_redis: RedisServer, evalsha_path: str
) -> None:
    """The pipelined connection speaks AUTH (password, or user and password)
    and SELECT itself; a wrong password is an unavailable store."""
    import asyncio

    import redis as redis_py

    from arcguard._engine import LimitSpec, RedisStore, StoreUnavailable

    spec = LimitSpec.fixed_window(max=10, window=3600.0)
    base = f"127.0.0.1:{own_redis.port}"
    with redis_py.Redis.from_url(own_redis.url) as r:
        r.execute_command("ACL", "SETUSER", "svc", "on", ">pw2", "~*", "+@all")
        r.config_set("requirepass", "pw")

    async def hit(url: str) -> int:
        store = RedisStore(url)
        assert (store._pipeline is not None) == (evalsha_path == "pipelined")
        try:
            return (await store.hit(spec, "auth", 1, 0.0)).remaining
        finally:
            await store.close()

    assert asyncio.run(hit(f"redis://:pw@{base}/3")) == 9
    assert asyncio.run(hit(f"redis://svc:pw2@{base}/3")) == 8
    assert asyncio.run(hit(f"redis://:pw@{base}/0")) == 9  # another database
    with redis_py.Redis.from_url(f"redis://:pw@{base}/3") as r:
        assert len(r.keys("arcguard:*")) == 1
    with pytest.raises(StoreUnavailable):
        asyncio.run(hit(f"redis://:wrong@{base}/3"))


def test_a_timed_out_call_fails_the_connection_and_the_next_call_reconnects(
    redis_url: str, evalsha_path: str
) -> None:
    import asyncio

    import redis as redis_py

    from arcguard._engine import LimitSpec, RedisStore, StoreUnavailable

    spec = LimitSpec.fixed_window(max=100, window=3600.0)

    async def main() -> int:
        store = RedisStore(redis_url, timeout=0.1)
        try:
            await store.hit(spec, "timeout", 1, 0.0)
            with redis_py.Redis.from_url(redis_url) as r:
                r.execute_command("CLIENT", "PAUSE", "400", "WRITE")
            with pytest.raises(StoreUnavailable, match=r"[Tt]imeout"):
                await store.hit(spec, "timeout", 1, 0.0)
            await asyncio.sleep(0.5)  # the pause is over
            return (await store.hit(spec, "timeout-after", 1, 0.0)).remaining
        finally:
            await store.close()

    assert asyncio.run(main()) == 99
