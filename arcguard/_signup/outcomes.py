"""How the decide engine completes a sign-up rule's result once its DNS check
has answered (no I/O: the engine yields the lookups, this makes the verdict)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .rules import EMAIL_TYPES

if TYPE_CHECKING:
    from .dns import MxResult

__all__ = ["email_outcome", "parse_reason"]

_ALLOW, _DENY = 0, 1


def parse_reason(text: str) -> dict[str, Any]:
    """A core reason's JSON object (an empty dict if it is not one)."""
    try:
        d = json.loads(text)
    except ValueError:
        return {}
    return d if isinstance(d, dict) else {}


def _dumps(d: dict[str, Any]) -> str:
    return json.dumps(d, ensure_ascii=False, separators=(",", ":"))


def email_outcome(reason: dict[str, Any], mx: MxResult, deny: frozenset[str]) -> tuple[int, str]:
    """Code and reason text of an email result whose MX check answered ``mx``.

    ``reason`` is the core's ``"mx": "pending"`` reason; the MX types
    (``NO_MX_RECORDS`` when the domain has no mail host, ``UNKNOWN`` when the
    check could not tell) join the types found in-process.
    """
    found = set(reason.get("email_types") or ())
    if mx.has_mail is False:
        found.add("NO_MX_RECORDS")
    elif mx.has_mail is None:
        found.add("UNKNOWN")
    denied = bool(found & deny)
    out = dict(reason)
    out["email_types"] = [t for t in EMAIL_TYPES if t in found]
    out["denied"] = denied
    out["mx"] = mx.outcome
    out["detail"] = mx.detail
    return (_DENY if denied else _ALLOW), _dumps(out)
