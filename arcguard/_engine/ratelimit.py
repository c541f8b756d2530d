"""Rate-limit arithmetic: pure functions, no storage, no clock.

Each strategy is a function ``(spec, state | None, now, cost) -> (state, outcome)``
over a small immutable state record. The memory store calls these functions
directly; the Redis store runs a line-for-line port of them in Lua
(``lua/*.lua``), with the same floating-point operations in the same order,
so that for the same sequence of ``(now, cost)`` both give identical answers
(the property tests in ``tests/engine/test_properties.py`` hold them to it).

Window indices (``floor(now / window)``) are stored instead of window start
times, so that "is this the same / the previous window" is an exact
comparison of integers, never of rounded products.

Strategies:

* **fixed window**: windows aligned to the Unix epoch; at most ``limit`` units
  per window; ``reset`` is the time until the window ends.
* **sliding window**: the Cloudflare / ``limits`` approximation of a rolling
  window: ``count = previous * (1 - elapsed / window) + current``, i.e. the
  previous window's requests are assumed evenly spread. It never admits more
  than ``limit`` in one aligned window and is exact when traffic is uniform;
  with bursty traffic it may admit slightly more or fewer than a true rolling
  log would. ``reset``: time until one more unit would be admitted when full,
  otherwise the time until the current window ends.
* **token bucket**: ``capacity`` tokens, refilled continuously at
  ``refill / interval`` tokens per second; a request takes ``cost`` tokens.
  ``remaining`` is the whole tokens left; ``reset`` is the time until one more
  whole token is available (0 when the bucket is full).

A denied request never consumes. A request costing more than ``limit`` is
always denied.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from .._rules import FixedWindowRule, RateLimitRule, SlidingWindowRule, TokenBucketRule

__all__ = [
    "STEPS",
    "BucketState",
    "LimitSpec",
    "RateLimitOutcome",
    "SlidingState",
    "State",
    "WindowState",
    "expires_at",
    "fixed_window_hit",
    "hit",
    "sliding_window_hit",
    "spec_for",
    "state_weight",
    "token_bucket_hit",
]

Algorithm = Literal["fixed_window", "sliding_window", "token_bucket"]


@dataclass(frozen=True, slots=True)
class LimitSpec:
    """What a store needs to know about a limit.

    Attributes:
        algorithm: ``"fixed_window"``, ``"sliding_window"`` or ``"token_bucket"``.
        limit: ``max`` of a window, ``capacity`` of a bucket.
        window: the window or the refill interval, in seconds.
        refill: tokens added per ``window`` (token bucket only).
    """

    algorithm: Algorithm
    limit: int
    window: float
    refill: int = 0

    @classmethod
    def fixed_window(cls, *, max: int, window: float) -> LimitSpec:
        """A fixed-window limit of ``max`` per ``window`` seconds."""
        return cls("fixed_window", max, float(window))

    @classmethod
    def sliding_window(cls, *, max: int, interval: float) -> LimitSpec:
        """A sliding-window limit of ``max`` per rolling ``interval`` seconds."""
        return cls("sliding_window", max, float(interval))

    @classmethod
    def token_bucket(cls, *, capacity: int, refill_rate: int, interval: float) -> LimitSpec:
        """A bucket of ``capacity`` tokens refilled by ``refill_rate`` per ``interval``."""
        return cls("token_bucket", capacity, float(interval), refill_rate)


class RateLimitOutcome(NamedTuple):
    """The answer of one check (a NamedTuple: it is built on every request).

    Attributes:
        allowed: whether the units were granted (and consumed).
        limit: the rule's ``max`` or ``capacity``.
        remaining: whole units left after this request.
        reset: seconds until the limit resets (see the module docstring).
        window: the window or interval in seconds.
    """

    allowed: bool
    limit: int
    remaining: int
    reset: float
    window: float


class WindowState(NamedTuple):
    """Fixed window: the window's index (``floor(now / window)``) and the units it admitted."""

    window_index: float
    hits: int


class SlidingState(NamedTuple):
    """Sliding window: the current window's index and the previous and current counts."""

    window_index: float
    prev: int
    cur: int


class BucketState(NamedTuple):
    """Token bucket: tokens held (fractional) at time ``last``."""

    tokens: float
    last: float


State = WindowState | SlidingState | BucketState

# NamedTuple's generated __new__ is Python code; building the records with
# tuple.__new__ halves their cost on the hot path (same objects).
_new = tuple.__new__
_floor = math.floor


def spec_for(rule: RateLimitRule) -> LimitSpec:
    """The store spec of a rate-limit rule.

    Raises:
        TypeError: if the rule is not one of the three rate-limit kinds.
    """
    if isinstance(rule, FixedWindowRule):
        return LimitSpec.fixed_window(max=rule.max, window=rule.window)
    if isinstance(rule, SlidingWindowRule):
        return LimitSpec.sliding_window(max=rule.max, interval=rule.interval)
    if isinstance(rule, TokenBucketRule):
        return LimitSpec.token_bucket(
            capacity=rule.capacity, refill_rate=rule.refill_rate, interval=rule.interval
        )
    raise TypeError(f"not a rate-limit rule: {type(rule).__name__}")


def fixed_window_hit(
    spec: LimitSpec, state: WindowState | None, now: float, cost: int
) -> tuple[WindowState, RateLimitOutcome]:
    """One fixed-window check. See the module docstring."""
    new, outcome, _, _ = _fixed_window(spec, state, now, cost)
    return new, outcome


