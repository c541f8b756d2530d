"""The shield's options and escalation, through ``guard.protect()`` and the ASGI middleware."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest

from arcguard import (
    ArcGuard,
    ArcGuardMiddleware,
    Conclusion,
    ConfigurationError,
    Decision,
    RequestDetails,
    RuleState,
    ShieldReason,
    shield,
)
from arcguard._engine import Engine, MemoryStore
from arcguard._transport import InProcessTransport

DEV = {"ARCGUARD_ENV": "development"}
SQLI = "' OR 1=1--"
XSS = "<script>alert(1)</script>"


def guard_with(**options: Any) -> ArcGuard:
    return ArcGuard(rules=[shield(mode="LIVE", **options)], environ=DEV)


def get(
    query: str = "",
    path: str = "/search",
    ip: str = "198.51.100.9",
    headers: list[tuple[str, str]] | None = None,
) -> RequestDetails:
    return RequestDetails(
        ip=ip,
        method="GET",
        host="app.example",
        path=path,
        query=query,
        headers=[("host", "app.example"), *(headers or [])],
    )


def q(value: str, name: str = "q") -> str:
    return f"{name}={quote(value, safe='')}"


def post_json(
    doc: object,
    ip: str = "198.51.100.9",
    content_type: str = "application/json",
    body: bytes | None = None,
) -> RequestDetails:
    data = json.dumps(doc).encode() if body is None else body
    return RequestDetails(
        ip=ip,
        method="POST",
        host="app.example",
        path="/api/comments",
        headers=[
            ("host", "app.example"),
            ("content-type", content_type),
            ("content-length", str(len(data))),
        ],
        body=data,
    )


def shield_reason(d: Decision) -> ShieldReason:
    reason = d.results[0].reason
    assert isinstance(reason, ShieldReason), reason
    return reason


def raw_reason(d: Decision) -> dict[str, Any]:
    # The shield's reason with its notes ("body": "prefix_inspected",
    # "excluded": true) and findings count, as plain data.
    doc: dict[str, Any] = d.results[0].reason.to_dict()
    return doc


# -- LIVE and DRY_RUN ------------------------------------------------------------


def test_live_shield_denies_and_names_category_location_and_excerpt() -> None:
    d = guard_with().protect(get(q(SQLI)))
    assert d.conclusion is Conclusion.DENY
    r = shield_reason(d)
    assert (r.suspicious, r.category, r.location, r.excerpt) == (
        True,
        "SQL_INJECTION",
        "query:q",
        SQLI,
    )
    assert d.reason == r


def test_dry_run_shield_reports_an_attack_but_never_denies() -> None:
    guard = ArcGuard(rules=[shield(mode="DRY_RUN", threshold=2)], environ=DEV)
    for _ in range(5):  # past the threshold: a DRY_RUN rule never blocks either
        d = guard.protect(get(q(SQLI)))
        assert d.conclusion is Conclusion.ALLOW and d.is_allowed()
        [result] = d.results
        assert (result.state, result.conclusion) == (RuleState.DRY_RUN, Conclusion.DENY)
        assert shield_reason(d).category == "SQL_INJECTION"
    assert guard.protect(get(q("shoes"))).conclusion is Conclusion.ALLOW


def test_clean_request_is_allowed_with_an_unsuspicious_reason() -> None:
    d = guard_with().protect(get(q("red shoes size 42") + "&page=2"))
    assert d.conclusion is Conclusion.ALLOW
    r = shield_reason(d)
    assert (r.suspicious, r.category, r.location, r.escalated) == (False, None, None, False)


# -- categories and disable --------------------------------------------------------


def test_categories_report_only_the_listed_ones() -> None:
    guard = guard_with(categories=["xss"])  # case-insensitive
    assert guard.protect(get(q(SQLI))).conclusion is Conclusion.ALLOW
    d = guard.protect(get(q(XSS)))
    assert d.conclusion is Conclusion.DENY and shield_reason(d).category == "XSS"


def test_disable_reports_every_category_but_the_listed_ones() -> None:
    guard = guard_with(disable=["SQL_INJECTION"])
    assert guard.protect(get(q(SQLI))).conclusion is Conclusion.ALLOW
    assert guard.protect(get(q(XSS))).conclusion is Conclusion.DENY
    assert guard.protect(get(q("../../etc/passwd"))).conclusion is Conclusion.DENY


def test_a_disabled_category_does_not_hide_another_finding_in_the_same_request() -> None:
    d = guard_with(disable=["SQL_INJECTION"]).protect(get(q(SQLI) + "&" + q(XSS, "b")))
    assert d.conclusion is Conclusion.DENY
    assert (shield_reason(d).category, shield_reason(d).location) == ("XSS", "query:b")


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"categories": ["SQLI"]}, "categories"),
        ({"disable": ["NOPE"]}, "NOPE"),
        ({"sensitivity": 5}, "sensitivity"),
        ({"sensitivity": True}, "sensitivity"),
        ({"on_body_limit": "truncate"}, "on_body_limit"),
        ({"on_header_limit": "truncate"}, "on_header_limit"),
        ({"header_limit": -1}, "header_limit"),
        ({"on_budget_exhausted": "error"}, "on_budget_exhausted"),
        ({"exclude_paths": ["admin"]}, "exclude_paths"),
        ({"exclude_fields": ["querystring"]}, "exclude_fields"),
    ],
)
def test_bad_options_raise_at_construction_naming_the_option(
    options: dict[str, Any], named: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        ArcGuard(rules=[shield(mode="LIVE", **options)], environ=DEV)
    assert named.lower() in str(info.value).lower() or "unknown category" in str(info.value)


# -- exclusions ------------------------------------------------------------------------


def test_excluded_path_prefix_is_not_scanned_and_says_so() -> None:
    guard = guard_with(exclude_paths=["/admin/cms"])
    d = guard.protect(get(q(SQLI), path="/admin/cms/pages/7"))
    assert d.conclusion is Conclusion.ALLOW
    assert raw_reason(d).get("excluded") is True
    assert guard.protect(get(q(SQLI), path="/admin/other")).conclusion is Conclusion.DENY


def test_excluded_path_prefix_never_covers_a_path_that_traverses_out_of_it() -> None:
    guard = guard_with(exclude_paths=["/admin/cms"])
    d = guard.protect(get(path="/admin/cms/../../etc/passwd"))
    assert d.conclusion is Conclusion.DENY
    assert shield_reason(d).category == "PATH_TRAVERSAL"


@pytest.mark.parametrize(
    ("field", "excluded", "still_scanned"),
    [
        ("query:token", get(q(SQLI, "token")), get(q(SQLI, "other"))),
        (
            "header:x-signature",
            get(headers=[("x-signature", "${jndi:ldap://e.example/a}")]),
            get(headers=[("x-other", "${jndi:ldap://e.example/a}")]),
        ),
        (
            "cookie:session",
            get(headers=[("cookie", "session=" + quote(SQLI))]),
            get(headers=[("cookie", "theme=" + quote(SQLI))]),
        ),
        ("body:$.html", post_json({"html": {"blocks": [XSS]}}), post_json({"text": XSS})),
        ("body:*", post_json({"text": XSS}), get(q(XSS))),
        ("path", get(path="/files/..%2f..%2fetc%2fpasswd"), get(q("../../etc/passwd"))),
    ],
    ids=["query", "header", "cookie", "json-subtree", "whole-body", "path"],
)
def test_excluded_field_is_not_scanned_but_others_are(
    field: str, excluded: RequestDetails, still_scanned: RequestDetails
) -> None:
    guard = guard_with(exclude_fields=[field])
    assert guard.protect(excluded).conclusion is Conclusion.ALLOW
    assert guard.protect(still_scanned).conclusion is Conclusion.DENY
    assert guard_with().protect(excluded).conclusion is Conclusion.DENY


def test_excluded_form_field_is_not_scanned() -> None:
    body = f"html={quote(XSS)}&name=ann".encode()
    details = post_json(None, body=body, content_type="application/x-www-form-urlencoded")
    assert guard_with(exclude_fields=["body:html"]).protect(details).conclusion is Conclusion.ALLOW
    d = guard_with().protect(details)
    assert (d.conclusion, shield_reason(d).location) == (Conclusion.DENY, "body:html")


def test_exclude_headers_adds_to_the_headers_never_scanned() -> None:
    token = [("x-amz-security-token", "a' OR 'a'='a")]
    assert (
        guard_with(exclude_headers=["X-Amz-Security-Token"]).protect(get(headers=token)).conclusion
        is Conclusion.ALLOW
    )
    d = guard_with().protect(get(headers=token))
    assert (d.conclusion, shield_reason(d).location) == (
        Conclusion.DENY,
        "header:x-amz-security-token",
    )


def test_authorization_header_is_not_scanned_by_default() -> None:
    d = guard_with().protect(get(headers=[("authorization", "Basic ' OR 1=1--")]))
    assert d.conclusion is Conclusion.ALLOW


# -- body limit ------------------------------------------------------------------------

# The attack sits after 300 bytes of padding: past a body_limit of 100.
LATE_ATTACK = {"padding": "x" * 300, "comment": SQLI}
EARLY_ATTACK = {"comment": SQLI, "padding": "x" * 300}


def test_body_over_limit_with_prefix_inspects_the_first_body_limit_bytes() -> None:
    guard = guard_with(body_limit=100, on_body_limit="prefix")
    d = guard.protect(post_json(EARLY_ATTACK))
    assert d.conclusion is Conclusion.DENY
    assert shield_reason(d).location == "body:$.comment"
    assert raw_reason(d)["body"] == "prefix_inspected"
    d = guard.protect(post_json(LATE_ATTACK))
    assert d.conclusion is Conclusion.ALLOW
    assert raw_reason(d)["body"] == "prefix_inspected"


def test_prefix_is_the_default_on_body_limit() -> None:
    d = guard_with(body_limit=100).protect(post_json(LATE_ATTACK))
    assert (d.conclusion, raw_reason(d)["body"]) == (Conclusion.ALLOW, "prefix_inspected")


def test_body_over_limit_with_allow_inspects_none_of_the_body() -> None:
    guard = guard_with(body_limit=100, on_body_limit="allow")
    d = guard.protect(post_json(EARLY_ATTACK))
    assert d.conclusion is Conclusion.ALLOW
    assert raw_reason(d)["body"] == "over_limit_not_inspected"
    # The rest of the request is still scanned.
    early = post_json(EARLY_ATTACK)
    early.query = q(XSS)
    assert guard.protect(early).conclusion is Conclusion.DENY


def test_body_over_limit_with_deny_reports_body_limit() -> None:
    d = guard_with(body_limit=100, on_body_limit="deny").protect(post_json({"text": "x" * 300}))
    assert d.conclusion is Conclusion.DENY
    r = shield_reason(d)
    assert (r.category, r.location) == ("BODY_LIMIT", "body")
    assert "body_limit 100" in (r.excerpt or "")


@pytest.mark.parametrize("mode", ["prefix", "allow", "deny"])
def test_body_within_limit_is_inspected_whole_in_every_mode(mode: str) -> None:
    d = guard_with(body_limit=10_000, on_body_limit=mode).protect(post_json(LATE_ATTACK))
    assert d.conclusion is Conclusion.DENY
    assert shield_reason(d).location == "body:$.comment"
    assert "body" not in raw_reason(d)


def test_content_length_over_the_limit_counts_even_when_the_body_sent_is_short() -> None:
    # What the middleware sends for a big upload: the first max_body bytes and
    # the real Content-Length.
    details = post_json({"comment": "fine"})
    details = RequestDetails(
        ip=details.ip,
        method="POST",
        host=details.host,
        path=details.path,
        headers=[("content-type", "application/json"), ("content-length", "1000000")],
        body=details.body,
    )
    d = guard_with(body_limit=100, on_body_limit="deny").protect(details)
    assert (d.conclusion, shield_reason(d).category) == (Conclusion.DENY, "BODY_LIMIT")


# -- sensitivity -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["http://100.64.0.1/x", "see http://127.0.0.1/admin", "' or 'x", "http://printer.local/"],
)
def test_higher_sensitivity_reports_weaker_signals(value: str) -> None:
    for level in (1, 2):
        assert guard_with(sensitivity=level).protect(get(q(value))).conclusion is (
            Conclusion.ALLOW
        ), level
    for level in (3, 4):
        assert guard_with(sensitivity=level).protect(get(q(value))).conclusion is (
            Conclusion.DENY
        ), level


@pytest.mark.parametrize("level", [1, 2, 3, 4])
def test_clear_attacks_are_reported_at_every_sensitivity(level: int) -> None:
    guard = guard_with(sensitivity=level)
    for value in (SQLI, XSS, "../../../etc/passwd", "${jndi:ldap://e.example/a}"):
        assert guard.protect(get(q(value))).conclusion is Conclusion.DENY, value


# -- Content-Type ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset=ibm037",
        "text/plain; charset=utf-7",
        "application/x-www-form-urlencoded; charset=utf-8; charset=ibm500",
        "multipart/form-data; boundary=a; boundary=b",
    ],
)
def test_exotic_content_type_is_flagged(content_type: str) -> None:
    d = guard_with().protect(post_json({"a": "b"}, content_type=content_type))
    assert d.conclusion is Conclusion.DENY
    r = shield_reason(d)
    assert (r.category, r.location) == ("CONTENT_TYPE", "header:content-type")


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=UTF-8",
        "text/plain; charset=iso-8859-1",
    ],
)
def test_usual_content_types_are_not_flagged(content_type: str) -> None:
    d = guard_with().protect(post_json({"a": "b"}, content_type=content_type))
    assert d.conclusion is Conclusion.ALLOW


# -- escalation (local dev mode) -----------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def __call__(self) -> float:
        return self.t


def escalating_guard(
    clock: Callable[[], float], *, cache_size: int = 1000, **options: Any
) -> ArcGuard:
    engine = Engine(MemoryStore(), clock=clock)
    rule = shield(
        mode=options.pop("mode", "LIVE"), threshold=3, window="60s", block_for="10m", **options
    )
    return ArcGuard(
        rules=[rule], environ=DEV, transport=InProcessTransport(engine), cache_size=cache_size
    )


def test_client_crossing_the_threshold_is_blocked_for_clean_requests_too() -> None:
    clock = Clock()
    guard = escalating_guard(clock)
    attacker, other = "203.0.113.50", "203.0.113.51"
    for _ in range(2):
        assert guard.protect(get(q(SQLI), ip=attacker)).conclusion is Conclusion.DENY
    # Two suspicious requests: below the threshold of 3, a clean one passes.
    assert guard.protect(get(q("shoes"), ip=attacker)).conclusion is Conclusion.ALLOW
    assert guard.protect(get(q(XSS), ip=attacker)).conclusion is Conclusion.DENY
    clock.t += 1
    d = guard.protect(get(q("shoes"), ip=attacker))
    assert d.conclusion is Conclusion.DENY
    r = shield_reason(d)
    assert r.escalated is True and r.suspicious is False and r.category is None
    assert 590 < d.ttl <= 600
    assert d.results[0].state is RuleState.RUN
    # The block is cached in the guard: the next request is refused without the core.
    d = guard.protect(get(q("shoes"), ip=attacker))
    assert (d.conclusion, d.results[0].state) == (Conclusion.DENY, RuleState.CACHED)
    assert shield_reason(d).escalated is True
    # Other clients are not affected.
    assert guard.protect(get(q("shoes"), ip=other)).conclusion is Conclusion.ALLOW


def test_the_block_ends_after_block_for() -> None:
    clock = Clock()
    guard = escalating_guard(clock, cache_size=0)  # the deny cache keeps real time
    for _ in range(3):
        guard.protect(get(q(SQLI), ip="203.0.113.55"))
    clock.t += 599
    assert guard.protect(get(q("shoes"), ip="203.0.113.55")).conclusion is Conclusion.DENY
    clock.t += 2
    assert guard.protect(get(q("shoes"), ip="203.0.113.55")).conclusion is Conclusion.ALLOW


def test_suspicion_spread_wider_than_the_window_does_not_escalate() -> None:
    clock = Clock()
    guard = escalating_guard(clock)
    for _ in range(6):
        assert guard.protect(get(q(SQLI), ip="203.0.113.60")).conclusion is Conclusion.DENY
        clock.t += 61
    assert guard.protect(get(q("shoes"), ip="203.0.113.60")).conclusion is Conclusion.ALLOW


def test_dry_run_escalation_reports_but_does_not_block() -> None:
    clock = Clock()
    guard = escalating_guard(clock, mode="DRY_RUN")
    for _ in range(4):
        guard.protect(get(q(SQLI), ip="203.0.113.70"))
    d = guard.protect(get(q("shoes"), ip="203.0.113.70"))
    assert d.conclusion is Conclusion.ALLOW
    [result] = d.results
    assert result.conclusion is Conclusion.DENY and shield_reason(d).escalated is True


def test_escalation_with_the_default_dev_mode_guard() -> None:
    # No injected engine: the guard's own in-process transport, real clock.
    guard = ArcGuard(rules=[shield(mode="LIVE", threshold=3, window="60s")], environ=DEV)
    for _ in range(3):
        guard.protect(get(q(SQLI), ip="203.0.113.80"))
    d = guard.protect(get(q("shoes"), ip="203.0.113.80"))
    assert d.conclusion is Conclusion.DENY and shield_reason(d).escalated is True
    assert guard.protect(get(q("shoes"), ip="203.0.113.81")).conclusion is Conclusion.ALLOW


# -- ASGI middleware -------------------------------------------------------------------------


class EchoApp:
    """An ASGI app that reads the whole body and answers with its length and the decision."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        self.bodies.append(body)
        decision = scope["state"]["arcguard"]
        payload = json.dumps({"received": len(body), "conclusion": decision.conclusion.value})
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": payload.encode()})


