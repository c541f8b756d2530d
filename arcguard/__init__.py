"""ArcGuard: request security for Python web apps.

Rules are compiled once into a WebAssembly core that decides most requests
in-process in microseconds; rate limits and cross-request signals go to a
decide service (or, in local dev mode, to the same engine embedded in-process).

Example::

    from arcguard import ArcGuard, detect_bot, filter_rule, shield

    guard = ArcGuard(rules=[
        shield(mode="LIVE"),
        detect_bot(mode="LIVE", deny=["CATEGORY:HTTP_LIBRARY", "CATEGORY:SCANNER"]),
        filter_rule(mode="LIVE", deny=['http.request.uri.path matches "^/admin"']),
    ])
    decision = guard.protect(request)
    if decision.is_denied():
        ...
"""

import typing as _typing

from ._decision import (
    BotReason,
    Conclusion,
    Decision,
    ErrorReason,
    FilterReason,
    RateLimitReason,
    Reason,
    RuleResult,
    RuleState,
    ShieldReason,
)
from ._exceptions import (
    ArcGuardError,
    ConfigurationError,
    CoreError,
    DecideError,
    RuleError,
    TransportError,
    TransportTimeout,
    Unauthenticated,
    Unavailable,
)
from ._guard import ArcGuard
from ._request import ProxyPolicy, RequestDetails
from ._rules import (
    BotRule,
    FilterRule,
    FixedWindowRule,
    Rule,
    ShieldRule,
    SlidingWindowRule,
    TokenBucketRule,
    detect_bot,
    filter_rule,
    fixed_window,
    shield,
    sliding_window,
    token_bucket,
)
from ._signup import EmailReason, EmailRule, validate_email

if _typing.TYPE_CHECKING:
    from ._middleware import ArcGuardMiddleware, ArcGuardWSGIMiddleware

__version__ = "0.1.0"

# The middleware is loaded on first use: an app that calls protect() itself
# (or a short-lived process deciding once) does not pay for it at import.
_LAZY = {"ArcGuardMiddleware": "_middleware", "ArcGuardWSGIMiddleware": "_middleware"}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "ArcGuard",
    "ArcGuardError",
    "ArcGuardMiddleware",
    "ArcGuardWSGIMiddleware",
    "BotReason",
    "BotRule",
    "Conclusion",
    "ConfigurationError",
    "CoreError",
    "DecideError",
    "Decision",
    "EmailReason",
    "EmailRule",
    "ErrorReason",
    "FilterReason",
    "FilterRule",
    "FixedWindowRule",
    "ProxyPolicy",
    "RateLimitReason",
    "Reason",
    "RequestDetails",
    "Rule",
    "RuleError",
    "RuleResult",
    "RuleState",
    "ShieldReason",
    "ShieldRule",
    "SlidingWindowRule",
    "TokenBucketRule",
    "TransportError",
    "TransportTimeout",
    "Unauthenticated",
    "Unavailable",
    "__version__",
    "detect_bot",
    "filter_rule",
    "fixed_window",
    "shield",
    "sliding_window",
    "token_bucket",
    "validate_email",
]
