"""The deny cache: a recent DENY with a TTL is answered without further work."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["DEFAULT_CACHE_SIZE", "DenyCache"]

#: Most entries kept; the least recently used go first.
DEFAULT_CACHE_SIZE = 10_000
#: Longest a DENY is cached, whatever TTL it came with.
MAX_TTL = 3600.0


class DenyCache:
    """A bounded, thread-safe TTL cache of DENY reasons, keyed by (rule id, fingerprint).

    Example::

        cache = DenyCache(max_size=1000)
        cache.put(("r1", "ip:1.2.3.4"), '{"type":"RATE_LIMIT"}', ttl=30)
        cache.get(("r1", "ip:1.2.3.4"))   # -> ('{"type":"RATE_LIMIT"}', 29.99...)
    """

    def __init__(
        self, max_size: int = DEFAULT_CACHE_SIZE, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_size < 0:
            raise ValueError("max_size must be >= 0")
        self._max = max_size
        self._clock = clock
        self._data: OrderedDict[tuple[str, str], tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._data)

    def __bool__(self) -> bool:
        return bool(self._data)

    def get(self, key: tuple[str, str]) -> tuple[str, float] | None:
        """The cached reason and remaining TTL, or None."""
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return None
            remaining = entry[0] - self._clock()
            if remaining <= 0:
                del self._data[key]
                return None
            return entry[1], remaining

    def put(self, key: tuple[str, str], reason: str, ttl: float) -> None:
        """Caches a DENY for ``ttl`` seconds (capped at an hour)."""
        if ttl <= 0 or self._max == 0:
            return
        expires = self._clock() + min(ttl, MAX_TTL)
        with self._lock:
            self._data[key] = (expires, reason)
            self._data.move_to_end(key)
            while len(self._data) > self._max:
                self._data.popitem(last=False)

    def clear(self) -> None:
        """Forgets everything."""
        with self._lock:
            self._data.clear()
