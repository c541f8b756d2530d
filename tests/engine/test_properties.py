"""Local and remote give the same answers: the pure arithmetic, MemoryStore and
the Redis Lua scripts agree exactly on random sequences of (advance time, cost)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arcguard._engine import LimitSpec, MemoryStore
from arcguard._engine.ratelimit import RateLimitOutcome, State, hit

from .redis_server import RedisServer

T0 = 1_700_000_000.0

specs = st.one_of(
    st.builds(
        LimitSpec.fixed_window,
        max=st.integers(1, 20),
        window=st.sampled_from([0.5, 1.0, 7.0, 60.0, 0.1]),
    ),
    st.builds(
        LimitSpec.sliding_window,
        max=st.integers(1, 20),
        interval=st.sampled_from([0.5, 1.0, 7.0, 60.0, 0.1]),
    ),
    st.integers(1, 20).flatmap(
        lambda cap: st.builds(
            LimitSpec.token_bucket,
            capacity=st.just(cap),
            refill_rate=st.integers(1, cap),
            interval=st.sampled_from([0.5, 1.0, 3.0, 60.0, 0.1]),
        )
    ),
)
steps = st.lists(
    st.tuples(
        st.one_of(
            st.just(0.0),
            st.floats(0.0, 2.0, allow_nan=False),
            st.floats(0.0, 200.0, allow_nan=False),
            st.floats(-1.0, 0.0, allow_nan=False),  # a clock going back a little
        ),
        st.integers(1, 6),
    ),
    min_size=1,
    max_size=40,
)


@pytest.fixture(scope="module")
def sync_redis(redis_server: RedisServer) -> Iterator[Any]:
    from arcguard._engine import SyncRedisStore

    s = SyncRedisStore(redis_server.url, use_client_clock=True, timeout=2.0, connect_timeout=2.0)
    yield s
    s.close()


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(spec=specs, seq=steps, start=st.floats(0.0, 1000.0, allow_nan=False))
def test_pure_memory_and_redis_agree(
    sync_redis: Any, spec: LimitSpec, seq: list[tuple[float, int]], start: float
) -> None:
    memory = MemoryStore()
    key = uuid.uuid4().hex
    state: State | None = None
    now = T0 + start
    for advance, cost in seq:
        now += advance
        state, expected = hit(spec, state, now, cost)
        got_memory = memory.hit(spec, key, cost, now)
        got_redis = sync_redis.hit(spec, key, cost, now)
        assert got_memory == expected
        assert got_redis == expected, (spec, now, cost)


@settings(max_examples=200, deadline=None)
@given(spec=specs, seq=steps)
def test_outcomes_are_within_bounds(spec: LimitSpec, seq: list[tuple[float, int]]) -> None:
    state: State | None = None
    now = T0
    for advance, cost in seq:
        now += advance
        state, o = hit(spec, state, now, cost)
        assert isinstance(o, RateLimitOutcome)
        assert 0 <= o.remaining <= spec.limit
        assert o.reset >= 0.0
        if cost > spec.limit:
            assert not o.allowed


@settings(max_examples=200, deadline=None)
@given(
    max_=st.integers(1, 30),
    window=st.sampled_from([1.0, 10.0, 60.0]),
    gaps=st.lists(st.floats(0.0, 5.0, allow_nan=False), min_size=1, max_size=80),
)
def test_fixed_window_never_admits_more_than_max_per_window(
    max_: int, window: float, gaps: list[float]
) -> None:
    spec = LimitSpec.fixed_window(max=max_, window=window)
    state: State | None = None
    now, admitted = T0, {}  # type: ignore[var-annotated]
    for gap in gaps:
        now += gap
        state, o = hit(spec, state, now, 1)
        if o.allowed:
            idx = int(now // window)
            admitted[idx] = admitted.get(idx, 0) + 1
    assert all(n <= max_ for n in admitted.values())


@settings(max_examples=200, deadline=None)
@given(
    cap=st.integers(1, 20),
    gaps=st.lists(st.floats(0.0, 3.0, allow_nan=False), min_size=1, max_size=80),
)
def test_token_bucket_admits_at_most_capacity_plus_refill(cap: int, gaps: list[float]) -> None:
    spec = LimitSpec.token_bucket(capacity=cap, refill_rate=1, interval=1.0)
    state: State | None = None
    now = T0
    admitted = 0
    for gap in gaps:
        now += gap
        state, o = hit(spec, state, now, 1)
        admitted += o.allowed
    assert admitted <= cap + (now - T0) * 1.0 + 1e-9
