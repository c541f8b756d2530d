"""The decide engine and its state (private).

The same engine runs in the gRPC decide service (async, memory or Redis
store) and embedded in the SDK's local dev mode (sync, memory store). See
docs/ratelimit.md. ``RedisStore`` / ``SyncRedisStore`` / ``RedisSettings``
are imported lazily, so that redis-py stays an optional dependency.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .engine import (
    CODE_ALLOW,
    CODE_DENY,
    CODE_ERROR,
    CODE_NEEDS_REMOTE,
    CODE_NOT_RUN,
    DEFAULT_MAX_RULESETS,
    DirectRules,
    Engine,
    EngineDecision,
    Note,
    RuleOutcome,
    rate_reason,
)
from .memory import DEFAULT_MAX_KEYS, AsyncMemoryStore, MemoryStore
from .ratelimit import LimitSpec, RateLimitOutcome, spec_for
from .store import AsyncStore, Store, StoreUnavailable

if TYPE_CHECKING:
    from .redis import RedisSettings, RedisStore, SyncRedisStore

__all__ = [
    "CODE_ALLOW",
    "CODE_DENY",
    "CODE_ERROR",
    "CODE_NEEDS_REMOTE",
    "CODE_NOT_RUN",
    "DEFAULT_MAX_KEYS",
    "DEFAULT_MAX_RULESETS",
    "AsyncMemoryStore",
    "AsyncStore",
    "DirectRules",
    "Engine",
    "EngineDecision",
    "LimitSpec",
    "MemoryStore",
    "Note",
    "RateLimitOutcome",
    "RedisSettings",
    "RedisStore",
    "RuleOutcome",
    "Store",
    "StoreUnavailable",
    "SyncRedisStore",
    "rate_reason",
    "spec_for",
]

_LAZY = ("RedisSettings", "RedisStore", "SyncRedisStore")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import redis as _redis

        return getattr(_redis, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
