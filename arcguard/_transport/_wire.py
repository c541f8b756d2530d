"""Conversions between SDK objects and the wire messages of ``decide.proto``.

Pure protobuf: no gRPC, no I/O. Used by the SDK's gRPC transport and by the
decide service, so both ends convert the same way.

Codes: the core's rule codes (ALLOW 0, DENY 1, NEEDS_REMOTE 2, NOT_RUN 3,
ERROR 4) are the wire's ``RuleCode`` minus one (the wire keeps zero for
UNSPECIFIED, as proto3 requires).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .._exceptions import ConfigurationError
from .._proto import decide_pb2 as pb
from .._request import MAX_HEADERS, RequestDetails
from .._rules import (
    DEFAULT_SHIELD_BLOCK_FOR,
    DEFAULT_SHIELD_HEADER_LIMIT,
    DEFAULT_SHIELD_SENSITIVITY,
    DEFAULT_SHIELD_THRESHOLD,
    DEFAULT_SHIELD_WINDOW,
    BotRule,
    FilterRule,
    FixedWindowRule,
    RateLimitRule,
    Rule,
    ShieldRule,
    SlidingWindowRule,
    TokenBucketRule,
)
from .._signup.rules import EmailRule
from .._signup.wire import email_config_from_proto, email_rule_to_proto

__all__ = [
    "CODE_ALLOW",
    "CODE_DENY",
    "CODE_ERROR",
    "CODE_NEEDS_REMOTE",
    "CODE_NOT_RUN",
    "RawResult",
    "code_from_wire",
    "code_to_wire",
    "details_from_proto",
    "details_to_proto",
    "encode_decide_tail",
    "encode_varint",
    "local_results_from_proto",
    "local_results_to_proto",
    "mode_to_wire",
    "rule_config_from_proto",
    "rule_set_to_proto",
    "rule_to_proto",
    "set_typed_reason",
]

#: The core's per-rule codes.
CODE_ALLOW, CODE_DENY, CODE_NEEDS_REMOTE, CODE_NOT_RUN, CODE_ERROR = 0, 1, 2, 3, 4
_MAX_CODE = CODE_ERROR

#: A core result: (code, reason JSON text).
RawResult = tuple[int, str]

_MODE_TO_WIRE = {"LIVE": pb.MODE_LIVE, "DRY_RUN": pb.MODE_DRY_RUN}
_MODE_FROM_WIRE = {pb.MODE_LIVE: "LIVE", pb.MODE_DRY_RUN: "DRY_RUN"}


def code_to_wire(code: int) -> int:
    """The wire ``RuleCode`` of a core code."""
    return code + 1


def code_from_wire(code: int) -> int:
    """The core code of a wire ``RuleCode``.

    Raises:
        ValueError: for UNSPECIFIED or an unknown value.
    """
    core = code - 1
    if not 0 <= core <= _MAX_CODE:
        raise ValueError(f"unknown rule code {code}")
    return core


def mode_to_wire(mode: str) -> int:
    """The wire ``Mode`` of ``"LIVE"`` / ``"DRY_RUN"``."""
    return _MODE_TO_WIRE[mode]


# -- request details ------------------------------------------------------------


def details_to_proto(details: RequestDetails) -> pb.RequestDetails:
    """The wire form of request details."""
    return pb.RequestDetails(
        ip=details.ip,
        method=details.method,
        host=details.host,
        path=details.path,
        query=details.query,
        headers=[pb.Header(name=k, value=v) for k, v in details.headers],
        body=details.body,
        extras=details.extras,
    )


def details_from_proto(msg: pb.RequestDetails) -> RequestDetails:
    """Request details from their wire form (limits are checked by the caller)."""
    # The service's hot path: names lower-cased and kept as Latin-1 bytes, as
    # RequestDetails(headers=...) would, without its generic input handling.
    details = RequestDetails._from_raw(
        msg.ip,
        msg.method or "GET",
        msg.host,
        msg.path or "/",
        msg.query,
        [
            (h.name.lower().encode("latin-1", "replace"), h.value.encode("latin-1", "replace"))
            for h in msg.headers
        ][:MAX_HEADERS],
        msg.body,
    )
    if msg.extras:
        details.extras = dict(msg.extras)
    return details


# -- hand-encoded request fields ---------------------------------------------------
#
# The SDK sends one DecideRequest per escalated decision. Building it from
# message objects (a Header per header, a RequestDetails, a DecideRequest, then
# serializing) costs several times more than writing the few fields directly.
# Protobuf messages are concatenations of fields, so the request is the rule
# set's bytes (encoded once per rule set) followed by these bytes. What is
# written here is exactly what ``SerializeToString`` writes for the same
# values (``tests/service/test_wire.py`` holds the two to each other).


def encode_varint(n: int) -> bytes:
    """The protobuf varint of a non-negative integer."""
    if n < 0x80:
        return _BYTE[n]
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_BYTE = tuple(bytes((i,)) for i in range(256))


def _latin1_text(b: bytes) -> bytes:
    # RequestDetails keeps header bytes as Latin-1; the wire's strings are UTF-8.
    return b if b.isascii() else b.decode("latin-1").encode("utf-8")


def _header_field(k: bytes, v: bytes) -> bytes:
    """One ``headers`` entry (RequestDetails field 6), name and value UTF-8."""
    k = _latin1_text(k)
    v = _latin1_text(v)
    nk, nv = len(k), len(v)
    if 0 < nk < 0x80 and 0 < nv < 0x80 and nk + nv + 4 < 0x80:
        # The common case, one-byte lengths: one formatting step instead of six appends.
        return b"2%c\n%c%b\x12%c%b" % (nk + nv + 4, nk, k, nv, v)
    inner = (nk + 1 + len(encode_varint(nk)) if nk else 0) + (
        nv + 1 + len(encode_varint(nv)) if nv else 0
    )
    out = [b"\x32", encode_varint(inner)]
    if nk:
        out += (b"\x0a", encode_varint(nk), k)
    if nv:
        out += (b"\x12", encode_varint(nv), v)
    return b"".join(out)


#: Encoded ``headers`` entries by their (name, value) bytes: most headers of
#: an app's traffic repeat from request to request (user-agent, accept, host...),
#: and finding one costs a tenth of writing it. Bounded: entries longer than
#: _MAX_CACHED_HEADER bytes are not kept, and the dict is emptied when full.
_HEADER_FIELDS: dict[tuple[bytes, bytes], bytes] = {}
_MAX_HEADER_FIELDS = 1024
_MAX_CACHED_HEADER = 256


def _header_fields(raw: Sequence[tuple[bytes, bytes]]) -> list[bytes]:
    cache = _HEADER_FIELDS
    try:
        out = []
        for kv in raw:
            f = cache.get(kv)
            if f is None:
                f = _header_field(*kv)
                if len(f) <= _MAX_CACHED_HEADER:
                    if len(cache) >= _MAX_HEADER_FIELDS:
                        cache.clear()
                    cache[kv] = f
            out.append(f)
        return out
    except TypeError:  # an unhashable pair (ASGI allows any two-item iterable)
        return [_header_field(k, v) for k, v in raw]


_DETAIL_TAGS = (b"\x0a", b"\x12", b"\x1a", b"\x22", b"\x2a")


def _details_bytes(details: RequestDetails) -> bytes:
    out: list[bytes] = []
    # Fields 1-5 (ip, method, host, path, query), then the headers (field 6)
    # from the raw Latin-1 bytes (same package).
    for tag, value in zip(
        _DETAIL_TAGS,
        (details.ip, details.method, details.host, details.path, details.query),
        strict=True,
    ):
        if value:
            b = value.encode("utf-8")
            n = len(b)
            out += (tag, _BYTE[n] if n < 0x80 else encode_varint(n), b)
    out += _header_fields(details._raw_headers)
    body = details.body
    if body:
        out += (b"\x3a", encode_varint(len(body)), bytes(body))
    for key, value in details.extras.items():
        kb = key.encode("utf-8")
        vb = value.encode("utf-8")
        entry = b"".join((b"\x0a", encode_varint(len(kb)), kb, b"\x12", encode_varint(len(vb)), vb))
        out += (b"\x42", encode_varint(len(entry)), entry)
    return b"".join(out)


def encode_decide_tail(
    details: RequestDetails, requested: int, local: Sequence[RawResult] | None
) -> bytes:
    """The ``details``, ``requested`` and ``local_results`` fields of a DecideRequest.

    Appended to a serialized request holding the rule set (protobuf fields
    concatenate), this is the whole request.

    Raises:
        ValueError: ``requested`` outside uint32, a code outside the core's, or
            text that is not valid Unicode.
    """
    d = _details_bytes(details)
    n = len(d)
    out = [b"\x0a", _BYTE[n] if n < 0x80 else encode_varint(n), d]
    if requested:
        if not 0 < requested <= 0xFFFFFFFF:
            raise ValueError(f"requested: {requested} is outside uint32")
        out += (b"\x18", _BYTE[requested] if requested < 0x80 else encode_varint(requested))
    if local:
        for code, reason in local:
            if not 0 <= code <= _MAX_CODE:
                raise ValueError(f"unknown rule code {code}")
            if reason:
                r = reason.encode("utf-8")
                n = len(r)
                out += (
                    b"\x22",
                    encode_varint(n + 3 + len(encode_varint(n))),
                    b"\x08",
                    _BYTE[code + 1],
                    b"\x12",
                    encode_varint(n),
                    r,
                )
            else:
                out += (b"\x22\x02\x08", _BYTE[code + 1])
    return b"".join(out)


# -- rules ------------------------------------------------------------------------


def rule_to_proto(rule: Rule) -> pb.Rule:
    """The wire form of one rule (every option, including the shield's escalation).

    Raises:
        TypeError: for an object that is not one of the SDK's rules.
    """
    msg = pb.Rule(mode=_MODE_TO_WIRE[rule.mode])
    if isinstance(rule, BotRule):
        msg.bot.SetInParent()
        msg.bot.allow.extend(rule.allow)
        msg.bot.deny.extend(rule.deny)
    elif isinstance(rule, FilterRule):
        msg.filter.SetInParent()
        msg.filter.allow.extend(rule.allow)
        msg.filter.deny.extend(rule.deny)
    elif isinstance(rule, ShieldRule):
        msg.shield.CopyFrom(
            pb.ShieldRule(
                sensitivity=rule.sensitivity,
                categories=rule.categories,
                disable=rule.disable,
                exclude_paths=rule.exclude_paths,
                exclude_fields=rule.exclude_fields,
                exclude_headers=rule.exclude_headers,
                body_limit=rule.body_limit,
                on_body_limit=rule.on_body_limit,
                header_limit=rule.header_limit,
                on_header_limit=rule.on_header_limit,
                on_budget_exhausted=rule.on_budget_exhausted,
                threshold=rule.threshold,
                window_seconds=rule.window,
                block_for_seconds=rule.block_for,
            )
        )
    elif isinstance(rule, RateLimitRule):
        msg.characteristics.extend(rule.characteristics)
        if rule.match is not None:
            msg.match = rule.match
        if isinstance(rule, FixedWindowRule):
            msg.fixed_window.CopyFrom(pb.FixedWindowRule(window_seconds=rule.window, max=rule.max))
        elif isinstance(rule, SlidingWindowRule):
            msg.sliding_window.CopyFrom(
                pb.SlidingWindowRule(interval_seconds=rule.interval, max=rule.max)
            )
        elif isinstance(rule, TokenBucketRule):
            msg.token_bucket.CopyFrom(
                pb.TokenBucketRule(
                    refill_rate=rule.refill_rate,
                    interval_seconds=rule.interval,
                    capacity=rule.capacity,
                )
            )
        else:
            raise TypeError(f"unknown rate-limit rule {type(rule).__name__}")
    elif isinstance(rule, EmailRule):
        msg.email.CopyFrom(email_rule_to_proto(rule))
    else:
        raise TypeError(f"cannot send {type(rule).__name__} to the decide service")
    return msg


def rule_set_to_proto(rules: Iterable[Rule]) -> pb.RuleSet:
    """The wire form of an ordered rule set."""
    return pb.RuleSet(rules=[rule_to_proto(r) for r in rules])


def _or_default(value: Any, default: Any) -> Any:
    # proto3 sends zero for an unset scalar: zero means "the default" here.
    return value if value else default


def rule_config_from_proto(msg: pb.Rule) -> dict[str, Any]:
    """The configuration mapping (for ``rule_from_config``) of a wire rule.

    Zero/empty shield scalars mean the SDK's defaults (proto3 cannot tell an
    unset field from zero), except ``body_limit`` where 0 is meaningful.

    Raises:
        ConfigurationError: on an unset mode or kind.
    """
    mode = _MODE_FROM_WIRE.get(msg.mode)
    if mode is None:
        raise ConfigurationError("mode must be MODE_LIVE or MODE_DRY_RUN")
    kind = msg.WhichOneof("kind")
    if kind is None:
        raise ConfigurationError("no rule kind set (bot, filter, shield, fixed_window, ...)")
    c: dict[str, Any] = {"kind": kind, "mode": mode}
    if kind == "bot" or kind == "filter":
        sub = msg.bot if kind == "bot" else msg.filter
        if sub.allow:
            c["allow"] = list(sub.allow)
        if sub.deny:
            c["deny"] = list(sub.deny)
        return c
    if kind == "email":
        c.update(email_config_from_proto(msg.email))
        return c
    if kind == "shield":
        s = msg.shield
        c.update(
            sensitivity=_or_default(s.sensitivity, DEFAULT_SHIELD_SENSITIVITY),
            categories=list(s.categories),
            disable=list(s.disable),
            exclude_paths=list(s.exclude_paths),
            exclude_fields=list(s.exclude_fields),
            exclude_headers=list(s.exclude_headers),
            body_limit=s.body_limit,
            on_body_limit=_or_default(s.on_body_limit, "prefix"),
            header_limit=(
                s.header_limit if s.HasField("header_limit") else DEFAULT_SHIELD_HEADER_LIMIT
            ),
            on_header_limit=_or_default(s.on_header_limit, "deny"),
            on_budget_exhausted=_or_default(s.on_budget_exhausted, "deny"),
            threshold=_or_default(s.threshold, DEFAULT_SHIELD_THRESHOLD),
            window=_or_default(s.window_seconds, DEFAULT_SHIELD_WINDOW),
            block_for=_or_default(s.block_for_seconds, DEFAULT_SHIELD_BLOCK_FOR),
        )
        return c
    if msg.characteristics:
        c["characteristics"] = list(msg.characteristics)
    if msg.HasField("match"):
        c["match"] = msg.match
    if kind == "fixed_window":
        c.update(window=msg.fixed_window.window_seconds, max=msg.fixed_window.max)
    elif kind == "sliding_window":
        c.update(interval=msg.sliding_window.interval_seconds, max=msg.sliding_window.max)
    else:
        t = msg.token_bucket
        c.update(refill_rate=t.refill_rate, interval=t.interval_seconds, capacity=t.capacity)
    return c


# -- results --------------------------------------------------------------------


def local_results_to_proto(local: Sequence[RawResult]) -> list[pb.LocalResult]:
    """The wire form of the SDK's local core results."""
    return [pb.LocalResult(code=c + 1, reason_json=r) for c, r in local]  # type: ignore[arg-type]


