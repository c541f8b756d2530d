"""Sign-up protection (private): email validation, verified bots, ``protect_signup``.

The rules and reasons are re-exported by ``arcguard``; the DNS checks and the
published-range refresher are used by the decide engine (service and local
dev mode).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from .._rules import Rule
from .reasons import EmailReason
from .rules import DEFAULT_EMAIL_DENY, EMAIL_TYPES, EmailRule, validate_email

if TYPE_CHECKING:
    from .dns import DnsChecker

__all__ = [
    "DEFAULT_EMAIL_DENY",
    "EMAIL_TYPES",
    "SIGNUP_SERVICE_TIMEOUT",
    "EmailReason",
    "EmailRule",
    "dns_checker_for",
    "needs_dns",
    "service_timeout",
    "validate_email",
]

#: The least deadline of a decide-service call when a rule may need a DNS check:
#: the service's DNS bound (1 s by default) and a margin for the call itself.
SIGNUP_SERVICE_TIMEOUT = 1.5


def needs_dns(rules: Iterable[Rule]) -> bool:
    """Whether some rule may need a DNS check of the decide engine."""
    return any(isinstance(r, EmailRule) and r.remote for r in rules)


def dns_checker_for(rules: Iterable[Rule], environ: Mapping[str, str]) -> DnsChecker | None:
    """The DNS checker local dev mode uses for these rules (None: no rule needs one).

    Raises:
        ConfigurationError: malformed ``ARCGUARD_DNS_*`` settings.
    """
    if not needs_dns(rules):
        return None
    from .dns import DnsChecker, DnsSettings

    return DnsChecker(DnsSettings.from_env(environ))


def service_timeout(rules: Iterable[Rule], timeout: float) -> float:
    """The deadline of a call to the decide service for these rules: a DNS check
    may take up to its own bound (``DEFAULT_DNS_TIMEOUT``) before the service answers."""
    return max(timeout, SIGNUP_SERVICE_TIMEOUT) if needs_dns(rules) else timeout
