"""Rule constructors. Each returns an immutable rule; options are checked here.

What the Wasm core compiles (expressions, regexes, bot names) is checked when
the guard is built, by compiling the whole rule set once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, ClassVar, Literal

from ._exceptions import ConfigurationError
from ._frozen import Frozen

__all__ = [
    "DEFAULT_CHARACTERISTICS",
    "BotRule",
    "FilterRule",
    "FixedWindowRule",
    "Mode",
    "RateLimitRule",
    "Rule",
    "ShieldRule",
    "SlidingWindowRule",
    "TokenBucketRule",
    "detect_bot",
    "filter_rule",
    "fixed_window",
    "parse_duration",
    "rule_from_config",
    "rules_config",
    "shield",
    "sliding_window",
    "token_bucket",
]

Mode = Literal["LIVE", "DRY_RUN"]
MODES = ("LIVE", "DRY_RUN")
DEFAULT_CHARACTERISTICS = ("ip.src",)
SHIELD_CATEGORIES = (
    "SQL_INJECTION",
    "NOSQL_INJECTION",
    "XSS",
    "PATH_TRAVERSAL",
    "FILE_INCLUSION",
    "COMMAND_INJECTION",
    "SSRF",
    "TEMPLATE_INJECTION",
    "JNDI",
    "CRLF",
    "XXE",
    "CONTENT_TYPE",
)
DEFAULT_SHIELD_SENSITIVITY = 2
DEFAULT_SHIELD_BODY_LIMIT = 64 * 1024
DEFAULT_SHIELD_HEADER_LIMIT = 64 * 1024
DEFAULT_SHIELD_THRESHOLD = 5
DEFAULT_SHIELD_WINDOW = 300.0
DEFAULT_SHIELD_BLOCK_FOR = 900.0
MAX_RATE_LIMIT = 10**9
MAX_WINDOW_SECONDS = 366 * 24 * 3600

# Patterns, compiled (and cached by re) on first use: most guards have no
# rate limit, and compiling them at import is a measurable part of a cold start.
_DURATION = r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$"
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_CHARACTERISTIC = (
    r"^(ip\.src|http\.host|http\.request\.method|http\.request\.uri\.path|http\.user_agent"
    r'|http\.request\.headers\["[^"]+"\]|http\.request\.cookies\["[^"]+"\]'
    r'|http\.request\.uri\.args\["[^"]+"\]|[A-Za-z_][A-Za-z0-9_]*)$'
)


def parse_duration(value: str | int | float, *, option: str = "duration") -> float:
    """Parses ``"60s"``, ``"1m"``, ``"250ms"``, ``"1h"``, ``"1d"`` or a number of seconds.

    Raises:
        ConfigurationError: if the value is not a positive duration.
    """
    if isinstance(value, bool):
        raise ConfigurationError(f"{option}: expected a duration, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        m = re.match(_DURATION, value)
        if m is None:
            raise ConfigurationError(
                f"{option}: {value!r} is not a duration (use e.g. '60s', '1m', '500ms', '1h')"
            )
        seconds = float(m.group(1)) * _UNIT[m.group(2)]
    else:
        raise ConfigurationError(f"{option}: expected a duration, got {type(value).__name__}")
    if not 0 < seconds <= MAX_WINDOW_SECONDS:
        raise ConfigurationError(f"{option}: {value!r} must be > 0 and at most 366 days")
    return seconds


def _mode(mode: str) -> Mode:
    if mode not in MODES:
        raise ConfigurationError(f"mode must be 'LIVE' or 'DRY_RUN', got {mode!r}")
    return mode  # type: ignore[return-value]


def _strings(values: Iterable[str] | str | None, option: str) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        raise ConfigurationError(f"{option}: expected a list of strings, got a single string")
    out = tuple(values)
    for v in out:
        if not isinstance(v, str):
            raise ConfigurationError(f"{option}: expected strings, got {v!r}")
    return out


def _count(value: object, option: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(f"{option}: expected an integer, got {value!r}")
    if not minimum <= value <= MAX_RATE_LIMIT:
        raise ConfigurationError(
            f"{option}: {value} must be between {minimum} and {MAX_RATE_LIMIT}"
        )
    return value


def _characteristics(values: Iterable[str] | None) -> tuple[str, ...]:
    chars = _strings(values, "characteristics") or DEFAULT_CHARACTERISTICS
    for c in chars:
        if not re.match(_CHARACTERISTIC, c):
            raise ConfigurationError(
                f"characteristics: {c!r} is neither a request field (ip.src, http.host, "
                'http.request.headers["name"], ...) nor a plain key name passed to protect()'
            )
    return chars


def _reads_body(expression: str) -> bool:
    # Every body field of the filter language starts so (http.request.body.raw
    # today). A mention inside a string literal also counts: reading a body
    # that is not needed costs a copy, missing one lets the body through.
    return "http.request.body" in expression


def _blake2b(data: bytes) -> str:
    try:  # hashlib's own import loads OpenSSL, which a rule id does not need
        from _blake2 import blake2b
    except ImportError:  # pragma: no cover - not CPython
        from hashlib import blake2b
    return blake2b(data, digest_size=8).hexdigest()


_set = object.__setattr__


class Rule(Frozen):
    """Base of every rule. ``mode`` is LIVE (may deny) or DRY_RUN (reports only).

    Rules are immutable values: equal when of the same class with equal
    options, hashable, and their repr shows every option.
    """

    # A Frozen (plain __slots__) class rather than a frozen dataclass: the
    # same positional-or-keyword construction in field order, immutability,
    # equality, hash, repr, pickling, for a fraction of the import time.
    __slots__ = ("mode",)
    _fields: ClassVar[tuple[str, ...]] = ("mode",)

    mode: Mode
    kind: ClassVar[str] = "rule"
    #: Whether the rule needs the decide service (rate limits, shield escalation).
    remote: ClassVar[bool] = False

    def __init__(self, mode: Mode) -> None:
        _set(self, "mode", mode)

    def config(self) -> dict[str, Any]:
        """The rule as the Wasm core and the wire schema see it."""
        return {"kind": self.kind, "mode": self.mode}

    @property
    def reads_body(self) -> bool:
        """Whether the rule looks at the request body (the middleware then reads it)."""
        return False

    @property
    def rule_id(self) -> str:
        """A stable id of the rule's configuration (keys state in stores)."""
        blob = json.dumps(self.config(), sort_keys=True, separators=(",", ":"))
        return _blake2b(blob.encode())


