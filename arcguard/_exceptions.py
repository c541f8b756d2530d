"""The exceptions ArcGuard raises.

Only misconfiguration raises, and it raises when the guard is built; trouble
while deciding a request (a timeout, an unreachable service, a trap in the
Wasm sandbox) becomes an ERROR decision instead.

Tree::

    ArcGuardError
    ├── ConfigurationError      bad rule, expression, option or endpoint (also a ValueError)
    │   └── RuleError           one rule is invalid; names the rule and the position
    ├── DiscoveryError          DNS discovery got no answer (the selector keeps what it knew)
    └── DecideError             a decision could not be made (internal; turned into ERROR)
        ├── CoreError           the Wasm core trapped, ran out of budget or misbehaved
        ├── StoreUnavailable    the decide engine's store failed (ERROR for that rule)
        └── TransportError      the decide service could not be reached or answered badly
            ├── TransportTimeout the call's deadline passed
            ├── Unavailable     the service is down or the circuit is open
            └── Unauthenticated the API key was refused
"""

from __future__ import annotations

__all__ = [
    "ArcGuardError",
    "ConfigurationError",
    "CoreError",
    "DecideError",
    "DiscoveryError",
    "RuleError",
    "StoreUnavailable",
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


class DiscoveryError(ArcGuardError):
    """DNS discovery could not get an answer (timeout, no reachable server, bad name).

    A name that exists but has no SRV record is not an error: discovery
    returns an empty list.
    """


class DecideError(ArcGuardError):
    """A decision could not be made. Never reaches the app: becomes ERROR."""


class CoreError(DecideError):
    """The Wasm core trapped, exhausted its budget or returned garbage."""


class StoreUnavailable(DecideError):
    """The decide engine's store could not be reached or failed (Redis down, a
    timeout). Becomes an ERROR result for that rule, never raised to apps."""


class TransportError(DecideError):
    """The decide service could not be reached or answered badly."""


class TransportTimeout(TransportError):
    """The call to the decide service passed its deadline."""


class Unavailable(TransportError):
    """The decide service is unreachable, or its circuit breaker is open."""


class Unauthenticated(TransportError):
    """The decide service refused the API key."""
