"""The sign-up rules: ``validate_email`` (and, built on it, ``protect_signup``).

The syntax and list checks run in the Wasm core (``core-wasm/core/src/email``);
the mail-exchanger (MX) check runs in the decide engine, in the decide service
or in local dev mode, only when the syntax and lists left the decision open.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from .._exceptions import ConfigurationError
from .._rules import Mode, Rule, _mode, _strings

__all__ = [
    "DEFAULT_EMAIL_DENY",
    "EMAIL_TYPES",
    "EmailRule",
    "validate_email",
]

#: The email types, in the order reasons list them.
EMAIL_TYPES = ("INVALID", "DISPOSABLE", "FREE", "NO_MX_RECORDS", "UNKNOWN")
#: What ``validate_email()`` denies when given neither ``deny`` nor ``allow``.
DEFAULT_EMAIL_DENY = ("INVALID", "DISPOSABLE", "NO_MX_RECORDS")
#: The types only the MX check can give.
MX_TYPES = frozenset({"NO_MX_RECORDS", "UNKNOWN"})

_set = object.__setattr__


def _email_types(values: Iterable[str] | None, option: str) -> tuple[str, ...]:
    types = _strings(values, option)
    for t in types:
        if t not in EMAIL_TYPES:
            hint = f" (did you mean {t.upper()!r}?)" if t.upper() in EMAIL_TYPES else ""
            raise ConfigurationError(
                f"validate_email: {option}: unknown email type {t!r}{hint}; "
                f"known: {', '.join(EMAIL_TYPES)}"
            )
    return types


class EmailRule(Rule):
    """Email validation. See :func:`validate_email`."""

    __slots__ = ("allow", "allow_domain_literal", "allow_quoted_local", "deny", "require_tld")
    _fields: ClassVar[tuple[str, ...]] = (
        "mode",
        "deny",
        "allow",
        "require_tld",
        "allow_quoted_local",
        "allow_domain_literal",
    )

    deny: tuple[str, ...]
    allow: tuple[str, ...]
    require_tld: bool
    allow_quoted_local: bool
    allow_domain_literal: bool
    kind = "email"

    def __init__(
        self,
        mode: Mode,
        deny: tuple[str, ...] = DEFAULT_EMAIL_DENY,
        allow: tuple[str, ...] = (),
        require_tld: bool = True,
        allow_quoted_local: bool = False,
        allow_domain_literal: bool = False,
    ) -> None:
        _set(self, "mode", mode)
        _set(self, "deny", deny)
        _set(self, "allow", allow)
        _set(self, "require_tld", require_tld)
        _set(self, "allow_quoted_local", allow_quoted_local)
        _set(self, "allow_domain_literal", allow_domain_literal)

    @property
    def denied_types(self) -> frozenset[str]:
        """The email types that make this rule deny."""
        if self.allow:
            return frozenset(EMAIL_TYPES) - frozenset(self.allow)
        return frozenset(self.deny)

    @property
    def remote(self) -> bool:  # type: ignore[override]
        """Whether the decision may need the MX check (the engine's, remote or in-process)."""
        return bool(self.denied_types & MX_TYPES)

    def config(self) -> dict[str, Any]:
        c: dict[str, Any] = {"kind": "email", "mode": self.mode}
        if self.allow:
            c["allow"] = list(self.allow)
        else:
            c["deny"] = list(self.deny)
        c["require_tld"] = self.require_tld
        c["allow_quoted_local"] = self.allow_quoted_local
        c["allow_domain_literal"] = self.allow_domain_literal
        return c


def _flag(value: object, option: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"validate_email: {option} must be True or False, got {value!r}")
    return value


def validate_email(
    *,
    mode: str = "LIVE",
    deny: Iterable[str] | None = None,
    allow: Iterable[str] | None = None,
    require_tld: bool = True,
    allow_quoted_local: bool = False,
    allow_domain_literal: bool = False,
) -> EmailRule:
    """Validates the email address passed as ``protect(request, email=...)``.

    Each address gets email types: ``INVALID`` (bad syntax: nothing else is
    checked), ``DISPOSABLE`` (a throw-away mailbox domain), ``FREE`` (a free
    provider such as gmail.com), ``NO_MX_RECORDS`` (the domain cannot receive
    mail: no MX and no usable A/AAAA, a null MX, NXDOMAIN, or SPF ``-all``
    without MX) and ``UNKNOWN`` (the DNS check timed out or failed). Give
    ``deny`` (deny an address with any of these types; default
    ``["INVALID", "DISPOSABLE", "NO_MX_RECORDS"]``) or ``allow`` (deny any
    type not listed).

    Syntax and the disposable / free lists are decided in-process; the MX
    check needs the decide service or local dev mode, and is only made when
    ``NO_MX_RECORDS`` or ``UNKNOWN`` would deny and nothing else decided.
    ``UNKNOWN`` is allowed unless listed in ``deny``.

    Parameters:
        require_tld: the domain must have a dot and a top-level domain.
        allow_quoted_local: accept quoted local parts (``"john doe"@example.com``).
        allow_domain_literal: accept ``user@[192.0.2.1]``.

    Example::

        guard = ArcGuard(rules=[validate_email(mode="LIVE", deny=["INVALID", "DISPOSABLE"])])
        decision = guard.protect(request, email=form["email"])

    Raises:
        ConfigurationError: on both lists, an unknown type or a non-boolean option.
    """
    d = _email_types(deny, "deny")
    a = _email_types(allow, "allow")
    if d and a:
        raise ConfigurationError("validate_email: give either deny=[...] or allow=[...], not both")
    for given, got, name in ((deny, d, "deny"), (allow, a, "allow")):
        if given is not None and not got:
            raise ConfigurationError(
                f"validate_email: {name}=[] is empty; give types or leave it out"
            )
    if not d and not a:
        d = DEFAULT_EMAIL_DENY
    return EmailRule(
        mode=_mode(mode),
        deny=d if not a else (),
        allow=a,
        require_tld=_flag(require_tld, "require_tld"),
        allow_quoted_local=_flag(allow_quoted_local, "allow_quoted_local"),
        allow_domain_literal=_flag(allow_domain_literal, "allow_domain_literal"),
    )