class BotRule(Rule):
    """Bot detection by User-Agent. See :func:`detect_bot`."""

    __slots__ = ("allow", "deny")
    _fields: ClassVar[tuple[str, ...]] = ("mode", "allow", "deny")

    allow: tuple[str, ...]
    deny: tuple[str, ...]
    kind = "bot"

    def __init__(self, mode: Mode, allow: tuple[str, ...] = (), deny: tuple[str, ...] = ()):
        _set(self, "mode", mode)
        _set(self, "allow", allow)
        _set(self, "deny", deny)

    def config(self) -> dict[str, Any]:
        return {
            "kind": "bot",
            "mode": self.mode,
            "allow": list(self.allow),
            "deny": list(self.deny),
        }


class FilterRule(Rule):
    """Expression filter. See :func:`filter_rule`."""

    __slots__ = ("allow", "deny")
    _fields: ClassVar[tuple[str, ...]] = ("mode", "allow", "deny")

    allow: tuple[str, ...]
    deny: tuple[str, ...]
    kind = "filter"

    def __init__(self, mode: Mode, allow: tuple[str, ...] = (), deny: tuple[str, ...] = ()):
        _set(self, "mode", mode)
        _set(self, "allow", allow)
        _set(self, "deny", deny)

    def config(self) -> dict[str, Any]:
        return {
            "kind": "filter",
            "mode": self.mode,
            "allow": list(self.allow),
            "deny": list(self.deny),
        }

    @property
    def reads_body(self) -> bool:
        return any(_reads_body(e) for e in (*self.allow, *self.deny))


