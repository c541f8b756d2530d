"""The guard: rules compiled once, LIVE vs DRY_RUN, errors as decisions, the deny cache."""

from __future__ import annotations

import pytest

from arcguard import (
    ArcGuard,
    Conclusion,
    ConfigurationError,
    RequestDetails,
    RuleError,
    RuleState,
    detect_bot,
    filter_rule,
    fixed_window,
)
from arcguard._core import Core, CoreSettings

DEV = {"ARCGUARD_ENV": "development"}
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0"


def req(ua: str = FIREFOX, path: str = "/", ip: str = "198.51.100.20") -> RequestDetails:
    return RequestDetails(ip=ip, path=path, headers={"user-agent": ua, "host": "shop.example"})


def test_live_bot_rule_denies_curl() -> None:
    guard = ArcGuard(rules=[detect_bot(mode="LIVE", deny=["CATEGORY:HTTP_LIBRARY"])], environ=DEV)
    d = guard.protect(req("curl/8.4.0"))
    assert d.is_denied() and d.conclusion is Conclusion.DENY
    assert d.reason.type == "BOT"
    assert d.results[0].state is RuleState.RUN
    assert guard.protect(req()).is_allowed()


def test_dry_run_rule_reports_deny_but_allows() -> None:
    guard = ArcGuard(
        rules=[detect_bot(mode="DRY_RUN", deny=["CATEGORY:HTTP_LIBRARY"])], environ=DEV
    )
    d = guard.protect(req("python-requests/2.31.0"))
    assert d.is_allowed() and d.conclusion is Conclusion.ALLOW
    [r] = d.results
    assert (r.state, r.conclusion) == (RuleState.DRY_RUN, Conclusion.DENY)


def test_filter_rule_on_path_and_ip() -> None:
    rule = filter_rule(
        deny=['http.request.uri.path matches "^/admin" and not ip.src in {10.0.0.0/8}']
    )
    guard = ArcGuard(rules=[rule], environ=DEV)
    assert guard.protect(req(path="/admin/users")).is_denied()
    assert guard.protect(req(path="/admin/users", ip="10.1.2.3")).is_allowed()
    assert guard.protect(req(path="/shop")).is_allowed()


def test_bad_filter_expression_raises_at_construction_with_its_position() -> None:
    with pytest.raises(RuleError) as info:
        ArcGuard(
            rules=[
                detect_bot(deny=["CURL"]),
                filter_rule(deny=['http.request.uri.path matchez "x"']),
            ],
            environ=DEV,
        )
    assert info.value.rule_index == 1
    assert info.value.position is not None
    assert "rule 1" in str(info.value)


def test_bad_regex_raises_at_construction() -> None:
    with pytest.raises(RuleError):
        ArcGuard(rules=[filter_rule(deny=['http.host matches "("'])], environ=DEV)


def test_unknown_bot_name_raises_at_construction() -> None:
    with pytest.raises(RuleError, match="NOT_A_BOT"):
        ArcGuard(rules=[detect_bot(deny=["NOT_A_BOT"])], environ=DEV)


def test_not_a_rule_raises() -> None:
    with pytest.raises(ConfigurationError, match=r"rules\[0\]"):
        ArcGuard(rules=["bot"], environ=DEV)  # type: ignore[list-item]


@pytest.mark.parametrize(
    "make",
    [
        lambda: fixed_window(window="abc", max=10),
        lambda: fixed_window(window="1m", max=0),
        lambda: detect_bot(deny=[]),
        lambda: detect_bot(mode="ENFORCE", deny=["CURL"]),
        lambda: filter_rule(allow=["a"], deny=["b"]),
    ],
)
def test_invalid_options_raise_configuration_error(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigurationError):
        make()


def _huge(ip: str = "198.51.100.20") -> RequestDetails:
    # More than the sandbox may hold: the module traps while taking the request.
    return RequestDetails(ip=ip, method="POST", body=b"x" * (6 * 1024 * 1024))


def test_wasm_failure_is_an_error_decision_allowed_when_fail_open() -> None:
    small = Core(CoreSettings(memory_limit=4 * 1024 * 1024, tiered=False))
    guard = ArcGuard(rules=[filter_rule(deny=['http.host == "x"'])], environ=DEV, core=small)
    d = guard.protect(_huge())
    assert d.conclusion is Conclusion.ERROR and d.is_error()
    assert d.is_allowed()
    assert d.reason.type == "ERROR"
    assert d.results[0].conclusion is Conclusion.ERROR
    assert guard.protect(req()).conclusion is Conclusion.ALLOW  # a fresh instance took over


def test_wasm_failure_denies_when_fail_closed() -> None:
    small = Core(CoreSettings(memory_limit=4 * 1024 * 1024, tiered=False))
    guard = ArcGuard(
        rules=[filter_rule(deny=['http.host == "x"'])], environ=DEV, core=small, fail_open=False
    )
    d = guard.protect(_huge())
    assert d.is_error() and d.is_denied()


def test_decision_is_immutable() -> None:
    guard = ArcGuard(rules=[detect_bot(deny=["CATEGORY:HTTP_LIBRARY"])], environ=DEV)
    d = guard.protect(req())
    with pytest.raises(AttributeError):
        d.conclusion = Conclusion.DENY  # type: ignore[misc]
    with pytest.raises(AttributeError):
        d.results[0].conclusion = Conclusion.DENY  # type: ignore[misc]


def test_rate_limit_deny_is_cached_for_its_ttl() -> None:
    guard = ArcGuard(rules=[fixed_window(window="1h", max=2)], environ=DEV)
    states = [guard.protect(req()).results[0].state for _ in range(4)]
    decisions = [guard.protect(req()) for _ in range(2)]
    assert states[:2] == [RuleState.RUN, RuleState.RUN]
    assert states[2] is RuleState.RUN  # the first DENY is computed...
    assert states[3] is RuleState.CACHED  # ...then answered from the cache
    assert all(d.is_denied() for d in decisions)
    assert decisions[-1].ttl > 0
    # another client is not affected
    assert guard.protect(req(ip="198.51.100.99")).is_allowed()


def test_request_details_with_extras_feed_characteristics() -> None:
    guard = ArcGuard(
        rules=[fixed_window(window="1h", max=1, characteristics=["userId"])], environ=DEV
    )
    assert guard.protect(req(), userId="a").is_allowed()
    assert guard.protect(req(), userId="b").is_allowed()
    assert guard.protect(req(ip="203.0.113.1"), userId="a").is_denied()


def test_a_cached_deny_of_a_scoped_rule_applies_only_where_its_match_does() -> None:
    rule = fixed_window(window="1h", max=1, match='http.request.uri.path == "/login"')
    guard = ArcGuard(rules=[rule], environ=DEV)
    assert guard.protect(req(path="/login")).is_allowed()
    assert guard.protect(req(path="/login")).is_denied()
    cached = guard.protect(req(path="/login"))
    assert cached.is_denied() and cached.results[0].state is RuleState.CACHED
    # the same client elsewhere is not refused by the cached /login limit
    elsewhere = guard.protect(req(path="/shop"))
    assert elsewhere.is_allowed()
    assert elsewhere.results[0].state is RuleState.NOT_RUN


def test_requested_must_be_a_positive_integer() -> None:
    guard = ArcGuard(rules=[fixed_window(window="1h", max=5)], environ=DEV)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="requested"):
            guard.protect(req(), requested=bad)  # type: ignore[arg-type]
    assert guard.protect(req(), requested=5).is_allowed()
    assert guard.protect(req(), requested=1).is_denied()