def run_asgi(
    app: Any, body: bytes, *, chunk: int = 1000, content_type: bytes = b"application/json"
) -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/comments",
        "raw_path": b"/api/comments",
        "query_string": b"",
        "client": ("198.51.100.30", 50000),
        "server": ("127.0.0.1", 8000),
        "headers": [
            (b"host", b"app.example"),
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
            (b"accept", b"application/json"),
        ],
    }
    pieces = [body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""]
    messages = [
        {"type": "http.request", "body": p, "more_body": i < len(pieces) - 1}
        for i, p in enumerate(pieces)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, content


def json_body(size: int, comment: str = "a fine comment") -> bytes:
    """A JSON document of exactly ``size`` bytes whose ``comment`` comes first."""
    head = json.dumps({"comment": comment, "padding": ""}).encode()
    doc = json.dumps({"comment": comment, "padding": "p" * (size - len(head))}).encode()
    assert len(doc) == size
    return doc


@pytest.fixture
def asgi() -> tuple[ArcGuardMiddleware, EchoApp]:
    inner = EchoApp()
    guard = ArcGuard(rules=[shield(mode="LIVE")], environ=DEV, max_body=4096)
    return ArcGuardMiddleware(inner, guard=guard), inner


def test_middleware_passes_a_clean_json_body_to_the_app_whole(
    asgi: tuple[ArcGuardMiddleware, EchoApp],
) -> None:
    app, inner = asgi
    body = json_body(2500)
    status, content = run_asgi(app, body, chunk=700)
    assert status == 200
    assert json.loads(content) == {"received": 2500, "conclusion": "ALLOW"}
    assert inner.bodies == [body]


def test_middleware_replays_a_body_bigger_than_max_body_to_the_app(
    asgi: tuple[ArcGuardMiddleware, EchoApp],
) -> None:
    app, inner = asgi
    body = json_body(50_000)  # max_body is 4096: the guard reads 5 chunks, the app all 50
    status, content = run_asgi(app, body, chunk=1000)
    assert status == 200
    assert json.loads(content)["received"] == 50_000
    assert inner.bodies == [body]


def test_middleware_denies_an_attack_in_a_json_body_before_the_app_runs(
    asgi: tuple[ArcGuardMiddleware, EchoApp],
) -> None:
    app, inner = asgi
    status, content = run_asgi(app, json_body(2000, comment=SQLI), chunk=300)
    assert status == 403
    assert json.loads(content)["reason"] == "SHIELD"
    assert inner.bodies == []


def test_middleware_denies_an_attack_in_the_inspected_part_of_a_big_body(
    asgi: tuple[ArcGuardMiddleware, EchoApp],
) -> None:
    app, inner = asgi
    status, _ = run_asgi(app, json_body(50_000, comment=XSS), chunk=1000)
    assert status == 403 and inner.bodies == []


def test_middleware_does_not_see_an_attack_past_max_body(
    asgi: tuple[ArcGuardMiddleware, EchoApp],
) -> None:
    # Documents the limit: only the first max_body bytes are inspected.
    app, inner = asgi
    doc = json.dumps({"padding": "p" * 10_000, "comment": SQLI}).encode()
    status, content = run_asgi(app, doc, chunk=1000)
    assert status == 200 and inner.bodies == [doc]
    assert json.loads(content)["conclusion"] == "ALLOW"
