"""A circuit breaker: pure logic, injected clock and randomness, no I/O.

States::

    CLOSED --(threshold consecutive failures)--> OPEN
    OPEN   --(backoff elapsed, or try_now(); one trial call allowed)--> HALF_OPEN
    HALF_OPEN --(trial succeeds)--> CLOSED
    HALF_OPEN --(trial fails)--> OPEN with the next, longer backoff

The backoff grows exponentially from ``base_backoff`` by ``multiplier`` per
failed trial, up to ``max_backoff`` (2 s: the endpoint is retried every few
seconds at most, however long it was down), and is shortened by a random
fraction of up to ``jitter`` so that many processes do not retry in lock step
(the "exponential backoff with jitter" of gRPC's connection-backoff.md).

:meth:`CircuitBreaker.try_now` is how a health probe that saw the endpoint
answer again ends the wait: the next call is the trial. If such a trial
fails (healthy by its health check, failing its calls), the next
:meth:`~CircuitBreaker.try_now` waits for the backoff, so a probe cannot
turn the breaker into a stream of failing trials.

While open, :meth:`CircuitBreaker.allow` is a clock read and a comparison, so
a caller fails in microseconds instead of waiting for a deadline.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "DEFAULT_BASE_BACKOFF",
    "DEFAULT_FAILURE_THRESHOLD",
    "DEFAULT_JITTER",
    "DEFAULT_MAX_BACKOFF",
    "DEFAULT_MULTIPLIER",
    "BreakerSettings",
    "BreakerState",
    "CircuitBreaker",
]

#: Consecutive failures that open the circuit.
DEFAULT_FAILURE_THRESHOLD = 3
#: Seconds the circuit stays open the first time.
DEFAULT_BASE_BACKOFF = 0.5
#: Growth of the open period per failed trial.
DEFAULT_MULTIPLIER = 2.0
#: Longest open period, seconds (a health probe usually ends it sooner).
DEFAULT_MAX_BACKOFF = 2.0
#: Fraction of the open period that may be cut at random.
DEFAULT_JITTER = 0.2

BreakerState = str
CLOSED: BreakerState = "closed"
OPEN: BreakerState = "open"
HALF_OPEN: BreakerState = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    """Circuit-breaker options.

    Attributes:
        failure_threshold: consecutive failures that open the circuit (>= 1).
        base_backoff: seconds open after the first opening (> 0).
        multiplier: growth of the open period per failed trial (>= 1).
        max_backoff: cap of the open period (>= base_backoff).
        jitter: fraction in [0, 1) of the period that may be cut at random.

    Raises:
        ValueError: on an out-of-range value.
    """

    failure_threshold: int = DEFAULT_FAILURE_THRESHOLD
    base_backoff: float = DEFAULT_BASE_BACKOFF
    multiplier: float = DEFAULT_MULTIPLIER
    max_backoff: float = DEFAULT_MAX_BACKOFF
    jitter: float = DEFAULT_JITTER

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        if self.base_backoff <= 0:
            raise ValueError("base_backoff must be > 0")
        if self.multiplier < 1:
            raise ValueError("multiplier must be >= 1")
        if self.max_backoff < self.base_backoff:
            raise ValueError("max_backoff must be >= base_backoff")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")


class CircuitBreaker:
    """Counts consecutive failures of one endpoint and sheds calls while it is down.

    Thread-safe. Call :meth:`allow` before a call; then exactly one of
    :meth:`record_success` or :meth:`record_failure`.

    Parameters:
        settings: the options.
        clock: monotonic seconds (injected for tests).
        rng: randomness for the jitter.

    Example::

        breaker = CircuitBreaker()
        if not breaker.allow():
            raise Unavailable("circuit open")
        try:
            answer = call()
        except ConnectionError:
            breaker.record_failure()
            raise
        breaker.record_success()
    """

    def __init__(
        self,
        settings: BreakerSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings or BreakerSettings()
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._lock = threading.Lock()
        self._state: BreakerState = CLOSED
        self._failures = 0
        self._openings = 0  # consecutive openings without a success, for the backoff
        self._open_until = 0.0
        self._trial_deadline = 0.0
        self._probe_trial = False  # the trial in flight was let through by try_now()
        self._probe_trial_failed = False  # ... and it failed

    @property
    def state(self) -> BreakerState:
        """``"closed"``, ``"open"`` or ``"half_open"`` (an open circuit whose
        backoff has elapsed reports ``"open"`` until a call is allowed)."""
        return self._state

    @property
    def failures(self) -> int:
        """Consecutive failures counted while closed."""
        return self._failures

    def retry_in(self) -> float:
        """Seconds until an open circuit allows a trial call (0 if not open)."""
        if self._state != OPEN:
            return 0.0
        return max(0.0, self._open_until - self._clock())

    def allow(self) -> bool:
        """Whether a call may go out now.

        Closed: always. Open: no, until the backoff has elapsed; then one trial
        call is allowed (half-open) and others are refused until it reports.
        A trial that never reports is replaced after one more backoff period.
        """
        state = self._state
        if state == CLOSED:
            return True
        now = self._clock()
        with self._lock:
            if self._state == OPEN:
                if now < self._open_until:
                    return False
                self._state = HALF_OPEN
                self._trial_deadline = now + self._backoff(self._openings)
                return True
            if self._state == HALF_OPEN:
                if now >= self._trial_deadline:  # the trial got lost; allow another
                    self._trial_deadline = now + self._backoff(self._openings)
                    return True
                return False
            return True

    def try_now(self) -> bool:
        """The endpoint answers again (a health probe said so): let the next call
        through as the trial instead of waiting for the backoff.

        Returns whether the wait was ended; not when the circuit is not open,
        and not when the last trial let through this way failed and its
        backoff has not elapsed yet.
        """
        now = self._clock()
        with self._lock:
            if not self._may_try(now):
                return False
            self._open_until = now
            self._probe_trial = True
            return True

    def may_try_now(self) -> bool:
        """Whether :meth:`try_now` would end the wait now (a probe checks
        before it does any work)."""
        return self._may_try(self._clock())

    def _may_try(self, now: float) -> bool:
        if self._state != OPEN:
            return False
        return not (self._probe_trial_failed and now < self._open_until)

    def record_success(self) -> None:
        """A call succeeded: close the circuit and reset the counts."""
        if self._state == CLOSED and self._failures == 0:
            return
        with self._lock:
            self._state = CLOSED
            self._failures = 0
            self._openings = 0
            self._probe_trial = self._probe_trial_failed = False

    def record_failure(self) -> bool:
        """A call failed. Returns True if this failure opened the circuit."""
        now = self._clock()
        with self._lock:
            if self._state == HALF_OPEN or self._state == OPEN:
                if self._state == HALF_OPEN:
                    self._probe_trial_failed = self._probe_trial
                    self._probe_trial = False
                self._open(now)
                return True
            self._failures += 1
            if self._failures >= self.settings.failure_threshold:
                self._open(now)
                return True
            return False

    def _open(self, now: float) -> None:
        self._state = OPEN
        self._failures = 0
        self._open_until = now + self._jittered(self._backoff(self._openings))
        self._openings += 1

    def _backoff(self, openings: int) -> float:
        s = self.settings
        return min(s.max_backoff, s.base_backoff * s.multiplier ** min(openings, 64))

    def _jittered(self, period: float) -> float:
        j = self.settings.jitter
        return period * (1.0 - j * self._rng.random()) if j else period

    def __repr__(self) -> str:
        return f"CircuitBreaker(state={self._state}, failures={self._failures})"
