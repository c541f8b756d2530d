"""Wire conversions: every rule kind survives SDK -> proto -> service unchanged."""

from __future__ import annotations

import json

import pytest

from arcguard._exceptions import ConfigurationError
from arcguard._proto import decide_pb2 as pb
from arcguard._request import RequestDetails
from arcguard._rules import (
    Rule,
    ShieldRule,
    detect_bot,
    filter_rule,
    fixed_window,
    rule_from_config,
    shield,
    sliding_window,
    token_bucket,
)
from arcguard._transport._wire import (
    code_from_wire,
    code_to_wire,
    details_from_proto,
    details_to_proto,
    encode_decide_tail,
    rule_config_from_proto,
    rule_set_to_proto,
    rule_to_proto,
    set_typed_reason,
)

RULES: list[Rule] = [
    detect_bot(deny=["CATEGORY:HTTP_LIBRARY", "CURL"]),
    detect_bot(mode="DRY_RUN", allow=["CATEGORY:SEARCH_ENGINE"]),
    filter_rule(deny=['http.request.uri.path matches "^/admin"']),
    filter_rule(allow=['http.request.method eq "GET"']),
    shield(),
    shield(
        mode="DRY_RUN",
        sensitivity=4,
        categories=["XSS"],
        exclude_paths=["/health"],
        exclude_fields=["query:token"],
        exclude_headers=["X-Raw"],
        body_limit=0,
        on_body_limit="deny",
        header_limit=0,
        on_header_limit="prefix",
        on_budget_exhausted="allow",
        threshold=2,
        window="30s",
        block_for="1m",
    ),
    fixed_window(window="1h", max=100),
    fixed_window(
        window="1s",
        max=1,
        characteristics=["userId", "ip.src"],
        match='http.request.uri.path eq "/login"',
    ),
    sliding_window(interval="10m", max=5),
    token_bucket(refill_rate=2, interval="1s", capacity=10, characteristics=["apiKey"]),
]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: f"{r.kind}-{r.mode}")
def test_every_rule_round_trips_through_the_wire(rule: Rule) -> None:
    wire = pb.Rule.FromString(rule_to_proto(rule).SerializeToString())
    assert rule_from_config(rule_config_from_proto(wire)) == rule


def test_rule_set_keeps_the_order() -> None:
    rs = rule_set_to_proto(RULES)
    assert [r.WhichOneof("kind") for r in rs.rules] == [r.kind for r in RULES]


def test_unset_mode_or_kind_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="mode"):
        rule_config_from_proto(pb.Rule(bot=pb.BotRule(deny=["CURL"])))
    with pytest.raises(ConfigurationError, match="no rule kind"):
        rule_config_from_proto(pb.Rule(mode=pb.MODE_LIVE))


def test_request_details_round_trip_with_duplicate_headers_body_and_extras() -> None:
    d = RequestDetails(
        ip="2001:db8::1",
        method="POST",
        host="example.com",
        path="/a%20b",
        query="x=1&x=2",
        headers=[("Cookie", "a=1"), ("cookie", "b=2"), ("User-Agent", "curl/8.1")],
        body=b"\x00\xffbody",
        extras={"userId": "u1", "n": 3},
    )
    back = details_from_proto(pb.RequestDetails.FromString(details_to_proto(d).SerializeToString()))
    assert back.to_dict() == d.to_dict()
    assert back.headers == d.headers
    assert back.body == d.body


def test_core_codes_map_one_to_one_and_unspecified_is_rejected() -> None:
    for core in range(5):
        assert code_from_wire(code_to_wire(core)) == core
    assert code_to_wire(1) == pb.RULE_CODE_DENY
    with pytest.raises(ValueError):
        code_from_wire(pb.RULE_CODE_UNSPECIFIED)
    with pytest.raises(ValueError):
        code_from_wire(99)


@pytest.mark.parametrize(
    ("reason", "field", "check"),
    [
        (
            {"type": "BOT", "bot": "CURL", "categories": ["HTTP_LIBRARY"], "denied": True},
            "bot",
            lambda m: m.bot.bot == "CURL" and m.bot.denied,
        ),
        (
            {"type": "FILTER", "matched": "x", "index": 0, "list": "deny"},
            "filter",
            lambda m: m.filter.matched == "x" and m.filter.HasField("index"),
        ),
        (
            {
                "type": "SHIELD",
                "suspicious": True,
                "category": "XSS",
                "location": "query:q",
                "excerpt": "<script>",
                "escalated": False,
            },
            "shield",
            lambda m: m.shield.category == "XSS",
        ),
        (
            {"type": "RATE_LIMIT", "max": 5, "remaining": 0, "reset": 1.5, "window": 60.0},
            "rate_limit",
            lambda m: m.rate_limit.reset_seconds == 1.5,
        ),
        ({"type": "ERROR", "message": "boom"}, "error", lambda m: m.error.message == "boom"),
    ],
)
def test_typed_reasons_mirror_the_json(
    reason: dict[str, object], field: str, check: object
) -> None:
    m = pb.RuleResult()
    set_typed_reason(m, json.dumps(reason))
    assert m.WhichOneof("reason") == field
    assert check(m)  # type: ignore[operator]