class ShieldRule(Rule):
    """Attack detection (WAF). See :func:`shield`."""

    __slots__ = (
        "block_for",
        "body_limit",
        "categories",
        "disable",
        "exclude_fields",
        "exclude_headers",
        "exclude_paths",
        "header_limit",
        "on_body_limit",
        "on_budget_exhausted",
        "on_header_limit",
        "sensitivity",
        "threshold",
        "window",
    )
    _fields: ClassVar[tuple[str, ...]] = (
        "mode",
        "sensitivity",
        "categories",
        "disable",
        "exclude_paths",
        "exclude_fields",
        "exclude_headers",
        "body_limit",
        "on_body_limit",
        "header_limit",
        "on_header_limit",
        "on_budget_exhausted",
        "threshold",
        "window",
        "block_for",
    )

    sensitivity: int
    categories: tuple[str, ...]
    disable: tuple[str, ...]
    exclude_paths: tuple[str, ...]
    exclude_fields: tuple[str, ...]
    exclude_headers: tuple[str, ...]
    body_limit: int
    on_body_limit: str
    header_limit: int
    on_header_limit: str
    on_budget_exhausted: str
    threshold: int
    window: float
    block_for: float
    kind = "shield"

    def __init__(
        self,
        mode: Mode,
        sensitivity: int = DEFAULT_SHIELD_SENSITIVITY,
        categories: tuple[str, ...] = (),
        disable: tuple[str, ...] = (),
        exclude_paths: tuple[str, ...] = (),
        exclude_fields: tuple[str, ...] = (),
        exclude_headers: tuple[str, ...] = (),
        body_limit: int = DEFAULT_SHIELD_BODY_LIMIT,
        on_body_limit: str = "prefix",
        threshold: int = DEFAULT_SHIELD_THRESHOLD,
        window: float = DEFAULT_SHIELD_WINDOW,
        block_for: float = DEFAULT_SHIELD_BLOCK_FOR,
        header_limit: int = DEFAULT_SHIELD_HEADER_LIMIT,
        on_header_limit: str = "deny",
        on_budget_exhausted: str = "deny",
    ) -> None:
        _set(self, "mode", mode)
        _set(self, "sensitivity", sensitivity)
        _set(self, "categories", categories)
        _set(self, "disable", disable)
        _set(self, "exclude_paths", exclude_paths)
        _set(self, "exclude_fields", exclude_fields)
        _set(self, "exclude_headers", exclude_headers)
        _set(self, "body_limit", body_limit)
        _set(self, "on_body_limit", on_body_limit)
        _set(self, "header_limit", header_limit)
        _set(self, "on_header_limit", on_header_limit)
        _set(self, "on_budget_exhausted", on_budget_exhausted)
        _set(self, "threshold", threshold)
        _set(self, "window", window)
        _set(self, "block_for", block_for)

    def config(self) -> dict[str, Any]:
        c: dict[str, Any] = {
            "kind": "shield",
            "mode": self.mode,
            "sensitivity": self.sensitivity,
            "body_limit": self.body_limit,
            "on_body_limit": self.on_body_limit,
            "header_limit": self.header_limit,
            "on_header_limit": self.on_header_limit,
            "on_budget_exhausted": self.on_budget_exhausted,
        }
        if self.categories:
            c["categories"] = list(self.categories)
        if self.disable:
            c["disable"] = list(self.disable)
        if self.exclude_paths:
            c["exclude_paths"] = list(self.exclude_paths)
        if self.exclude_fields:
            c["exclude_fields"] = list(self.exclude_fields)
        if self.exclude_headers:
            c["exclude_headers"] = list(self.exclude_headers)
        return c

    @property
    def reads_body(self) -> bool:
        return True


class RateLimitRule(Rule):
    """Base of the rate-limit rules; decided with shared state."""

    __slots__ = ("characteristics", "match")
    _fields: ClassVar[tuple[str, ...]] = ("mode", "characteristics", "match")

    characteristics: tuple[str, ...]
    match: str | None
    remote = True

    def __init__(
        self,
        mode: Mode,
        characteristics: tuple[str, ...] = DEFAULT_CHARACTERISTICS,
        match: str | None = None,
    ) -> None:
        _set(self, "mode", mode)
        _set(self, "characteristics", characteristics)
        _set(self, "match", match)

    def _base(self) -> dict[str, Any]:
        c: dict[str, Any] = {
            "kind": self.kind,
            "mode": self.mode,
            "characteristics": list(self.characteristics),
        }
        if self.match is not None:
            c["match"] = self.match
        return c

    @property
    def reads_body(self) -> bool:
        return self.match is not None and _reads_body(self.match)


