"""The Lua scripts: their shared preamble (the clock) is written once and put in
front of each script when it is loaded; every composed script runs on a real
redis-server with the server's clock and with the caller's."""

from __future__ import annotations

import time
from importlib import resources

import pytest

from arcguard._engine import LimitSpec, SyncRedisStore
from arcguard._engine.redis import _SCRIPTS, _script_source

pytestmark = pytest.mark.redis

LUA = resources.files("arcguard._engine").joinpath("lua")


def test_the_clock_is_read_in_one_file_only() -> None:
    owners = [
        f.name
        for f in LUA.iterdir()
        if f.name.endswith(".lua") and "redis.call('TIME')" in f.read_text("utf-8")
    ]
    assert owners == ["preamble.lua"]


@pytest.mark.parametrize("name", _SCRIPTS)
def test_each_script_is_loaded_with_the_preamble_in_front(name: str) -> None:
    preamble = LUA.joinpath("preamble.lua").read_text("utf-8")
    own = LUA.joinpath(f"{name}.lua").read_text("utf-8")
    assert _script_source(name) == preamble + own
    assert "local now" not in own  # the script uses the preamble's


@pytest.mark.parametrize("client_clock", [False, True])
def test_every_composed_script_runs_on_a_real_redis(redis_url: str, client_clock: bool) -> None:
    store = SyncRedisStore(redis_url, use_client_clock=client_clock, timeout=2.0)
    try:
        for name in _SCRIPTS:  # each compiles on the server
            sha = store.client.script_load(_script_source(name))
            assert store.client.script_exists(sha) == [True]
        now = time.time()
        for spec in (
            LimitSpec.fixed_window(max=2, window=60.0),
            LimitSpec.sliding_window(max=2, interval=60.0),
            LimitSpec.token_bucket(capacity=2, refill_rate=1, interval=60.0),
        ):
            outcomes = [store.hit(spec, f"lua:{spec.algorithm}", 1, now) for _ in range(3)]
            assert [o.allowed for o in outcomes] == [True, True, False]
            assert 0.0 < outcomes[-1].reset <= 120.0  # a sliding window: up to two
        assert [store.incr_window("lua:c", 60.0, 1, now) for _ in range(3)] == [1, 2, 3]
        assert store.blocked_for("lua:b", now) == 0.0
        store.block("lua:b", 30.0, now)
        assert 29.0 < store.blocked_for("lua:b", now) <= 30.0
    finally:
        store.close()
