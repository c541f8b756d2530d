"""The exceptions ArcGuard raises.

Only misconfiguration raises, and it raises when the guard is built; trouble
while deciding a request (a timeout, an unreachable service, a trap in the
Wasm sandbox) becomes an ERROR decision instead.

Tree::

    ArcGuardError
    ├── ConfigurationError      bad rule, expression, option or endpoint (also a ValueError)
    │   └── RuleError           one rule is invalid; names the rule and the position
    └── DecideError             a decision could not be made (internal; turned into ERROR)
        ├── CoreError           the Wasm core trapped, ran out of budget or misbehaved
        └── TransportError      the decide service could not be reached or answered badly
            ├── TimeoutError_   the call's deadline passed
            ├── Unavailable     the service is down or the circuit is open
            └── Unauthenticated the API key was refused
"""

from __future__ import annotations

__all__ = [
    "ArcGuardError",
    "ConfigurationError",
    "CoreError",
    "DecideError",
    "RuleError",
    "TransportError",
    "TransportTimeout",
    "Unauthenticated",
    "Unavailable",
]


class ArcGuardError(Exception):
    """Base class of every ArcGuard exception."""


class ConfigurationError(ArcGuardError, ValueError):
    """The guard, a rule or an endpoint is misconfigured. Raised at construction."""


class RuleError(ConfigurationError):
    """One rule is invalid.

    Attributes:
        rule_index: the rule's position in the guard's list (or None).
        kind: the rule's kind, such as ``"filter"``.
        option: the option at fault, such as ``"deny"``.
        position: the byte offset of the problem in an expression, if known.
    """

    def __init__(
        self,
        message: str,
        *,
        rule_index: int | None = None,
        kind: str = "",
        option: str = "",
        position: int | None = None,
    ) -> None:
        super().__init__(message)
        self.rule_index = rule_index
        self.kind = kind
        self.option = option
        self.position = position


class DecideError(ArcGuardError):
    """A decision could not be made. Never reaches the app: becomes ERROR."""


class CoreError(DecideError):
    """The Wasm core trapped, exhausted its budget or returned garbage."""


class TransportError(DecideError):
    """The decide service could not be reached or answered badly."""


class TransportTimeout(TransportError):
    """The call to the decide service passed its deadline."""


class Unavailable(TransportError):
    """The decide service is unreachable, or its circuit breaker is open."""


class Unauthenticated(TransportError):
    """The decide service refused the API key."""
