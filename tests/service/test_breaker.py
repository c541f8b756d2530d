"""The circuit breaker: pure logic driven by a fake clock."""

from __future__ import annotations

import random

import pytest

from arcguard._transport import BreakerSettings, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def make(**kw: float) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    settings = BreakerSettings(**{"jitter": 0.0, **kw})  # type: ignore[arg-type]
    return CircuitBreaker(settings, clock=clock, rng=random.Random(1)), clock  # noqa: S311


def test_stays_closed_below_the_threshold() -> None:
    b, _ = make()
    assert b.record_failure() is False
    assert b.record_failure() is False
    assert b.allow() and b.state == "closed"


def test_opens_after_three_consecutive_failures_and_refuses_calls() -> None:
    b, _ = make()
    for _ in range(2):
        b.record_failure()
    assert b.record_failure() is True
    assert b.state == "open"
    assert b.allow() is False
    assert 0 < b.retry_in() <= 0.5


def test_a_success_resets_the_consecutive_count() -> None:
    b, _ = make()
    b.record_failure()
    b.record_failure()
    b.record_success()
    b.record_failure()
    b.record_failure()
    assert b.state == "closed"


def test_half_open_allows_one_trial_after_the_backoff() -> None:
    b, clock = make(base_backoff=1.0)
    for _ in range(3):
        b.record_failure()
    clock.t += 0.99
    assert not b.allow()
    clock.t += 0.02
    assert b.allow() is True
    assert b.state == "half_open"
    assert b.allow() is False  # only one trial at a time


def test_successful_trial_closes_the_circuit() -> None:
    b, clock = make(base_backoff=1.0)
    for _ in range(3):
        b.record_failure()
    clock.t += 1.0
    assert b.allow()
    b.record_success()
    assert b.state == "closed" and b.allow()


def test_failed_trial_reopens_with_exponential_backoff_up_to_the_cap() -> None:
    b, clock = make(base_backoff=1.0, multiplier=2.0, max_backoff=5.0)
    for _ in range(3):
        b.record_failure()
    periods = []
    for _ in range(5):
        periods.append(round(b.retry_in(), 6))
        clock.t += b.retry_in()
        assert b.allow()
        b.record_failure()
    assert periods == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_jitter_only_shortens_the_period_within_its_fraction() -> None:
    clock = Clock()
    b = CircuitBreaker(
        BreakerSettings(base_backoff=10.0, max_backoff=10.0, jitter=0.2),
        clock=clock,
        rng=random.Random(7),  # noqa: S311
    )
    for _ in range(3):
        b.record_failure()
    assert 8.0 <= b.retry_in() <= 10.0


def test_a_lost_trial_is_replaced_after_another_backoff() -> None:
    b, clock = make(base_backoff=1.0)
    for _ in range(3):
        b.record_failure()
    clock.t += 1.0
    assert b.allow()  # trial goes out and never reports
    clock.t += 0.5
    assert not b.allow()
    clock.t += 2.0
    assert b.allow()


@pytest.mark.parametrize(
    "kw",
    [
        {"failure_threshold": 0},
        {"base_backoff": 0},
        {"multiplier": 0.5},
        {"max_backoff": 0.1, "base_backoff": 1.0},
        {"jitter": 1.0},
    ],
)
def test_bad_settings_raise_value_error(kw: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        BreakerSettings(**kw)  # type: ignore[arg-type]


def test_the_default_backoff_is_capped_at_a_few_seconds() -> None:
    b, clock = make()  # the default settings, without jitter
    for _ in range(3):
        b.record_failure()
    waits = []
    for _ in range(12):  # the endpoint stays down: every trial fails
        waits.append(b.retry_in())
        clock.t += b.retry_in()
        assert b.allow()
        b.record_failure()
    assert waits[:3] == [0.5, 1.0, 2.0]
    assert max(waits) <= 2.0


def test_try_now_lets_the_next_call_through_as_the_trial() -> None:
    b, clock = make(base_backoff=10.0, max_backoff=10.0)
    for _ in range(3):
        b.record_failure()
    assert not b.allow()
    assert b.try_now() is True
    assert b.allow() is True  # the trial
    assert b.allow() is False  # one at a time
    b.record_success()
    assert b.state == "closed"
    assert b.try_now() is False  # nothing to end when closed


def test_after_a_failed_probe_trial_try_now_waits_for_the_backoff() -> None:
    b, clock = make(base_backoff=1.0, max_backoff=2.0)
    for _ in range(3):
        b.record_failure()
    assert b.try_now() and b.allow()
    b.record_failure()  # healthy by its health check, yet the call failed
    assert b.try_now() is False
    assert b.allow() is False
    clock.t += b.retry_in()
    assert b.try_now() is True
    assert b.allow() is True
