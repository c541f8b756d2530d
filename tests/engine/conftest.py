"""Fixtures of the engine tests: stores (memory, and the session redis-server of
tests/conftest.py), a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from arcguard._core import Core, CoreSettings
from arcguard._engine import MemoryStore


class FakeClock:
    """An injected clock: ``clock()`` returns ``t``; ``advance(s)`` moves it."""

    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The same sync Store API on MemoryStore and on a real Redis (client clock)."""
    if request.param == "memory":
        s: Any = MemoryStore()
    else:
        from arcguard._engine import SyncRedisStore

        url = request.getfixturevalue("redis_url")
        s = SyncRedisStore(url, use_client_clock=True, timeout=2.0, connect_timeout=2.0)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock starting at a fixed instant."""
    return FakeClock()


@pytest.fixture(scope="session")
def core() -> Core:
    """A Wasm core without the on-disk precompiled cache."""
    return Core(CoreSettings(cache_dir=None))
