"""MemoryStore: the in-process store (local dev mode, single-replica service).

One lock guards one dict; each method runs the pure arithmetic of
:mod:`.ratelimit` under it, so every check-and-update is atomic across
threads. Nothing here blocks for long, so the async face (:attr:`MemoryStore.aio`)
simply calls the sync methods.

Bounded memory
--------------
At most ``max_keys`` keys are held. A heap orders keys by *(expiry, weight)*:
``expiry`` is when the key's state becomes indistinguishable from no state
(:func:`.ratelimit.expires_at`) and ``weight`` the units it records. When a new
key arrives and the store is full, the smallest key is forgotten:

1. keys that have expired go first; forgetting them never changes an answer;
2. then the key that expires soonest, and among keys expiring together (all
   the keys of one fixed window do) the one recording the fewest units.

So a client cannot flush its own hot counter by creating fresh keys: a fresh
key records 1 unit and a drained bucket expires later than a barely used one,
so the hot key is forgotten only after every lighter key; to outweigh a
counter at ``max`` an attacker must spend ``max`` requests on each junk key,
i.e. far more than the limit it hopes to escape. Keys are only forgotten when
the store is full (no background sweeper); see docs/ratelimit.md.

The heap holds exactly one entry per key, with the priority the key had when
the entry was pushed. Priorities only grow between pushes (a hit adds units or
moves expiry later), so an entry may understate its key: when popped, a stale
entry is pushed back with its key's current priority instead of evicting it
(lazy decrease-key, amortised by the hits that made it stale).
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
from typing import Any

from .ratelimit import STEPS, LimitSpec, RateLimitOutcome

__all__ = ["DEFAULT_MAX_KEYS", "AsyncMemoryStore", "MemoryStore"]

#: Keys a MemoryStore holds at most (a key costs roughly 300 bytes).
DEFAULT_MAX_KEYS = 100_000

_BLOCK_WEIGHT = 1 << 62  # a block flag outweighs any counter expiring with it

# record layout: [state, expiry, weight, tag]; tag is the LimitSpec, the
# counter's window, or "block", so a key reused with another meaning starts fresh.
_STATE, _EXPIRY, _WEIGHT, _TAG = 0, 1, 2, 3


class MemoryStore:
    """An in-memory :class:`~.store.Store`, thread-safe and bounded.

    Example::

        store = MemoryStore(max_keys=10_000)
        spec = LimitSpec.fixed_window(max=100, window=60.0)
        store.hit(spec, "rule:ip:1.2.3.4", 1, time.time()).allowed

    Parameters:
        max_keys: keys held at most; see the module docstring for what is
            forgotten when full.

    Raises:
        ValueError: if ``max_keys`` < 1.
    """

    #: Never blocks for long: the engine may call it from an event loop.
    nonblocking = True

    def __init__(self, *, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        if isinstance(max_keys, bool) or not isinstance(max_keys, int) or max_keys < 1:
            raise ValueError(f"max_keys must be a positive integer, got {max_keys!r}")
        self.max_keys = max_keys
        self._lock = threading.Lock()
        self._data: dict[Any, list[Any]] = {}
        self._heap: list[tuple[float, int, int, Any]] = []
        self._seq = itertools.count()
        self.evictions = 0
        #: Block flags held (expired ones included until forgotten). While it
        #: is 0, :meth:`blocked_for` answers 0.0 for every key, so a caller may
        #: skip asking (read without the lock: a block set concurrently with
        #: the read is as if set just after it).
        self.blocks = 0
        self.aio = AsyncMemoryStore(self)

    def __len__(self) -> int:
        return len(self._data)

    # -- Store ------------------------------------------------------------------

    def hit(self, spec: LimitSpec, key: str, cost: int, now: float) -> RateLimitOutcome:
        """See :meth:`.store.Store.hit`."""
        # One call: the check with the new state's expiry and weight.
        step = STEPS[spec.algorithm]
        with self._lock:
            rec = self._data.get(key)
            if rec is not None and (rec[_TAG] is spec or rec[_TAG] == spec):
                rec[_STATE], outcome, rec[_EXPIRY], rec[_WEIGHT] = step(
                    spec, rec[_STATE], now, cost
                )
                rec[_TAG] = spec
            else:
                state, outcome, expiry, weight = step(spec, None, now, cost)
                self._put(key, [state, expiry, weight, spec], rec)
            return outcome

    def incr_window(self, key: str, window_s: float, amount: int, now: float) -> int:
        """See :meth:`.store.Store.incr_window`."""
        k = ("w", key)
        with self._lock:
            rec = self._data.get(k)
            if rec is not None and rec[_TAG] == window_s and now < rec[_EXPIRY]:
                count = rec[_STATE][1] + amount
                rec[_STATE] = (rec[_STATE][0], count)
                rec[_WEIGHT] = count
            else:
                count = amount
                self._put(k, [(now, count), now + window_s, count, window_s], rec)
            return int(count)

    def block(self, key: str, ttl_s: float, now: float) -> None:
        """See :meth:`.store.Store.block`."""
        k = ("b", key)
        until = now + ttl_s
        with self._lock:
            rec = self._data.get(k)
            if rec is not None:
                if until > rec[_EXPIRY]:
                    rec[_STATE] = rec[_EXPIRY] = until
            else:
                self._put(k, [until, until, _BLOCK_WEIGHT, "block"], None)
                self.blocks += 1

    def blocked_for(self, key: str, now: float) -> float:
        """See :meth:`.store.Store.blocked_for`."""
        with self._lock:
            rec = self._data.get(("b", key))
        if rec is None:
            return 0.0
        left: float = rec[_STATE] - now
        return left if left > 0.0 else 0.0

    def ping(self) -> bool:
        """Always True."""
        return True

    def close(self) -> None:
        """Forgets every key."""
        with self._lock:
            self._data.clear()
            self._heap.clear()
            self.blocks = 0

    # -- bounds -------------------------------------------------------------------

    def _put(self, key: Any, rec: list[Any], old: list[Any] | None) -> None:
        # Called with the lock held. ``old``: a record of another meaning under
        # the same key, replaced in place (its heap entry stays and is refreshed
        # lazily: priorities of a replaced record may drop, which only makes it
        # look heavier than it is until popped).
        if old is not None:
            old[:] = rec
            return
        if len(self._data) >= self.max_keys:
            self._evict_one()
        self._data[key] = rec
        heapq.heappush(self._heap, (rec[_EXPIRY], rec[_WEIGHT], next(self._seq), key))

    def _evict_one(self) -> None:
        heap, data = self._heap, self._data
        while heap:
            expiry, weight, seq, key = heapq.heappop(heap)
            rec = data.get(key)
            if rec is None:
                continue
            if (rec[_EXPIRY], rec[_WEIGHT]) > (expiry, weight):
                heapq.heappush(heap, (rec[_EXPIRY], rec[_WEIGHT], seq, key))
                continue
            del data[key]
            self.evictions += 1
            if rec[_TAG] == "block":
                self.blocks -= 1
            return

    def _priority_of(self, key: Any) -> tuple[float, int]:
        """The (expiry, weight) eviction priority of a key (for tests)."""
        rec = self._data.get(key)
        return (math.inf, 0) if rec is None else (rec[_EXPIRY], rec[_WEIGHT])


class AsyncMemoryStore:
    """The :class:`~.store.AsyncStore` face of a :class:`MemoryStore` (same state)."""

    def __init__(self, store: MemoryStore) -> None:
        self.sync = store

    async def hit(self, spec: LimitSpec, key: str, cost: int, now: float) -> RateLimitOutcome:
        """See :meth:`.store.Store.hit`."""
        return self.sync.hit(spec, key, cost, now)

    async def incr_window(self, key: str, window_s: float, amount: int, now: float) -> int:
        """See :meth:`.store.Store.incr_window`."""
        return self.sync.incr_window(key, window_s, amount, now)

    async def block(self, key: str, ttl_s: float, now: float) -> None:
        """See :meth:`.store.Store.block`."""
        self.sync.block(key, ttl_s, now)

    async def blocked_for(self, key: str, now: float) -> float:
        """See :meth:`.store.Store.blocked_for`."""
        return self.sync.blocked_for(key, now)

    async def ping(self) -> bool:
        """Always True."""
        return True

    async def close(self) -> None:
        """See :meth:`MemoryStore.close`."""
        self.sync.close()
