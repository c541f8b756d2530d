"""Decisions: what ArcGuard concluded about one request, and why."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable
from enum import StrEnum
from typing import Any, ClassVar

from ._frozen import Frozen

__all__ = [
    "BotReason",
    "Conclusion",
    "Decision",
    "ErrorReason",
    "FilterReason",
    "RateLimitReason",
    "Reason",
    "RuleResult",
    "RuleState",
    "ShieldReason",
    "reason_from_json",
]


_set = object.__setattr__


class Conclusion(StrEnum):
    """The outcome of a decision or of one rule."""

    ALLOW = "ALLOW"
    DENY = "DENY"
    ERROR = "ERROR"


class RuleState(StrEnum):
    """How a rule took part in a decision."""

    RUN = "RUN"  #: evaluated in LIVE mode
    DRY_RUN = "DRY_RUN"  #: evaluated, reported, never denies
    NOT_RUN = "NOT_RUN"  #: skipped (an earlier LIVE rule denied, or its ``match`` was false)
    CACHED = "CACHED"  #: answered from the deny cache


class Reason(Frozen):
    """Why a rule or a decision concluded what it did. ``type`` names the family.

    Reasons are immutable values: equal when of the same class with equal
    fields, hashable when their fields are, and their repr shows every field.
    """

    # A Frozen (plain __slots__) class rather than a frozen dataclass: the
    # behaviour is the dataclass's (construction by position or keyword in
    # field order, immutability, equality, hash, repr, pattern matching,
    # pickling); only ``dataclasses.replace``/``fields``/``asdict`` no longer
    # apply (``to_dict`` gives the fields).
    __slots__ = ("type",)
    _fields: ClassVar[tuple[str, ...]] = ("type",)
    __match_args__: ClassVar[tuple[str, ...]] = ("type",)

    type: str

    def __init__(self, type: str = "NONE") -> None:
        _set(self, "type", type)

    def to_dict(self) -> dict[str, Any]:
        """The reason as plain JSON-able data (its fields, in order)."""
        return {f: getattr(self, f) for f in self._fields}


class BotReason(Reason):
    """A bot rule's reason: the bot found (None for a browser) and its categories."""

    __slots__ = ("bot", "categories", "denied")
    _fields = __match_args__ = ("type", "bot", "categories", "denied")

    bot: str | None
    categories: tuple[str, ...]
    denied: bool

    def __init__(
        self,
        type: str = "NONE",
        bot: str | None = None,
        categories: tuple[str, ...] = (),
        denied: bool = False,
    ) -> None:
        _set(self, "type", type)
        _set(self, "bot", bot)
        _set(self, "categories", categories)
        _set(self, "denied", denied)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "bot": self.bot,
            "categories": list(self.categories),
            "denied": self.denied,
        }


class FilterReason(Reason):
    """A filter rule's reason: the expression that matched, if any."""

    __slots__ = ("index", "list", "matched")
    _fields = __match_args__ = ("type", "matched", "index", "list")

    matched: str | None
    index: int | None
    list: str

    def __init__(
        self,
        type: str = "NONE",
        matched: str | None = None,
        index: int | None = None,
        list: str = "deny",
    ) -> None:
        _set(self, "type", type)
        _set(self, "matched", matched)
        _set(self, "index", index)
        _set(self, "list", list)


class ShieldReason(Reason):
    """A shield rule's reason: the attack category, where it was found, an excerpt.

    Attributes:
        escalated: True when the client is blocked for crossing the suspicion
            threshold.
        findings: how many suspicious values were found.
        notes: what the inspection left out or cut, e.g.
            ``{"body": "prefix_inspected"}``, ``{"excluded": True}``,
            ``{"query": "max_query_params"}`` (a new empty dict when not given).
    """

    __slots__ = ("category", "escalated", "excerpt", "findings", "location", "notes", "suspicious")
    _fields = __match_args__ = (
        "type",
        "suspicious",
        "category",
        "location",
        "excerpt",
        "escalated",
        "findings",
        "notes",
    )

    suspicious: bool
    category: str | None
    location: str | None
    excerpt: str | None
    escalated: bool
    findings: int
    notes: dict[str, Any]

    def __init__(
        self,
        type: str = "NONE",
        suspicious: bool = False,
        category: str | None = None,
        location: str | None = None,
        excerpt: str | None = None,
        escalated: bool = False,
        findings: int = 0,
        notes: dict[str, Any] | None = None,
    ) -> None:
        _set(self, "type", type)
        _set(self, "suspicious", suspicious)
        _set(self, "category", category)
        _set(self, "location", location)
        _set(self, "excerpt", excerpt)
        _set(self, "escalated", escalated)
        _set(self, "findings", findings)
        _set(self, "notes", {} if notes is None else notes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "suspicious": self.suspicious,
            "category": self.category,
            "location": self.location,
            "excerpt": self.excerpt,
            "escalated": self.escalated,
            "findings": self.findings,
            **self.notes,
        }