class FixedWindowRule(RateLimitRule):
    """At most ``max`` per ``window`` seconds, windows aligned to the clock."""

    __slots__ = ("max", "window")
    _fields: ClassVar[tuple[str, ...]] = ("mode", "characteristics", "match", "window", "max")

    window: float
    max: int
    kind = "fixed_window"

    def __init__(
        self,
        mode: Mode,
        characteristics: tuple[str, ...] = DEFAULT_CHARACTERISTICS,
        match: str | None = None,
        window: float = 60.0,
        max: int = 100,
    ) -> None:
        RateLimitRule.__init__(self, mode, characteristics, match)
        _set(self, "window", window)
        _set(self, "max", max)

    def config(self) -> dict[str, Any]:
        return {**self._base(), "window": self.window, "max": self.max}


class SlidingWindowRule(RateLimitRule):
    """At most ``max`` per rolling ``interval`` (weighted previous window)."""

    __slots__ = ("interval", "max")
    _fields: ClassVar[tuple[str, ...]] = ("mode", "characteristics", "match", "interval", "max")

    interval: float
    max: int
    kind = "sliding_window"

    def __init__(
        self,
        mode: Mode,
        characteristics: tuple[str, ...] = DEFAULT_CHARACTERISTICS,
        match: str | None = None,
        interval: float = 60.0,
        max: int = 100,
    ) -> None:
        RateLimitRule.__init__(self, mode, characteristics, match)
        _set(self, "interval", interval)
        _set(self, "max", max)

    def config(self) -> dict[str, Any]:
        return {**self._base(), "interval": self.interval, "max": self.max}


class TokenBucketRule(RateLimitRule):
    """A bucket of ``capacity`` tokens refilled by ``refill_rate`` per ``interval``."""

    __slots__ = ("capacity", "interval", "refill_rate")
    _fields: ClassVar[tuple[str, ...]] = (
        "mode",
        "characteristics",
        "match",
        "refill_rate",
        "interval",
        "capacity",
    )

    refill_rate: int
    interval: float
    capacity: int
    kind = "token_bucket"

    def __init__(
        self,
        mode: Mode,
        characteristics: tuple[str, ...] = DEFAULT_CHARACTERISTICS,
        match: str | None = None,
        refill_rate: int = 10,
        interval: float = 1.0,
        capacity: int = 50,
    ) -> None:
        RateLimitRule.__init__(self, mode, characteristics, match)
        _set(self, "refill_rate", refill_rate)
        _set(self, "interval", interval)
        _set(self, "capacity", capacity)

    def config(self) -> dict[str, Any]:
        return {
            **self._base(),
            "refill_rate": self.refill_rate,
            "interval": self.interval,
            "capacity": self.capacity,
        }


def detect_bot(
    *, mode: str = "LIVE", allow: Iterable[str] | None = None, deny: Iterable[str] | None = None
) -> BotRule:
    """Detects automated clients by their User-Agent.

    Give exactly one of ``allow`` (deny every bot not listed) or ``deny`` (deny
    the listed ones). Items are categories such as ``"CATEGORY:SEARCH_ENGINE"``,
    ``"CATEGORY:HTTP_LIBRARY"``, ``"CATEGORY:UNKNOWN"`` (no User-Agent) or bot
    names such as ``"GOOGLEBOT"``. See docs/rules.md for the list.

    Example::

        detect_bot(mode="LIVE", deny=["CATEGORY:HTTP_LIBRARY", "CATEGORY:SCANNER"])

    Raises:
        ConfigurationError: on both or neither list, or an unknown name (at guard build).
    """
    a, d = _strings(allow, "allow"), _strings(deny, "deny")
    if bool(a) == bool(d):
        raise ConfigurationError("detect_bot: give exactly one of allow=[...] or deny=[...]")
    return BotRule(mode=_mode(mode), allow=a, deny=d)


