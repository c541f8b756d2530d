"""The storage interface of the decide engine.

A store keeps rate-limit states, windowed counters and block flags, keyed by
strings the engine builds (``"<rule_id>:<fingerprint>"``). The arithmetic lives
in :mod:`.ratelimit`; a store only makes each check-and-update atomic.

Two faces with the same methods: :class:`Store` (sync; the SDK's local dev
mode) and :class:`AsyncStore` (the gRPC decide service). ``now`` is the
engine's clock; a store with a clock of its own (Redis uses the server's
``TIME``) may ignore it.

A failing store raises :class:`~arcguard._exceptions.StoreUnavailable`
(defined in the exception module, re-exported here); the engine turns it into
ERROR for that rule.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from .._exceptions import StoreUnavailable
from .ratelimit import LimitSpec, RateLimitOutcome

__all__ = ["AsyncStore", "Store", "StoreUnavailable"]


@runtime_checkable
class Store(Protocol):
    """A synchronous store. Every method is atomic for its key."""

    def hit(self, spec: LimitSpec, key: str, cost: int, now: float) -> RateLimitOutcome:
        """Checks ``cost`` units against the limit ``spec`` of ``key``; consumes them if allowed.

        Raises:
            StoreUnavailable: the store failed.
        """
        ...

    def incr_window(self, key: str, window_s: float, amount: int, now: float) -> int:
        """Adds ``amount`` to a counter that lives ``window_s`` from its first increment.

        Returns the counter's value after the increment.

        Raises:
            StoreUnavailable: the store failed.
        """
        ...

    def block(self, key: str, ttl_s: float, now: float) -> None:
        """Sets (or extends) a block flag on ``key`` for ``ttl_s`` seconds.

        Raises:
            StoreUnavailable: the store failed.
        """
        ...

    def blocked_for(self, key: str, now: float) -> float:
        """Seconds the block on ``key`` still lasts; 0.0 when not blocked.

        Raises:
            StoreUnavailable: the store failed.
        """
        ...

    def ping(self) -> bool:
        """Whether the store is reachable. Never raises."""
        ...

    def close(self) -> None:
        """Releases connections. The store must not be used afterwards."""
        ...


@runtime_checkable
class AsyncStore(Protocol):
    """The asynchronous face of :class:`Store`: the same methods, awaited."""

    async def hit(self, spec: LimitSpec, key: str, cost: int, now: float) -> RateLimitOutcome:
        """See :meth:`Store.hit`."""
        ...

    async def incr_window(self, key: str, window_s: float, amount: int, now: float) -> int:
        """See :meth:`Store.incr_window`."""
        ...

    async def block(self, key: str, ttl_s: float, now: float) -> None:
        """See :meth:`Store.block`."""
        ...

    async def blocked_for(self, key: str, now: float) -> float:
        """See :meth:`Store.blocked_for`."""
        ...

    async def ping(self) -> bool:
        """See :meth:`Store.ping`."""
        ...

    async def close(self) -> None:
        """See :meth:`Store.close`."""
        ...