class RateLimitReason(Reason):
    """A rate limit's state for this client after this request.

    Attributes:
        reset: seconds until the limit resets (a token is added, for a bucket).
        window: the window or interval, in seconds.
    """

    __slots__ = ("max", "remaining", "reset", "window")
    _fields = __match_args__ = ("type", "max", "remaining", "reset", "window")

    max: int
    remaining: int
    reset: float
    window: float

    def __init__(
        self,
        type: str = "NONE",
        max: int = 0,
        remaining: int = 0,
        reset: float = 0.0,
        window: float = 0.0,
    ) -> None:
        _set(self, "type", type)
        _set(self, "max", max)
        _set(self, "remaining", remaining)
        _set(self, "reset", reset)
        _set(self, "window", window)


class ErrorReason(Reason):
    """Why no decision could be made (the request is allowed unless fail-closed)."""

    __slots__ = ("message",)
    _fields = __match_args__ = ("type", "message")

    message: str

    def __init__(self, type: str = "NONE", message: str = "") -> None:
        _set(self, "type", type)
        _set(self, "message", message)


class _OtherReason(Reason):
    __slots__ = ("data",)
    _fields = __match_args__ = ("type", "data")

    data: dict[str, Any]

    def __init__(self, type: str = "NONE", data: dict[str, Any] | None = None) -> None:
        _set(self, "type", type)
        _set(self, "data", {} if data is None else data)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)


_SHIELD_FIELDS = frozenset(
    {"type", "suspicious", "category", "location", "excerpt", "escalated", "findings"}
)
_RATE_LIMIT_TYPES = ("RATE_LIMIT", "fixed_window", "sliding_window", "token_bucket")
_SIGNUP_TYPES = ("EMAIL", "SIGNUP")


def reason_from_json(text: str) -> Reason:
    """Builds a typed reason from the core's or the service's JSON object text."""
    try:
        d = json.loads(text) if text else {}
    except ValueError:
        return ErrorReason(type="ERROR", message=f"unreadable reason {text[:80]!r}")
    if not isinstance(d, dict):
        return ErrorReason(type="ERROR", message="reason is not an object")
    return reason_from_dict(d)


def reason_from_dict(d: dict[str, Any]) -> Reason:
    """Builds a typed reason from a dict (as produced by ``Reason.to_dict``)."""
    t = str(d.get("type", "NONE"))
    if t == "BOT":
        return BotReason(
            type=t,
            bot=d.get("bot"),
            categories=tuple(d.get("categories") or ()),
            denied=bool(d.get("denied")),
        )
    if t == "FILTER":
        return FilterReason(
            type=t, matched=d.get("matched"), index=d.get("index"), list=str(d.get("list", "deny"))
        )
    if t == "SHIELD":
        notes = {k: v for k, v in d.items() if k not in _SHIELD_FIELDS}
        return ShieldReason(
            type=t,
            suspicious=bool(d.get("suspicious")),
            category=d.get("category"),
            location=d.get("location"),
            excerpt=d.get("excerpt"),
            escalated=bool(d.get("escalated")),
            findings=int(d.get("findings") or 0),
            notes=notes,
        )
    if t in _RATE_LIMIT_TYPES:
        return RateLimitReason(
            type="RATE_LIMIT",
            max=int(d.get("max", 0)),
            remaining=int(d.get("remaining", 0)),
            reset=float(d.get("reset", 0.0)),
            window=float(d.get("window", 0.0)),
        )
    if t == "ERROR":
        return ErrorReason(type=t, message=str(d.get("message", "")))
    if t in _SIGNUP_TYPES:
        from ._signup.reasons import signup_reason_from_dict

        return signup_reason_from_dict(t, d)
    return _OtherReason(type=t, data=d)


