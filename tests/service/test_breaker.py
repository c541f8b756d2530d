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
        BreakerSettings(base_backoff=10.0, jitter=0.2),
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