def _fixed_window(
    spec: LimitSpec, state: WindowState | None, now: float, cost: int
) -> tuple[WindowState, RateLimitOutcome, float, int]:
    # The check, and the new state's expiry and weight (expires_at, state_weight).
    w, limit = spec.window, spec.limit
    index = float(_floor(now / w))
    count = state.hits if state is not None and state.window_index == index else 0
    allowed = count + cost <= limit
    if allowed:
        count += cost
    end = (index + 1) * w
    reset = end - now
    if reset < 0.0:
        reset = 0.0
    return (
        _new(WindowState, (index, count)),
        _new(RateLimitOutcome, (allowed, limit, limit - count, reset, w)),
        end,
        count,
    )


def sliding_window_hit(
    spec: LimitSpec, state: SlidingState | None, now: float, cost: int
) -> tuple[SlidingState, RateLimitOutcome]:
    """One sliding-window check. See the module docstring."""
    new, outcome, _, _ = _sliding_window(spec, state, now, cost)
    return new, outcome


def _sliding_window(
    spec: LimitSpec, state: SlidingState | None, now: float, cost: int
) -> tuple[SlidingState, RateLimitOutcome, float, int]:
    # The check, and the new state's expiry and weight (expires_at, state_weight).
    w, limit = spec.window, spec.limit
    index = float(math.floor(now / w))
    prev = cur = 0
    if state is not None:
        if state.window_index == index:
            prev, cur = state.prev, state.cur
        elif state.window_index == index - 1:
            prev = state.cur
    start = index * w
    weight = 1.0 - (now - start) / w
    allowed = prev * weight + cur + cost <= limit
    if allowed:
        cur += cost
    estimate = prev * weight + cur
    remaining = math.floor(limit - estimate)
    if remaining < 0:
        remaining = 0
    if estimate + 1 <= limit:
        reset = start + w - now
    elif cur + 1 <= limit and prev > 0:
        # The previous window's share must decay until one more unit fits.
        reset = start + w * (1.0 - (limit - 1 - cur) / prev) - now
    else:
        # Only the next window has room: its "previous" is this window's count.
        reset = start + w + w * (1.0 - (limit - 1) / cur) - now
    if reset < 0.0:
        reset = 0.0
    return (
        _new(SlidingState, (index, prev, cur)),
        _new(RateLimitOutcome, (allowed, limit, int(remaining), reset, w)),
        (index + 2) * w,
        prev + cur,
    )


def token_bucket_hit(
    spec: LimitSpec, state: BucketState | None, now: float, cost: int
) -> tuple[BucketState, RateLimitOutcome]:
    """One token-bucket check. See the module docstring."""
    new, outcome, _, _ = _token_bucket(spec, state, now, cost)
    return new, outcome


def _token_bucket(
    spec: LimitSpec, state: BucketState | None, now: float, cost: int
) -> tuple[BucketState, RateLimitOutcome, float, int]:
    # The check, and the new state's expiry and weight (expires_at, state_weight).
    cap, interval, refill = spec.limit, spec.window, spec.refill
    if state is None:
        tokens, last = float(cap), now
    else:
        elapsed = now - state.last
        if elapsed < 0.0:  # the clock went back: no refill, keep the later time
            elapsed = 0.0
        tokens = state.tokens + elapsed * refill / interval
        if tokens > cap:
            tokens = float(cap)
        last = now if now > state.last else state.last
    allowed = tokens >= cost
    if allowed:
        tokens -= cost
    whole = math.floor(tokens)
    reset = 0.0 if tokens >= cap else (whole + 1 - tokens) * interval / refill
    return (
        _new(BucketState, (tokens, last)),
        _new(RateLimitOutcome, (allowed, cap, int(whole), reset, interval)),
        last + (cap - tokens) * interval / refill,
        0,
    )


#: Per algorithm, the check returning also the new state's expiry and weight
#: (what :func:`expires_at` and :func:`state_weight` say of it): the memory
#: store makes one call per check instead of three.
STEPS: dict[str, Callable[..., tuple[Any, RateLimitOutcome, float, int]]] = {
    "fixed_window": _fixed_window,
    "sliding_window": _sliding_window,
    "token_bucket": _token_bucket,
}

_HIT: dict[str, Callable[..., tuple[State, RateLimitOutcome]]] = {
    "fixed_window": fixed_window_hit,
    "sliding_window": sliding_window_hit,
    "token_bucket": token_bucket_hit,
}


def hit(
    spec: LimitSpec, state: State | None, now: float, cost: int
) -> tuple[State, RateLimitOutcome]:
    """One check of any strategy: dispatches on ``spec.algorithm``."""
    return _HIT[spec.algorithm](spec, state, now, cost)


def expires_at(spec: LimitSpec, state: State) -> float:
    """When ``state`` becomes indistinguishable from no state at all.

    Forgetting a state at or after this time never changes an answer, which is
    what the stores' expiry (memory eviction, Redis ``PEXPIRE``) relies on.
    """
    if isinstance(state, BucketState):
        return state.last + (spec.limit - state.tokens) * spec.window / spec.refill
    if isinstance(state, SlidingState):
        return (state.window_index + 2) * spec.window
    return (state.window_index + 1) * spec.window


def state_weight(state: State) -> int:
    """Units recorded in a window state (0 for a bucket, whose expiry says it all).

    Among states expiring together, the memory store forgets the lightest first.
    """
    if isinstance(state, SlidingState):
        return state.prev + state.cur
    if isinstance(state, WindowState):
        return state.hits
    return 0