def filter_rule(
    *, mode: str = "LIVE", allow: Iterable[str] | None = None, deny: Iterable[str] | None = None
) -> FilterRule:
    """Allows or denies requests by expressions over request fields.

    ``deny``: deny when any expression is true. ``allow``: deny when none is.
    The language follows Cloudflare's rules language; see docs/rules.md.

    Example::

        filter_rule(deny=['http.request.uri.path matches "^/admin" and not ip.src in {10.0.0.0/8}'])

    Raises:
        ConfigurationError: on both or neither list; a RuleError naming the
            position of a bad expression when the guard is built.
    """
    a, d = _strings(allow, "allow"), _strings(deny, "deny")
    if bool(a) == bool(d):
        raise ConfigurationError("filter_rule: give exactly one of allow=[...] or deny=[...]")
    return FilterRule(mode=_mode(mode), allow=a, deny=d)


def shield(
    *,
    mode: str = "LIVE",
    sensitivity: int = DEFAULT_SHIELD_SENSITIVITY,
    categories: Iterable[str] | None = None,
    disable: Iterable[str] | None = None,
    exclude_paths: Iterable[str] | None = None,
    exclude_fields: Iterable[str] | None = None,
    exclude_headers: Iterable[str] | None = None,
    body_limit: int = DEFAULT_SHIELD_BODY_LIMIT,
    on_body_limit: str = "prefix",
    header_limit: int = DEFAULT_SHIELD_HEADER_LIMIT,
    on_header_limit: str = "deny",
    on_budget_exhausted: str = "deny",
    threshold: int = DEFAULT_SHIELD_THRESHOLD,
    window: str | float = DEFAULT_SHIELD_WINDOW,
    block_for: str | float = DEFAULT_SHIELD_BLOCK_FOR,
) -> ShieldRule:
    """Detects injection attacks in the path, query, headers, cookies and body.

    A suspicious request is denied (LIVE). With a decide service (or in local
    dev mode), a client that sends ``threshold`` suspicious requests within
    ``window`` is blocked for ``block_for`` even for clean-looking requests.

    Parameters:
        sensitivity: 1 (fewest false positives) to 4 (catches most).
        categories / disable: enable only these, or all but these (see docs/shield.md).
        exclude_paths: path prefixes not inspected.
        exclude_fields: locations such as ``"query:token"``, ``"body:$.html"``.
        body_limit: body bytes inspected; ``on_body_limit``: "prefix", "allow" or "deny".
        header_limit: header and cookie value bytes inspected (and at most 128
            headers); ``on_header_limit``: "deny" (default), "prefix" or "allow".
        on_budget_exhausted: "deny" (default) or "allow" a request whose
            inspection exhausted the core's fuel or time budget; the other
            rules are decided before the shield runs, either way.

    Raises:
        ConfigurationError: on an out-of-range option.
    """
    if isinstance(sensitivity, bool) or sensitivity not in (1, 2, 3, 4):
        raise ConfigurationError(f"shield: sensitivity must be 1, 2, 3 or 4, got {sensitivity!r}")
    cats = tuple(c.upper() for c in _strings(categories, "categories"))
    dis = tuple(c.upper() for c in _strings(disable, "disable"))
    for c in cats + dis:
        if c not in SHIELD_CATEGORIES:
            raise ConfigurationError(
                f"shield: unknown category {c!r}; known: {', '.join(SHIELD_CATEGORIES)}"
            )
    for option, value in (("on_body_limit", on_body_limit), ("on_header_limit", on_header_limit)):
        if value not in ("prefix", "allow", "deny"):
            raise ConfigurationError(
                f"shield: {option} must be 'prefix', 'allow' or 'deny', got {value!r}"
            )
    if on_budget_exhausted not in ("deny", "allow"):
        raise ConfigurationError(
            f"shield: on_budget_exhausted must be 'deny' or 'allow', got {on_budget_exhausted!r}"
        )
    return ShieldRule(
        mode=_mode(mode),
        sensitivity=sensitivity,
        categories=cats,
        disable=dis,
        exclude_paths=_strings(exclude_paths, "exclude_paths"),
        exclude_fields=_strings(exclude_fields, "exclude_fields"),
        exclude_headers=tuple(h.lower() for h in _strings(exclude_headers, "exclude_headers")),
        body_limit=_count(body_limit, "shield: body_limit", minimum=0),
        on_body_limit=on_body_limit,
        header_limit=_count(header_limit, "shield: header_limit", minimum=0),
        on_header_limit=on_header_limit,
        on_budget_exhausted=on_budget_exhausted,
        threshold=_count(threshold, "shield: threshold"),
        window=parse_duration(window, option="shield: window"),
        block_for=parse_duration(block_for, option="shield: block_for"),
    )


