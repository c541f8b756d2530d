"""The deny cache: bounded, TTL'd, keyed per rule and fingerprint."""

from __future__ import annotations

from arcguard._cache import MAX_TTL, DenyCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_entry_lives_for_its_ttl() -> None:
    clock = Clock()
    cache = DenyCache(10, clock=clock)
    cache.put(("r", "ip:1.2.3.4"), "why", ttl=30)
    assert cache.get(("r", "ip:1.2.3.4")) == ("why", 30)
    clock.now += 29.5
    assert cache.get(("r", "ip:1.2.3.4")) == ("why", 0.5)
    clock.now += 1
    assert cache.get(("r", "ip:1.2.3.4")) is None
    assert len(cache) == 0


def test_keys_are_per_rule_and_fingerprint() -> None:
    cache = DenyCache(10, clock=Clock())
    cache.put(("r1", "ip:1.2.3.4"), "a", ttl=10)
    assert cache.get(("r2", "ip:1.2.3.4")) is None
    assert cache.get(("r1", "ip:1.2.3.5")) is None


def test_size_is_capped_least_recently_written_first() -> None:
    cache = DenyCache(3, clock=Clock())
    for i in range(5):
        cache.put(("r", str(i)), str(i), ttl=10)
    assert len(cache) == 3
    assert cache.get(("r", "0")) is None and cache.get(("r", "1")) is None
    assert cache.get(("r", "4")) == ("4", 10)


def test_ttl_is_capped_and_zero_ttl_is_not_cached() -> None:
    clock = Clock()
    cache = DenyCache(10, clock=clock)
    cache.put(("r", "a"), "x", ttl=10 * MAX_TTL)
    assert cache.get(("r", "a")) == ("x", MAX_TTL)
    cache.put(("r", "b"), "x", ttl=0)
    assert cache.get(("r", "b")) is None


def test_a_zero_size_cache_caches_nothing() -> None:
    cache = DenyCache(0, clock=Clock())
    cache.put(("r", "a"), "x", ttl=10)
    assert not cache
