"""The reasons of the sign-up rules (``validate_email``, ``protect_signup``)."""

from __future__ import annotations

from typing import Any

from .._decision import Reason

__all__ = ["EmailReason", "signup_reason_from_dict"]

_set = object.__setattr__


class EmailReason(Reason):
    """An email rule's reason.

    Attributes:
        email: the normalised address (None when it is invalid).
        domain: its domain, lower case, Unicode (``ascii_domain``: as DNS sees it).
        registrable_domain: the domain under the public suffix list
            (``mail.example.co.uk`` -> ``example.co.uk``).
        email_types: the types found (``INVALID``, ``DISPOSABLE``, ``FREE``,
            ``NO_MX_RECORDS``, ``UNKNOWN``).
        denied: whether a type the rule denies was found.
        listed: the disposable or free list entry the domain matched.
        error: what is wrong with an invalid address.
        mx: the MX check's outcome (``"mx"``, ``"a_fallback"``, ``"null_mx"``,
            ``"nxdomain"``, ``"no_mail_host"``, ``"spf_reject_all"``,
            ``"timeout"``, ``"servfail"``...), ``"pending"`` while the core
            waits for it, None when it was not needed.
        detail: the MX check's own words (e.g. which server timed out).
    """

    __slots__ = (
        "ascii_domain",
        "denied",
        "detail",
        "domain",
        "email",
        "email_types",
        "error",
        "listed",
        "mx",
        "registrable_domain",
    )
    _fields = __match_args__ = (
        "type",
        "email",
        "domain",
        "ascii_domain",
        "registrable_domain",
        "email_types",
        "denied",
        "listed",
        "error",
        "mx",
        "detail",
    )

    email: str | None
    domain: str | None
    ascii_domain: str | None
    registrable_domain: str | None
    email_types: tuple[str, ...]
    denied: bool
    listed: str | None
    error: str | None
    mx: str | None
    detail: str | None

    def __init__(
        self,
        type: str = "EMAIL",
        email: str | None = None,
        domain: str | None = None,
        ascii_domain: str | None = None,
        registrable_domain: str | None = None,
        email_types: tuple[str, ...] = (),
        denied: bool = False,
        listed: str | None = None,
        error: str | None = None,
        mx: str | None = None,
        detail: str | None = None,
    ) -> None:
        _set(self, "type", type)
        _set(self, "email", email)
        _set(self, "domain", domain)
        _set(self, "ascii_domain", ascii_domain)
        _set(self, "registrable_domain", registrable_domain)
        _set(self, "email_types", email_types)
        _set(self, "denied", denied)
        _set(self, "listed", listed)
        _set(self, "error", error)
        _set(self, "mx", mx)
        _set(self, "detail", detail)

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["email_types"] = list(self.email_types)
        return d


def _opt(d: dict[str, Any], key: str) -> str | None:
    v = d.get(key)
    return None if v is None else str(v)


def email_reason_from_dict(d: dict[str, Any]) -> EmailReason:
    """An :class:`EmailReason` from its JSON object (the core's or the engine's)."""
    return EmailReason(
        type="EMAIL",
        email=_opt(d, "email"),
        domain=_opt(d, "domain"),
        ascii_domain=_opt(d, "ascii_domain"),
        registrable_domain=_opt(d, "registrable_domain"),
        email_types=tuple(str(t) for t in d.get("email_types") or ()),
        denied=bool(d.get("denied")),
        listed=_opt(d, "listed"),
        error=_opt(d, "error"),
        mx=_opt(d, "mx"),
        detail=_opt(d, "detail"),
    )


def signup_reason_from_dict(t: str, d: dict[str, Any]) -> Reason:
    """The typed reason of a sign-up rule's JSON object of type ``t``."""
    return email_reason_from_dict(d)
