"""Redis down: StoreUnavailable / an ERROR result for that rule only; Redis back:
limits resume with the same store object."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from arcguard._engine import (
    CODE_ALLOW,
    CODE_ERROR,
    Engine,
    LimitSpec,
    RedisSettings,
    RedisStore,
    StoreUnavailable,
    SyncRedisStore,
)
from arcguard._exceptions import DecideError
from arcguard._request import RequestDetails
from arcguard._rules import detect_bot, fixed_window

from .redis_server import RedisServer

pytestmark = pytest.mark.redis

FW = LimitSpec.fixed_window(max=3, window=3600.0)
ALLOW_BOT = (CODE_ALLOW, '{"type":"BOT","bot":null,"categories":[],"denied":false}')


def _eventually(fn, attempts: int = 40):  # type: ignore[no-untyped-def]
    """Calls ``fn`` until it stops raising StoreUnavailable (bounded)."""
    for _ in range(attempts):
        try:
            return fn()
        except StoreUnavailable:
            time.sleep(0.05)
    return fn()


def test_sync_store_raises_store_unavailable_and_resumes(own_redis: RedisServer) -> None:
    store = SyncRedisStore(own_redis.url)
    try:
        assert store.hit(FW, "k", 1, 0.0).allowed
        own_redis.stop()
        with pytest.raises(StoreUnavailable) as info:
            store.hit(FW, "k", 1, 0.0)
        assert isinstance(info.value, DecideError)
        assert info.value.__cause__ is not None
        assert store.ping() is False
        own_redis.restart()
        o = _eventually(lambda: store.hit(FW, "k", 1, 0.0))
        assert o.allowed and o.remaining == 2  # a fresh server: the limit starts over
        assert store.ping() is True
    finally:
        store.close()


def test_async_store_raises_store_unavailable_and_resumes(own_redis: RedisServer) -> None:
    async def main() -> None:
        store = RedisStore(own_redis.url)
        try:
            assert (await store.hit(FW, "k", 1, 0.0)).allowed
            own_redis.stop()
            with pytest.raises(StoreUnavailable):
                await store.hit(FW, "k", 1, 0.0)
            assert await store.ping() is False
            own_redis.restart()
            for _ in range(40):
                try:
                    o = await store.hit(FW, "k", 1, 0.0)
                    break
                except StoreUnavailable:
                    await asyncio.sleep(0.05)
            else:
                pytest.fail("limits did not resume after Redis came back")
            assert o.allowed
            assert (await store.hit(FW, "k", 2, 0.0)).remaining == 0
            assert not (await store.hit(FW, "k", 1, 0.0)).allowed
            assert await store.ping() is True
        finally:
            await store.close()

    asyncio.run(main())


def test_engine_gives_error_for_the_rate_limit_rule_only(own_redis: RedisServer) -> None:
    rules = [fixed_window(window=60, max=5), detect_bot(deny=["CATEGORY:HTTP_LIBRARY"])]
    local = [(2, '{"type":"fixed_window"}'), ALLOW_BOT]
    details = RequestDetails(ip="203.0.113.7")

    async def main() -> None:
        engine = Engine(RedisStore(own_redis.url))
        assert (await engine.adecide(details, rules, local=local)).results[0].code == CODE_ALLOW
        own_redis.stop()
        d = await engine.adecide(details, rules, local=local)
        assert [r.code for r in d.results] == [CODE_ERROR, CODE_ALLOW]
        reason = json.loads(d.results[0].reason)
        assert reason["type"] == "ERROR" and "redis" in reason["message"]
        own_redis.restart()
        for _ in range(40):
            d = await engine.adecide(details, rules, local=local)
            if d.results[0].code != CODE_ERROR:
                break
            await asyncio.sleep(0.05)
        assert d.results[0].code == CODE_ALLOW
        await engine.store.close()  # type: ignore[misc]

    asyncio.run(main())


def test_unreachable_redis_fails_fast() -> None:
    from .redis_server import free_port

    store = SyncRedisStore(f"redis://127.0.0.1:{free_port()}/0")
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        store.hit(FW, "k", 1, 0.0)
    assert time.monotonic() - started < 1.0
    store.close()


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="Redis URL"):
        RedisSettings("127.0.0.1:6379")
    with pytest.raises(ValueError, match="timeout"):
        RedisSettings("redis://127.0.0.1:6379/0", timeout=0)
    s = RedisSettings("redis://127.0.0.1:6379/0")
    assert (s.connect_timeout, s.timeout) == (0.05, 0.05)
