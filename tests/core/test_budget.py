"""A decision that exhausts the core's budget (fuel or wall-clock) keeps every
cheap rule's verdict, and the shield's is its ``on_budget_exhausted`` one."""

from __future__ import annotations

import json

import pytest

from arcguard import ArcGuard, Conclusion, RequestDetails, detect_bot, filter_rule, shield
from arcguard._core import Core, CoreSettings
from arcguard._exceptions import CoreError

SQLMAP = "sqlmap/1.8#stable (https://sqlmap.org)"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0"
SHIELD, BOT, FILTER = 0, 1, 2
ALLOW, DENY = 0, 1


def rules(**shield_options: object) -> str:
    """Shield first, then the cheap rules: the order of the issue's guard."""
    return json.dumps(
        {
            "rules": [
                {"kind": "shield", "mode": "LIVE", **shield_options},
                {"kind": "bot", "mode": "LIVE", "deny": ["CATEGORY:SCANNER"]},
                {
                    "kind": "filter",
                    "mode": "LIVE",
                    "deny": ['http.request.uri.path matches "^/admin"'],
                },
            ]
        }
    )


def padded(path: str = "/admin", ua: str = SQLMAP, filler: str = "a${") -> RequestDetails:
    """As much header padding as gunicorn takes: 90 fields of 8,150 bytes."""
    value = (filler * 8150)[:8150]
    headers = {"user-agent": ua, **{f"x-pad-{i:02d}": value for i in range(90)}}
    return RequestDetails(ip="198.51.100.7", path=path, headers=headers)


def huge_query(filler: str = "a${") -> RequestDetails:
    """256 query values of 64 KiB: 16 MiB the shield inspects in full."""
    value = (filler * 65536)[:65536].replace("&", "").replace("=", "")
    query = "&".join(f"q{i}={value}" for i in range(256))
    return RequestDetails(
        ip="198.51.100.7", path="/admin", query=query, headers={"user-agent": SQLMAP}
    )


def ordinary() -> bytes:
    return RequestDetails(ip="198.51.100.8", path="/", headers={"user-agent": FIREFOX}).encode()


def codes(results: list[tuple[int, str]]) -> list[int]:
    return [code for code, _ in results]


# Fuel enough to decode the padded request and run the cheap rules (a fresh
# instance also builds the bot table), far too little to inspect 733 KB.
SMALL_FUEL = 30_000_000


@pytest.fixture
def small_fuel() -> Core:
    return Core(CoreSettings(fuel=SMALL_FUEL, tiered=False))


def test_exhausted_fuel_in_the_shield_keeps_the_cheap_rules_and_denies(small_fuel: Core) -> None:
    config = small_fuel.compile(rules(header_limit=10_000_000))
    results = small_fuel.evaluate(config, padded().encode())
    assert codes(results) == [DENY, DENY, DENY]
    reason = json.loads(results[SHIELD][1])
    assert reason["category"] == "INSPECTION_BUDGET"
    assert reason["budget"] == "exhausted"
    assert reason["suspicious"] is True
    assert json.loads(results[BOT][1])["bot"] == "SQLMAP"
    assert json.loads(results[FILTER][1])["type"] == "FILTER"
    assert small_fuel.failures == 1  # the stopped instance was replaced


def test_exhausted_budget_allows_when_the_shield_says_so(small_fuel: Core) -> None:
    config = small_fuel.compile(rules(header_limit=10_000_000, on_budget_exhausted="allow"))
    results = small_fuel.evaluate(config, padded(path="/hello", ua=FIREFOX).encode())
    assert codes(results) == [ALLOW, ALLOW, ALLOW]
    reason = json.loads(results[SHIELD][1])
    assert reason == {"type": "SHIELD", "suspicious": False, "budget": "exhausted"}


def test_the_next_request_is_served_normally_after_exhaustion(small_fuel: Core) -> None:
    config = small_fuel.compile(rules(header_limit=10_000_000))
    small_fuel.evaluate(config, padded().encode())
    for _ in range(3):
        assert codes(small_fuel.evaluate(config, ordinary())) == [ALLOW, ALLOW, ALLOW]
    assert small_fuel.failures == 1


def test_the_wall_clock_bound_has_the_same_semantics() -> None:
    # Fuel for minutes of work; a bound of 10 ms (two or three ticks).
    core = Core(CoreSettings(fuel=10**13, time_limit=0.01, tiered=False))
    config = core.compile(rules())
    results = core.evaluate(config, huge_query().encode())
    assert codes(results) == [DENY, DENY, DENY]
    assert json.loads(results[SHIELD][1])["category"] == "INSPECTION_BUDGET"
    assert core.failures == 1
    assert codes(core.evaluate(config, ordinary())) == [ALLOW, ALLOW, ALLOW]


def test_exhaustion_outside_the_shield_is_still_an_error() -> None:
    # No shield: no checkpoint to answer, so the decision cannot be made.
    core = Core(CoreSettings(fuel=3_000_000, tiered=False))
    config = core.compile(
        json.dumps(
            {
                "rules": [
                    {
                        "kind": "filter",
                        "mode": "LIVE",
                        "deny": ['http.request.uri.query matches "a.*b"'],
                    }
                ]
            }
        )
    )
    with pytest.raises(CoreError, match="fuel"):
        core.evaluate(config, huge_query().encode())
    assert core.failures == 1


def test_over_the_header_limit_is_denied_by_default() -> None:
    core = Core(CoreSettings(tiered=False))
    config = core.compile(rules())
    results = core.evaluate(config, padded(path="/hello", ua=FIREFOX).encode())
    assert codes(results) == [DENY, ALLOW, ALLOW]
    reason = json.loads(results[SHIELD][1])
    assert (reason["category"], reason["location"]) == ("HEADER_LIMIT", "headers")
    assert reason["excerpt"].startswith("733")


def test_a_guard_with_a_spent_budget_still_denies_by_its_cheap_rules() -> None:
    # The request through protect(): it used to be ERROR, allowed by fail open.
    guard = ArcGuard(
        rules=[
            shield(mode="LIVE", header_limit=10_000_000),
            detect_bot(mode="LIVE", deny=["CATEGORY:SCANNER"]),
            filter_rule(mode="LIVE", deny=['http.request.uri.path matches "^/admin"']),
        ],
        environ={"ARCGUARD_ENV": "development"},
        core=Core(CoreSettings(fuel=SMALL_FUEL, tiered=False)),
    )
    d = guard.protect(padded())
    assert d.conclusion is Conclusion.DENY
    assert [r.conclusion for r in d.results] == [Conclusion.DENY] * 3
    assert d.results[SHIELD].reason.category == "INSPECTION_BUDGET"  # type: ignore[attr-defined]
    browser = guard.protect(padded(path="/hello", ua=FIREFOX))
    assert browser.is_denied() and not browser.is_error()
    assert guard.protect(RequestDetails(ip="198.51.100.9", path="/")).conclusion is Conclusion.ALLOW