def local_results_from_proto(msgs: Sequence[pb.LocalResult]) -> list[RawResult]:
    """Core results from their wire form.

    Raises:
        ValueError: on an unknown code.
    """
    return [(code_from_wire(m.code), m.reason_json) for m in msgs]


def _opt_str(d: Mapping[str, Any], key: str) -> str:
    v = d.get(key)
    return "" if v is None else str(v)


def set_typed_reason(msg: pb.RuleResult, reason_json: str) -> None:
    """Fills the typed ``reason`` oneof of ``msg`` from a reason JSON text.

    Unknown or unreadable reasons leave the oneof unset (``reason_json`` stays
    authoritative).
    """
    try:
        d = json.loads(reason_json) if reason_json else {}
    except ValueError:
        return
    if not isinstance(d, dict):
        return
    t = d.get("type")
    if t == "BOT":
        msg.bot.CopyFrom(
            pb.BotReason(
                bot=_opt_str(d, "bot"),
                categories=[str(c) for c in d.get("categories") or ()],
                denied=bool(d.get("denied")),
            )
        )
    elif t == "FILTER":
        f = pb.FilterReason(list=_opt_str(d, "list") or "deny")
        if d.get("matched") is not None:
            f.matched = str(d["matched"])
        if isinstance(d.get("index"), int) and d["index"] >= 0:
            f.index = d["index"]
        msg.filter.CopyFrom(f)
    elif t == "SHIELD":
        msg.shield.CopyFrom(
            pb.ShieldReason(
                suspicious=bool(d.get("suspicious")),
                category=_opt_str(d, "category"),
                location=_opt_str(d, "location"),
                excerpt=_opt_str(d, "excerpt"),
                escalated=bool(d.get("escalated")),
            )
        )
    elif t in ("RATE_LIMIT", "fixed_window", "sliding_window", "token_bucket"):
        try:
            msg.rate_limit.CopyFrom(
                pb.RateLimitReason(
                    max=max(int(d.get("max", 0)), 0),
                    remaining=max(int(d.get("remaining", 0)), 0),
                    reset_seconds=float(d.get("reset", 0.0)),
                    window_seconds=float(d.get("window", 0.0)),
                )
            )
        except (TypeError, ValueError):
            return
    elif t == "ERROR":
        msg.error.CopyFrom(pb.ErrorReason(message=_opt_str(d, "message")))
