"""MemoryStore stays bounded and forgets the least valuable keys first."""

from __future__ import annotations

import pytest

from arcguard._engine import LimitSpec, MemoryStore

T0 = 1_700_000_040.0
FW = LimitSpec.fixed_window(max=100, window=60.0)
TB = LimitSpec.token_bucket(capacity=100, refill_rate=1, interval=1.0)


def test_the_number_of_keys_is_capped() -> None:
    store = MemoryStore(max_keys=50)
    for i in range(500):
        store.hit(FW, f"k{i}", 1, T0)
        store.incr_window(f"c{i}", 60.0, 1, T0)
    assert len(store) == 50
    assert len(store._heap) == 50
    assert store.evictions == 950


def test_expired_keys_are_forgotten_first() -> None:
    store = MemoryStore(max_keys=10)
    for i in range(5):
        store.hit(FW, f"old{i}", 100, T0)  # this window only
    for i in range(5):
        store.hit(FW, f"live{i}", 1, T0 + 60)  # the next window
    for i in range(5):
        store.hit(FW, f"new{i}", 1, T0 + 61)
    assert all(f"live{i}" in store._data for i in range(5))
    assert not any(f"old{i}" in store._data for i in range(5))


def test_a_hot_fixed_window_counter_survives_a_flood_of_fresh_keys() -> None:
    store = MemoryStore(max_keys=100)
    for _ in range(100):
        store.hit(FW, "hot", 1, T0)
    assert not store.hit(FW, "hot", 1, T0).allowed
    for i in range(10_000):  # the same window: every junk key expires with the hot one
        store.hit(FW, f"junk{i}", 1, T0 + 1)
    assert not store.hit(FW, "hot", 1, T0 + 2).allowed


def test_a_drained_bucket_survives_a_flood_of_fresh_keys() -> None:
    store = MemoryStore(max_keys=100)
    store.hit(TB, "hot", 100, T0)
    for i in range(10_000):
        store.hit(TB, f"junk{i}", 1, T0 + i * 0.0001)
    assert not store.hit(TB, "hot", 10, T0 + 2).allowed  # 2 tokens back, not 100


def test_stale_heap_entries_are_refreshed_not_evicted() -> None:
    store = MemoryStore(max_keys=3)
    store.hit(FW, "a", 1, T0)
    store.hit(FW, "b", 1, T0)
    store.hit(FW, "c", 1, T0)
    for _ in range(50):  # "a" grows heavier after its heap entry was pushed
        store.hit(FW, "a", 1, T0)
    store.hit(FW, "d", 1, T0)
    assert "a" in store._data and "b" not in store._data


def test_blocks_outlive_counters_expiring_with_them() -> None:
    store = MemoryStore(max_keys=2)
    store.block("x", 60.0, T0)
    store.hit(FW, "k", 1, T0)  # expires at T0 + 60 too
    store.hit(FW, "k2", 1, T0)
    assert store.blocked_for("x", T0) == 60.0


def test_max_keys_is_checked() -> None:
    with pytest.raises(ValueError, match="max_keys"):
        MemoryStore(max_keys=0)