def test_unreadable_reason_leaves_the_typed_oneof_unset() -> None:
    m = pb.RuleResult()
    set_typed_reason(m, "not json")
    set_typed_reason(m, '{"type": "SOMETHING_NEW"}')
    assert m.WhichOneof("reason") is None


HAND_ENCODED_DETAILS = [
    RequestDetails(ip=""),
    RequestDetails(ip="192.0.2.1"),
    RequestDetails(
        ip="2001:db8::1",
        method="POST",
        host="shop.example",
        path="/p/" + "x" * 300,
        query="q=%C3%A9&a=1",
        headers=[("User-Agent", "curl/8"), ("X-Empty", ""), ("", "v"), ("a", "b")],
        body=b"\x00\xff" * 100,
        extras={"userId": "u_1", "empty": "", "": "k", "naïve": "é"},
    ),
    # Latin-1 header bytes: UTF-8 text on the wire, as details_to_proto sends.
    RequestDetails(ip="10.0.0.1", headers=[("x-name", "caf\xe9"), ("x-long", "v" * 200)]),
    RequestDetails(ip="10.0.0.1", headers=[(f"h{i}", str(i)) for i in range(128)]),
    # An entry's length at the one-byte varint boundary (127 / 128 / 129 bytes),
    # and names and values of 127 and 128 bytes.
    RequestDetails(
        ip="10.0.0.1",
        headers=[("x-ten-char", "v" * n) for n in (113, 114, 115)]
        + [("n" * 127, "v"), ("n" * 128, "v"), ("k", "é" * 64), ("k", "v" * 127)],
    ),
]


@pytest.mark.parametrize("details", HAND_ENCODED_DETAILS)
@pytest.mark.parametrize("requested", [0, 1, 127, 128, 2**32 - 1])
@pytest.mark.parametrize("local", [None, [], [(0, "")], [(1, '{"type":"BOT"}'), (4, "é" * 70)]])
def test_hand_encoded_request_is_what_protobuf_writes(
    details: RequestDetails, requested: int, local: list[tuple[int, str]] | None
) -> None:
    msg = pb.DecideRequest(details=details_to_proto(details), requested=requested)
    if local:
        msg.local_results.extend(pb.LocalResult(code=c + 1, reason_json=r) for c, r in local)
    got = encode_decide_tail(details, requested, local)
    assert pb.DecideRequest.FromString(got) == msg
    if len(details.extras) <= 1:  # map order aside, the very same bytes
        assert got == msg.SerializeToString()


def test_hand_encoded_request_rejects_what_protobuf_rejects() -> None:
    d = RequestDetails(ip="10.0.0.1")
    with pytest.raises(ValueError):
        encode_decide_tail(d, 2**32, None)
    with pytest.raises(ValueError):
        encode_decide_tail(d, 1, [(7, "")])
    with pytest.raises(ValueError):
        encode_decide_tail(RequestDetails(ip="\ud800"), 1, None)


def test_cached_header_fields_match_unhashable_pairs_and_stay_bounded() -> None:
    from arcguard._transport import _wire

    d = HAND_ENCODED_DETAILS[2]
    first = encode_decide_tail(d, 1, None)
    assert encode_decide_tail(d, 1, None) == first  # the second time from the cache
    # An ASGI server may hand headers as two-item lists (unhashable).
    as_lists = RequestDetails._from_raw(
        d.ip, d.method, d.host, d.path, d.query, [list(h) for h in d._raw_headers], d.body
    )
    as_lists.extras = d.extras
    assert encode_decide_tail(as_lists, 1, None) == first
    for i in range(3 * _wire._MAX_HEADER_FIELDS):
        encode_decide_tail(RequestDetails(ip="10.0.0.1", headers=[("x-id", str(i))]), 1, None)
    assert len(_wire._HEADER_FIELDS) <= _wire._MAX_HEADER_FIELDS
    long = RequestDetails(ip="10.0.0.1", headers=[("cookie", "c" * 1000)])
    assert pb.DecideRequest.FromString(encode_decide_tail(long, 1, None)).details.headers[
        0
    ].value == ("c" * 1000)
    assert all(len(f) <= _wire._MAX_CACHED_HEADER for f in _wire._HEADER_FIELDS.values())


def test_details_from_proto_matches_the_constructor() -> None:
    msg = details_to_proto(HAND_ENCODED_DETAILS[2])
    back = details_from_proto(msg)
    want = RequestDetails(
        ip=msg.ip,
        method=msg.method,
        host=msg.host,
        path=msg.path,
        query=msg.query,
        headers=[(h.name, h.value) for h in msg.headers],
        body=msg.body,
        extras=dict(msg.extras),
    )
    assert back.encode() == want.encode()
    assert back.extras == want.extras and back.headers == want.headers


def test_a_shield_from_an_older_sdk_gets_the_default_header_limit_and_policies() -> None:
    # header_limit is optional on the wire: absent is the default, not 0.
    rule = rule_from_config(
        rule_config_from_proto(pb.Rule(mode=pb.MODE_LIVE, shield=pb.ShieldRule()))
    )
    assert isinstance(rule, ShieldRule)
    default = shield()
    assert (rule.header_limit, rule.on_header_limit, rule.on_budget_exhausted) == (
        default.header_limit,
        default.on_header_limit,
        default.on_budget_exhausted,
    )
