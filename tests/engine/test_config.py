"""Absurd rate-limit configuration is refused when the rule is built (arcguard._rules)."""

from __future__ import annotations

import pytest

from arcguard._engine import LimitSpec, spec_for
from arcguard._exceptions import ConfigurationError
from arcguard._rules import fixed_window, shield, sliding_window, token_bucket


def test_max_zero_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"fixed_window: max: 0 must be between 1"):
        fixed_window(window=60, max=0)
    with pytest.raises(ConfigurationError, match=r"sliding_window: max: -1 must be between 1"):
        sliding_window(interval=60, max=-1)


def test_a_window_that_is_not_a_duration_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"fixed_window: window: 'abc' is not a duration"):
        fixed_window(window="abc", max=10)
    with pytest.raises(ConfigurationError, match=r"must be > 0"):
        token_bucket(refill_rate=1, interval=0, capacity=1)


def test_capacity_below_refill_rate_is_refused() -> None:
    with pytest.raises(
        ConfigurationError, match=r"capacity \(5\) must be at least refill_rate \(10\)"
    ):
        token_bucket(refill_rate=10, interval="1s", capacity=5)


def test_spec_for_rules() -> None:
    assert spec_for(fixed_window(window="1m", max=5)) == LimitSpec("fixed_window", 5, 60.0)
    assert spec_for(sliding_window(interval="2s", max=3)) == LimitSpec("sliding_window", 3, 2.0)
    assert spec_for(token_bucket(refill_rate=2, interval="1s", capacity=9)) == LimitSpec(
        "token_bucket", 9, 1.0, 2
    )
    with pytest.raises(TypeError):
        spec_for(shield())  # type: ignore[arg-type]
