"""Sign-up protection (private): email validation, verified bots, ``protect_signup``.

The rules and reasons are re-exported by ``arcguard``; the DNS checks and the
published-range refresher are used by the decide engine (service and local
dev mode).
"""

from __future__ import annotations

from .reasons import EmailReason
from .rules import DEFAULT_EMAIL_DENY, EMAIL_TYPES, EmailRule, validate_email

__all__ = ["DEFAULT_EMAIL_DENY", "EMAIL_TYPES", "EmailReason", "EmailRule", "validate_email"]
