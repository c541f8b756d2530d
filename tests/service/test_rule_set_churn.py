"""Thousands of distinct rule sets through a real decide service: every one is
decided (no INTERNAL error when the Wasm instance would have filled up) and
the service's memory stays bounded."""

from __future__ import annotations

from collections import Counter

import pytest

from arcguard._exceptions import TransportError
from arcguard._request import RequestDetails
from arcguard._rules import filter_rule
from arcguard._transport import BreakerSettings, GrpcTransport, GrpcTransportSettings

from ._process import DecideProcess
from .conftest import KEY, TEST_TIMEOUT

pytestmark = pytest.mark.integration

#: Distinct rule sets sent: each compiles to ~40-60 KB inside the Wasm
#: instance, so without eviction its 128 MiB limit is reached after ~2,200-3,400.
RULE_SETS = 5500


def test_thousands_of_distinct_rule_sets_give_no_internal_error_and_bounded_memory(
    decide_process: DecideProcess,
) -> None:
    t = GrpcTransport(
        GrpcTransportSettings(
            key=KEY, timeout=TEST_TIMEOUT, breaker=BreakerSettings(failure_threshold=10**6)
        ),
        decide_process.target,
    )
    errors: Counter[str] = Counter()
    wrong = 0
    rss_at_1000 = 0
    try:
        for i in range(RULE_SETS):
            rules = (filter_rule(deny=[f'http.user_agent matches "(?i)scanner{i}"']),)
            details = RequestDetails(ip="198.51.100.9", headers=[("user-agent", f"SCANNER{i}")])
            try:
                out = t.decide(details, rules)
            except TransportError as exc:
                errors[str(exc)[:120]] += 1
            else:
                wrong += out.results[0].code != 1
            if i == 1000:
                rss_at_1000 = decide_process.rss()
        rss_at_end = decide_process.rss()
    finally:
        t.close()
    assert not errors, errors.most_common(3)
    assert wrong == 0
    # 4,500 more rule sets kept would be ~200 MB inside the Wasm instance alone.
    assert rss_at_end - rss_at_1000 < 64 * 1024 * 1024, (rss_at_1000, rss_at_end)
