"""Reasons: immutable values, built from the core's JSON."""

from __future__ import annotations

import pickle

import pytest

from arcguard import (
    BotReason,
    ErrorReason,
    FilterReason,
    RateLimitReason,
    Reason,
    ShieldReason,
)
from arcguard._decision import reason_from_dict, reason_from_json

REASONS = [
    Reason("NONE"),
    BotReason("BOT", "curl", ("HTTP_LIBRARY",), True),
    FilterReason("FILTER", 'http.host == "x"', 0, "deny"),
    ShieldReason("SHIELD", True, "SQLI", "query", "' or 1=1", False, 1, {"body": "cut"}),
    RateLimitReason("RATE_LIMIT", 10, 3, 1.5, 60.0),
    ErrorReason("ERROR", "timeout"),
]


@pytest.mark.parametrize("reason", REASONS, ids=lambda r: type(r).__name__)
def test_reasons_are_immutable_values(reason: Reason) -> None:
    cls = type(reason)
    fields = cls.__match_args__
    copy = cls(*(getattr(reason, f) for f in fields))
    assert copy == reason and not copy != reason
    assert cls(**{f: getattr(reason, f) for f in fields}) == reason
    assert pickle.loads(pickle.dumps(reason)) == reason  # noqa: S301 (our own bytes)
    assert (
        repr(reason)
        == f"{cls.__name__}(" + ", ".join(f"{f}={getattr(reason, f)!r}" for f in fields) + ")"
    )
    for f in fields:
        with pytest.raises(AttributeError):
            setattr(reason, f, None)
        with pytest.raises(AttributeError):
            delattr(reason, f)
    with pytest.raises(AttributeError):
        reason.other = 1  # type: ignore[attr-defined]
    if cls is not Reason:  # a bare Reason's dict reads back as an unknown family
        assert reason_from_dict(reason.to_dict()) == reason


def test_reasons_of_different_classes_are_not_equal() -> None:
    assert Reason("ERROR") != ErrorReason("ERROR")
    assert BotReason("BOT", "a") != BotReason("BOT", "b")
    assert Reason() != "NONE"


def test_reasons_hash_by_their_fields() -> None:
    assert hash(BotReason("BOT", "curl")) == hash(BotReason("BOT", "curl"))
    assert len({ErrorReason("ERROR", "x"), ErrorReason("ERROR", "x")}) == 1
    with pytest.raises(TypeError):  # its notes are a dict, as with the dataclass
        hash(ShieldReason())


def test_reason_defaults() -> None:
    assert Reason().type == "NONE"
    assert FilterReason().list == "deny"
    assert ShieldReason().notes == {}
    assert ShieldReason().notes is not ShieldReason().notes


def test_reasons_support_pattern_matching() -> None:
    match reason_from_json('{"type": "BOT", "bot": "curl", "denied": true}'):
        case BotReason("BOT", bot, _, True):
            assert bot == "curl"
        case _:
            pytest.fail("no match")


def test_unreadable_reason_json_becomes_an_error_reason() -> None:
    reason = reason_from_json("{not json")
    assert isinstance(reason, ErrorReason) and reason.type == "ERROR"
    assert reason_from_json("[1]") == ErrorReason("ERROR", "reason is not an object")