def fixed_window(
    *,
    mode: str = "LIVE",
    window: str | float,
    max: int,
    characteristics: Iterable[str] | None = None,
    match: str | None = None,
) -> FixedWindowRule:
    """At most ``max`` requests per ``window`` for each client.

    Example::

        fixed_window(mode="LIVE", window="60s", max=100, characteristics=["ip.src"])

    ``characteristics`` are request fields or keys passed to ``protect()``;
    default: the client IP (IPv6 by /64). ``match`` limits the rule to requests
    for which the filter expression is true.

    Raises:
        ConfigurationError: on max < 1, a bad window or characteristic.
    """
    return FixedWindowRule(
        mode=_mode(mode),
        characteristics=_characteristics(characteristics),
        match=match,
        window=parse_duration(window, option="fixed_window: window"),
        max=_count(max, "fixed_window: max"),
    )


def sliding_window(
    *,
    mode: str = "LIVE",
    interval: str | float,
    max: int,
    characteristics: Iterable[str] | None = None,
    match: str | None = None,
) -> SlidingWindowRule:
    """At most ``max`` requests in any rolling ``interval`` for each client.

    Raises:
        ConfigurationError: on max < 1, a bad interval or characteristic.
    """
    return SlidingWindowRule(
        mode=_mode(mode),
        characteristics=_characteristics(characteristics),
        match=match,
        interval=parse_duration(interval, option="sliding_window: interval"),
        max=_count(max, "sliding_window: max"),
    )


def token_bucket(
    *,
    mode: str = "LIVE",
    refill_rate: int,
    interval: str | float,
    capacity: int,
    characteristics: Iterable[str] | None = None,
    match: str | None = None,
) -> TokenBucketRule:
    """A token bucket per client: ``capacity`` tokens, ``refill_rate`` added per ``interval``.

    ``protect(request, requested=n)`` takes ``n`` tokens.

    Raises:
        ConfigurationError: on refill_rate < 1, capacity < refill_rate, a bad interval.
    """
    rate = _count(refill_rate, "token_bucket: refill_rate")
    cap = _count(capacity, "token_bucket: capacity")
    if cap < rate:
        raise ConfigurationError(
            f"token_bucket: capacity ({cap}) must be at least refill_rate ({rate})"
        )
    return TokenBucketRule(
        mode=_mode(mode),
        characteristics=_characteristics(characteristics),
        match=match,
        refill_rate=rate,
        interval=parse_duration(interval, option="token_bucket: interval"),
        capacity=cap,
    )


def rules_config(rules: Iterable[Rule]) -> str:
    """The JSON rule-set configuration the Wasm core compiles."""
    return json.dumps({"rules": [r.config() for r in rules]}, separators=(",", ":"))


_CONSTRUCTORS: dict[str, Any] = {}


def rule_from_config(config: dict[str, Any]) -> Rule:
    """Builds a rule from its configuration mapping (the inverse of ``Rule.config()``).

    Used for rules files (TOML) and for rules received by the decide service.

    Raises:
        ConfigurationError: on an unknown kind or option, naming it.
    """
    if not isinstance(config, dict):
        raise ConfigurationError(f"a rule must be a table/mapping, got {type(config).__name__}")
    opts = dict(config)
    kind = opts.pop("kind", None)
    ctor = _CONSTRUCTORS.get(kind) if isinstance(kind, str) else None
    if ctor is None:
        raise ConfigurationError(
            f"unknown rule kind {kind!r}; known: {', '.join(sorted(_CONSTRUCTORS))}"
        )
    try:
        rule: Rule = ctor(**opts)
    except TypeError as exc:
        raise ConfigurationError(f"rule {kind!r}: {exc}") from None
    return rule


_CONSTRUCTORS.update(
    {
        "bot": detect_bot,
        "filter": filter_rule,
        "shield": shield,
        "fixed_window": fixed_window,
        "sliding_window": sliding_window,
        "token_bucket": token_bucket,
    }
)

# The sign-up rules live in their own package, which builds on this module.
from ._signup.rules import validate_email  # noqa: E402

_CONSTRUCTORS["email"] = validate_email