# Slot setters, taken once: the classes below refuse ``obj.attr = value``, and
# a slot's own descriptor sets it several times faster than object.__setattr__.
def _setters(cls: type, names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(cls.__dict__[n].__set__ for n in names)


class RuleResult:
    """One rule's part in a decision.

    Attributes:
        kind: the rule's kind (``"bot"``, ``"filter"``, ``"shield"``, ``"fixed_window"``...).
        mode: ``"LIVE"`` or ``"DRY_RUN"``.
        state: a :class:`RuleState`.
        conclusion: what the rule concluded (a DRY_RUN rule may conclude DENY
            without denying the request).
        reason: a :class:`Reason` (parsed lazily).
        ttl: seconds a DENY may be cached (0: not cached).
    """

    __slots__ = ("_reason", "_reason_text", "conclusion", "kind", "mode", "state", "ttl")

    kind: str
    mode: str
    state: RuleState
    conclusion: Conclusion
    ttl: float
    _reason: Reason | None
    _reason_text: str

    def __init__(
        self,
        kind: str,
        mode: str,
        state: RuleState,
        conclusion: Conclusion,
        reason: Reason | str,
        ttl: float = 0.0,
    ) -> None:
        _rr_kind(self, kind)
        _rr_mode(self, mode)
        _rr_state(self, state)
        _rr_conclusion(self, conclusion)
        _rr_ttl(self, ttl)
        if isinstance(reason, str):
            _rr_reason(self, None)
            _rr_text(self, reason)
        else:
            _rr_reason(self, reason)
            _rr_text(self, "")

    @property
    def reason(self) -> Reason:
        """The rule's reason."""
        reason = self._reason
        if reason is None:
            reason = reason_from_json(self._reason_text)
            _rr_reason(self, reason)
        return reason

    def is_denied(self) -> bool:
        """Whether the rule concluded DENY (even in DRY_RUN)."""
        return self.conclusion is Conclusion.DENY

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for logs and JSON output."""
        return {
            "kind": self.kind,
            "mode": self.mode,
            "state": self.state.value,
            "conclusion": self.conclusion.value,
            "reason": self.reason.to_dict(),
            "ttl": self.ttl,
        }

    def __repr__(self) -> str:
        return (
            f"RuleResult(kind={self.kind!r}, mode={self.mode!r}, state={self.state.value}, "
            f"conclusion={self.conclusion.value}, reason={self.reason!r})"
        )

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("RuleResult is immutable")


_rr_kind, _rr_mode, _rr_state, _rr_conclusion, _rr_ttl, _rr_reason, _rr_text = _setters(
    RuleResult, ("kind", "mode", "state", "conclusion", "ttl", "_reason", "_reason_text")
)

#: Decision ids: a per-process random prefix and a counter, formatted when read.
_ID_PREFIX = "lrq_" + os.urandom(4).hex()
_next_seq = itertools.count(1).__next__


def _new_id() -> str:
    """A fresh decision id (private; the guard's decisions made outright use it)."""
    return f"{_ID_PREFIX}{_next_seq():x}"


class Decision:
    """ArcGuard's decision about one request. Immutable.

    Example::

        decision = guard.protect(request)
        if decision.is_denied():
            return Response("Forbidden", status_code=403)

    Attributes:
        id: a unique id, for logs.
        conclusion: ALLOW, DENY or ERROR.
        reason: the deciding rule's reason (the first LIVE DENY), the error, or
            for ALLOW the last rule's reason.
        results: one :class:`RuleResult` per rule, in the guard's order.
        ttl: seconds the DENY is cached for (0 otherwise).
        ip: the client IP used.
    """

    # Every attribute is a read-only property over a private slot: one is built
    # per request, and plain slot stores cost a fraction of the
    # ``object.__setattr__`` calls a ``__setattr__`` guard would need.
    # ``_results`` is built on first use from ``_source`` (a builder and its
    # argument) when the guard made the decision: most callers only ask
    # ``is_denied()``, and one RuleResult per rule is most of a decision's cost.
    # ``_reason`` is a Reason, a RuleResult standing for its (lazily parsed)
    # reason, or the index of the result whose reason it is.
    __slots__ = (
        "_conclusion",
        "_fail_open",
        "_id",
        "_ip",
        "_reason",
        "_results",
        "_source",
        "_ttl",
    )

    _conclusion: Conclusion
    _ttl: float
    _ip: str
    _id: str | int
    _reason: Reason | RuleResult | int
    _results: tuple[RuleResult, ...] | None
    _source: tuple[Callable[[Any], tuple[RuleResult, ...]], Any] | None
    _fail_open: bool

    def __init__(
        self,
        *,
        id: str,
        conclusion: Conclusion,
        reason: Reason | RuleResult,
        results: tuple[RuleResult, ...],
        ttl: float,
        ip: str,
        fail_open: bool = True,
    ) -> None:
        self._id = id
        self._conclusion = conclusion
        self._reason = reason
        self._results = results
        self._source = None
        self._ttl = ttl
        self._ip = ip
        self._fail_open = fail_open

    @classmethod
    def _deferred(
        cls,
        conclusion: Conclusion,
        reason: Reason | RuleResult | int,
        build: Callable[[Any], tuple[RuleResult, ...]],
        source: Any,
        ttl: float,
        ip: str,
        fail_open: bool,
    ) -> Decision:
        """A decision whose results ``build(source)`` makes when first asked for
        (``reason`` may then be the index of the deciding result). Private."""
        self = _new(cls)
        self._id = _next_seq()
        self._conclusion = conclusion
        self._reason = reason
        self._results = None
        self._source = (build, source)
        self._ttl = ttl
        self._ip = ip
        self._fail_open = fail_open
        return self

    @property
    def id(self) -> str:
        """A unique id, for logs."""
        i = self._id
        return i if type(i) is str else f"{_ID_PREFIX}{i:x}"

    @property
    def conclusion(self) -> Conclusion:
        """ALLOW, DENY or ERROR."""
        return self._conclusion

    @property
    def ttl(self) -> float:
        """Seconds the DENY is cached for (0 otherwise)."""
        return self._ttl

    @property
    def ip(self) -> str:
        """The client IP used."""
        return self._ip

    @property
    def results(self) -> tuple[RuleResult, ...]:
        """One :class:`RuleResult` per rule, in the guard's order."""
        results = self._results
        if results is None:
            build, source = self._source  # type: ignore[misc]
            results = build(source)
            # Built from immutable inputs: a race only builds an equal tuple twice.
            self._results = results
        return results

    @property
    def reason(self) -> Reason:
        """The deciding rule's reason, the error, or for ALLOW the last rule's reason."""
        r = self._reason
        if isinstance(r, int):
            return self.results[r].reason
        return r.reason if isinstance(r, RuleResult) else r

    def is_denied(self) -> bool:
        """True if the request should be refused (DENY, or ERROR when fail-closed)."""
        c = self._conclusion
        return c is _DENY or (c is _ERROR and not self._fail_open)

    def is_allowed(self) -> bool:
        """True if the request may proceed (ALLOW, or ERROR when fail-open)."""
        c = self._conclusion
        return not (c is _DENY or (c is _ERROR and not self._fail_open))

    def is_error(self) -> bool:
        """True if no decision could be made (see ``reason`` for why)."""
        return self._conclusion is _ERROR

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for logs and JSON output."""
        return {
            "id": self.id,
            "conclusion": self._conclusion.value,
            "reason": self.reason.to_dict(),
            "ttl": self._ttl,
            "ip": self._ip,
            "rules": [r.to_dict() for r in self.results],
        }

    def __repr__(self) -> str:
        return (
            f"Decision(conclusion={self._conclusion.value}, reason={self.reason!r}, "
            f"ip={self._ip!r}, ttl={self._ttl})"
        )


_new = object.__new__
_DENY, _ERROR = Conclusion.DENY, Conclusion.ERROR
