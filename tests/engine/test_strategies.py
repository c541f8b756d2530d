"""The same strategy tests on every store: MemoryStore and a real redis-server (Lua)."""

from __future__ import annotations

from typing import Any

import pytest

from arcguard._engine import LimitSpec

T0 = 1_700_000_040.0  # aligned to 60 s windows

FW = LimitSpec.fixed_window(max=10, window=60.0)
SW = LimitSpec.sliding_window(max=10, interval=60.0)
TB = LimitSpec.token_bucket(capacity=5, refill_rate=1, interval=1.0)


def allowed(store: Any, spec: LimitSpec, key: str, n: int, now: float, cost: int = 1) -> int:
    return sum(store.hit(spec, key, cost, now).allowed for _ in range(n))


def test_fixed_window_allows_exactly_max(store: Any) -> None:
    assert allowed(store, FW, "k", 15, T0 + 1) == 10
    o = store.hit(FW, "k", 1, T0 + 1)
    assert (o.allowed, o.limit, o.remaining, o.window) == (False, 10, 0, 60.0)


def test_fixed_window_remaining_counts_down(store: Any) -> None:
    assert [store.hit(FW, "k", 1, T0).remaining for _ in range(3)] == [9, 8, 7]


def test_fixed_window_reset_is_time_to_window_end(store: Any) -> None:
    assert store.hit(FW, "k", 1, T0 + 15.5).reset == pytest.approx(44.5)


def test_fixed_window_resets_at_window_boundary(store: Any) -> None:
    assert allowed(store, FW, "k", 12, T0 + 59.9) == 10
    assert allowed(store, FW, "k", 12, T0 + 60.0) == 10


def test_fixed_window_is_aligned_to_the_epoch(store: Any) -> None:
    # 10 at the end of one window, 10 more right after it: not a rolling window.
    assert allowed(store, FW, "k", 10, T0 + 59) == 10
    assert allowed(store, FW, "k", 10, T0 + 61) == 10


def test_denied_requests_do_not_consume(store: Any) -> None:
    spec = LimitSpec.fixed_window(max=5, window=60.0)
    assert store.hit(spec, "k", 3, T0).allowed
    assert not store.hit(spec, "k", 3, T0).allowed  # 6 > 5
    assert store.hit(spec, "k", 2, T0).allowed  # the denied 3 were not counted
    assert store.hit(spec, "k", 1, T0).remaining == 0


def test_requested_more_than_max_is_always_denied(store: Any) -> None:
    assert not store.hit(FW, "k", 11, T0).allowed
    assert store.hit(FW, "k", 10, T0).allowed


def test_keys_are_independent(store: Any) -> None:
    assert allowed(store, FW, "a", 12, T0) == 10
    assert allowed(store, FW, "b", 12, T0) == 10
    assert allowed(store, TB, "a2", 7, T0) == 5


def test_same_key_of_different_rules_is_independent(store: Any) -> None:
    other = LimitSpec.fixed_window(max=3, window=60.0)
    assert allowed(store, FW, "r1:ip:1.2.3.4", 12, T0) == 10
    assert allowed(store, other, "r2:ip:1.2.3.4", 5, T0) == 3


def test_sliding_window_weights_the_previous_window(store: Any) -> None:
    assert allowed(store, SW, "k", 10, T0 + 10) == 10
    # Halfway through the next window the previous 10 count as 5.
    assert allowed(store, SW, "k", 10, T0 + 90) == 5
    # A quarter left: 10 * 0.25 + 5 = 7.5, so two more fit (8.5, 9.5).
    assert allowed(store, SW, "k", 10, T0 + 105) == 2


def test_sliding_window_forgets_after_two_windows(store: Any) -> None:
    assert allowed(store, SW, "k", 10, T0) == 10
    assert allowed(store, SW, "k", 12, T0 + 120) == 10


def test_sliding_window_reset_when_full_is_time_until_one_fits(store: Any) -> None:
    assert allowed(store, SW, "k", 10, T0) == 10
    o = store.hit(SW, "k", 1, T0 + 30)
    assert not o.allowed
    # Next window: 10 * (1 - e/60) <= 9  =>  e >= 6 s; the window ends in 30 s.
    assert o.reset == pytest.approx(36.0)
    assert not store.hit(SW, "k", 1, T0 + 65.9).allowed
    assert store.hit(SW, "k", 1, T0 + 66.1).allowed


def test_token_bucket_starts_full_and_drains(store: Any) -> None:
    assert [store.hit(TB, "k", 1, T0).remaining for _ in range(5)] == [4, 3, 2, 1, 0]
    o = store.hit(TB, "k", 1, T0)
    assert not o.allowed and o.reset == pytest.approx(1.0)


def test_token_bucket_refills_continuously(store: Any) -> None:
    assert allowed(store, TB, "k", 5, T0) == 5
    assert not store.hit(TB, "k", 1, T0 + 0.5).allowed
    o = store.hit(TB, "k", 1, T0 + 1.0)
    assert o.allowed and o.remaining == 0
    assert allowed(store, TB, "k", 3, T0 + 3.5) == 2  # 2.5 tokens: two whole


def test_token_bucket_is_capped_at_capacity(store: Any) -> None:
    assert allowed(store, TB, "k", 5, T0) == 5
    assert allowed(store, TB, "k", 10, T0 + 1000) == 5


def test_token_bucket_requested_takes_several_tokens(store: Any) -> None:
    assert store.hit(TB, "k", 3, T0).remaining == 2
    assert not store.hit(TB, "k", 3, T0).allowed
    assert store.hit(TB, "k", 3, T0 + 1).allowed  # 2 + 1 refilled


def test_token_bucket_full_reports_zero_reset(store: Any) -> None:
    o = store.hit(TB, "k", 1, T0)
    assert o.reset == pytest.approx(1.0)  # one token short of full
    o = store.hit(TB, "k", 6, T0 + 100)  # denied, bucket full
    assert not o.allowed and o.reset == 0.0 and o.remaining == 5


def test_windowed_counter_and_block(store: Any) -> None:
    assert [store.incr_window("c", 10.0, 1, T0 + i) for i in range(3)] == [1, 2, 3]
    assert store.incr_window("c", 10.0, 1, T0 + 10) == 1  # lives 10 s from its first increment
    assert store.blocked_for("c", T0) == 0.0
    store.block("c", 30.0, T0)
    assert store.blocked_for("c", T0 + 10) == pytest.approx(20.0)
    store.block("c", 5.0, T0 + 10)  # never shortens
    assert store.blocked_for("c", T0 + 10) == pytest.approx(20.0)
    assert store.blocked_for("c", T0 + 31) == 0.0


def test_ping(store: Any) -> None:
    assert store.ping() is True
