"""The guard: built once with its rules, asked about every request."""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._cache import DEFAULT_CACHE_SIZE, DenyCache
from ._core import Core, decode_results, get_core
from ._decision import (
    Conclusion,
    Decision,
    ErrorReason,
    Reason,
    RuleResult,
    RuleState,
)
from ._exceptions import ConfigurationError, CoreError, DecideError, TransportError
from ._fingerprint import fingerprint
from ._request import (
    DEFAULT_MAX_BODY,
    ProxyPolicy,
    RequestDetails,
    details_from_object,
)
from ._rules import Rule, ShieldRule, rules_config

if TYPE_CHECKING:
    from ._transport import Transport

__all__ = ["DEFAULT_TIMEOUT", "ArcGuard"]

logger = logging.getLogger("arcguard")

#: Seconds a call to the decide service may take before the decision is ERROR.
DEFAULT_TIMEOUT = 0.020

_ALLOW, _DENY, _NEEDS_REMOTE, _NOT_RUN, _ERROR = 0, 1, 2, 3, 4
_CONCLUSION = {
    _ALLOW: Conclusion.ALLOW,
    _DENY: Conclusion.DENY,
    _NOT_RUN: Conclusion.ALLOW,
    _ERROR: Conclusion.ERROR,
}
# Enum members as module constants: attribute access on an Enum class costs
# a fifth of a microsecond, several times per rule per request.
_C_ALLOW, _C_DENY, _C_ERROR = Conclusion.ALLOW, Conclusion.DENY, Conclusion.ERROR
_S_RUN, _S_DRY_RUN, _S_NOT_RUN, _S_CACHED = (
    RuleState.RUN,
    RuleState.DRY_RUN,
    RuleState.NOT_RUN,
    RuleState.CACHED,
)
_NONE_REASON = Reason()
_ids = itertools.count(1)
_ID_PREFIX = "lrq_" + os.urandom(4).hex()


def _next_id() -> str:
    return f"{_ID_PREFIX}{next(_ids):x}"


class ArcGuard:
    """Protects requests with a set of rules, compiled once.

    Example::

        from arcguard import ArcGuard, detect_bot, filter_rule

        guard = ArcGuard(rules=[
            detect_bot(mode="LIVE", deny=["CATEGORY:HTTP_LIBRARY"]),
            filter_rule(mode="LIVE", deny=['http.request.uri.path matches "^/admin"']),
        ])
        decision = guard.protect(request)   # an ASGI scope, WSGI environ or request object
        if decision.is_denied():
            ...

    Parameters:
        rules: the rules, evaluated in order.
        key: API key of the decide service. Without one (or with
            ``ARCGUARD_ENV=development``) the guard runs in local dev mode: the
            decide engine is embedded in-process with an in-memory store.
        endpoint: the decide service (``host:port``); else chosen from the
            environment (platform, discovery, probes; see docs).
        fail_open: when no decision can be made (service down, Wasm trap), allow
            the request (True, the default) or deny it.
        trusted_proxies: networks (CIDR) of proxies whose ``X-Forwarded-For`` is believed.
        platform: a platform whose client-IP header is believed (``"fly"``,
            ``"cloudflare"``...); default: detected from the environment.
        timeout: seconds a call to the decide service may take.
        max_body: body bytes the middleware hands to rules that read bodies.
        cache_size: entries of the deny cache (0 disables it).
        environ: the environment to read ``ARCGUARD_*`` settings from (default ``os.environ``).
        transport: a ready transport, instead of the one built from the settings (tests).

    Raises:
        ConfigurationError: on an invalid rule, expression or option (RuleError names
            the rule and the position of the problem).
    """

    def __init__(
        self,
        *,
        rules: Iterable[Rule],
        key: str | None = None,
        endpoint: str | None = None,
        fail_open: bool = True,
        trusted_proxies: Iterable[str] = (),
        platform: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_body: int = DEFAULT_MAX_BODY,
        cache_size: int = DEFAULT_CACHE_SIZE,
        environ: Mapping[str, str] | None = None,
        transport: Transport | None = None,
        core: Core | None = None,
    ) -> None:
        env: Mapping[str, str] = os.environ if environ is None else environ
        self.rules: tuple[Rule, ...] = tuple(rules)
        for i, r in enumerate(self.rules):
            if not isinstance(r, Rule):
                raise ConfigurationError(
                    f"rules[{i}] is {type(r).__name__}, not a rule (use detect_bot(), "
                    "filter_rule(), shield(), fixed_window()...)"
                )
        if not isinstance(fail_open, bool):
            raise ConfigurationError("fail_open must be True or False")
        if not (0 < timeout <= 60):
            raise ConfigurationError(f"timeout must be in (0, 60] seconds, got {timeout!r}")
        if max_body < 0:
            raise ConfigurationError("max_body must be >= 0")
        self.fail_open = fail_open
        self.timeout = timeout
        self.max_body = max_body
        self._core = core or get_core()
        self._config = self._core.compile(rules_config(self.rules))
        self._plan = tuple(
            (r.kind, r.mode, r.mode == "LIVE", r.rule_id, isinstance(r, ShieldRule))
            for r in self.rules
        )
        self._has_shield = any(p[4] for p in self._plan)
        self._scoped_cache = any(getattr(r, "match", None) is not None for r in self.rules)
        self._needs_body = self._has_shield
        self._remote_capable = any(r.remote for r in self.rules) or self._has_shield
        if platform is None:
            platform = _detected_platform(env)
        self._policy = ProxyPolicy.build(trusted_proxies, platform)
        self._cache = DenyCache(cache_size)
        key = key if key is not None else env.get("ARCGUARD_KEY") or None
        self.dev_mode = key is None or env.get("ARCGUARD_ENV", "").lower() == "development"
        self._transport: Transport | None = transport
        # Dev mode needs the in-process engine only for rules it resolves; with
        # a service, every locally made decision is also reported to it.
        if self._transport is None and (self._remote_capable or not self.dev_mode):
            self._transport = self._build_transport(key, endpoint, env)

    def _build_transport(
        self, key: str | None, endpoint: str | None, env: Mapping[str, str]
    ) -> Transport:
        from . import _transport

        if self.dev_mode:
            return _transport.local_transport(core=self._core)
        if key is None:  # remote mode needs a key; dev_mode covers key None
            raise ConfigurationError("an API key is required outside development mode")
        return _transport.remote_transport(
            key=key, endpoint=endpoint, environ=env, timeout=self.timeout
        )

    @property
    def needs_body(self) -> bool:
        """Whether some rule inspects request bodies (the middleware then reads them)."""
        return self._needs_body

    @property
    def proxy_policy(self) -> ProxyPolicy:
        """How the client IP is found."""
        return self._policy

    def details(self, request: Any, *, body: bytes | None = None) -> RequestDetails:
        """The request details rules will see for ``request``."""
        details = details_from_object(request, self._policy)
        if body is not None:
            details.body = body[: self.max_body]
        return details

    # -- deciding -----------------------------------------------------------------

    def protect(self, request: Any, *, requested: int = 1, **extras: Any) -> Decision:
        """Decides about one request. Never raises for trouble at request time.

        Parameters:
            request: an ASGI scope, a WSGI environ, a Starlette/Flask/Django request,
                or :class:`RequestDetails`.
            requested: tokens or hits this request costs rate limits.
            extras: values for user-defined characteristics and filter fields
                (e.g. ``userId="u_123"``).

        Example::

            decision = guard.protect(request, userId=user.id)

        Raises:
            ValueError: ``requested`` is not a positive integer (a programming error).
            TypeError: ``request`` is of a kind ArcGuard cannot read.
        """
        _check_requested(requested)
        details, early = self._begin(request, extras)
        if early is not None:
            return early
        return self._finish(details, requested)

    async def aprotect(self, request: Any, *, requested: int = 1, **extras: Any) -> Decision:
        """The asyncio face of :meth:`protect`."""
        _check_requested(requested)
        details, early = self._begin(request, extras)
        if early is not None:
            return early
        ready = self._before_service(details)
        if isinstance(ready, Decision):
            return ready
        results, transport = ready
        try:
            outcome = await transport.adecide(
                details, self.rules, requested=requested, local=results
            )
        except DecideError as exc:
            return self._error(details, exc, results)
        return self._merge(details, results, outcome.results)

    def _begin(
        self, request: Any, extras: Mapping[str, Any]
    ) -> tuple[RequestDetails, Decision | None]:
        try:
            details = (
                request
                if isinstance(request, RequestDetails)
                else details_from_object(request, self._policy)
            )
            if extras:
                details = details.with_extras(extras)
        except TypeError:
            raise
        except Exception as exc:  # a malformed request must never crash the app
            logger.debug("could not read request: %r", exc)
            details = RequestDetails(ip="")
            return details, self._error(details, exc, None)
        if self._cache:
            cached = self._cached(details)
            if cached is not None:
                return details, cached
        return details, None

    def _finish(self, details: RequestDetails, requested: int) -> Decision:
        ready = self._before_service(details)
        if isinstance(ready, Decision):
            return ready
        results, transport = ready
        try:
            outcome = transport.decide(details, self.rules, requested=requested, local=results)
        except DecideError as exc:
            return self._error(details, exc, results)
        return self._merge(details, results, outcome.results)

    def _before_service(
        self, details: RequestDetails
    ) -> Decision | tuple[list[tuple[int, str]], Transport]:
        """Everything before the one I/O step both faces differ in: the local
        evaluation, and the cache of scoped rules. Returns the decision when
        no service call is needed, else the local results and the transport."""
        local = self._local(details)
        if isinstance(local, Decision):
            return local
        results, denied, remote = local
        if remote and self._scoped_cache and self._cache:
            cached = self._cached(details, results)
            if cached is not None:
                return cached
        if remote and self._transport is not None:
            return results, self._transport
        return self._local_decision(details, results, denied)

    def _local(
        self, details: RequestDetails
    ) -> Decision | tuple[list[tuple[int, str]], bool, bool]:
        """Runs the core; returns (raw results, a LIVE rule denied, service needed)."""
        try:
            results = decode_results(self._core.evaluate_raw(self._config, details.encode()))
        except CoreError as exc:
            return self._error(details, exc, None)
        if len(results) != len(self._plan):
            return self._error(details, CoreError("the core returned a wrong result count"), None)
        denied = False
        remote = False
        for (code, _), (_, _, live, _, shield) in zip(results, self._plan, strict=True):
            if code == _DENY:
                if live:
                    denied = True
            elif code == _NEEDS_REMOTE:
                remote = True
            elif shield and code == _ALLOW:
                remote = True  # is this client blocked for earlier attacks?
        if denied:
            remote = False
        return results, denied, remote

    def _local_decision(
        self, details: RequestDetails, results: list[tuple[int, str]], denied: bool
    ) -> Decision:
        rule_results = []
        deciding: RuleResult | None = None
        for (code, text), (kind, mode, live, _, _) in zip(results, self._plan, strict=True):
            if code == _NEEDS_REMOTE or code == _NOT_RUN:
                # A remote rule not asked (a LIVE rule denied first), or a
                # rule whose match did not apply.
                rr = RuleResult(kind, mode, _S_NOT_RUN, _C_ALLOW, text)
            else:
                state = _S_RUN if live else _S_DRY_RUN
                rr = RuleResult(kind, mode, state, _CONCLUSION[code], text)
                if live and code == _DENY and deciding is None:
                    deciding = rr
            rule_results.append(rr)
        if self._transport is not None:
            self._transport.report(details, self.rules, results)
        if deciding is not None:
            return Decision(
                id=_next_id(),
                conclusion=_C_DENY,
                reason=deciding,
                results=tuple(rule_results),
                ttl=0.0,
                ip=details.ip,
                fail_open=self.fail_open,
            )
        return Decision(
            id=_next_id(),
            conclusion=_C_ALLOW,
            reason=rule_results[-1] if rule_results else _NONE_REASON,
            results=tuple(rule_results),
            ttl=0.0,
            ip=details.ip,
            fail_open=self.fail_open,
        )

    def _merge(
        self, details: RequestDetails, local: list[tuple[int, str]], outcomes: Sequence[Any]
    ) -> Decision:
        if len(outcomes) != len(self._plan):
            return self._error(
                details, TransportError("the decide service returned a wrong result count"), local
            )
        rule_results = []
        deciding: RuleResult | None = None
        ttl = 0.0
        any_error: RuleResult | None = None
        for outcome, (kind, mode, live, rule_id, _), rule in zip(
            outcomes, self._plan, self.rules, strict=True
        ):
            code = outcome.code
            if code == _NOT_RUN:
                rr = RuleResult(kind, mode, _S_NOT_RUN, _C_ALLOW, outcome.reason)
            else:
                state = _S_RUN if live else _S_DRY_RUN
                conclusion = _CONCLUSION.get(code, _C_ERROR)
                rr = RuleResult(kind, mode, state, conclusion, outcome.reason, outcome.ttl)
                if code == _DENY and live:
                    if outcome.ttl > 0:
                        key = fingerprint(getattr(rule, "characteristics", ("ip.src",)), details)
                        self._cache.put((rule_id, key), outcome.reason, outcome.ttl)
                    if deciding is None:
                        deciding = rr
                        ttl = outcome.ttl
                elif code == _ERROR and live and any_error is None:
                    any_error = rr
            rule_results.append(rr)
        reason: Reason | RuleResult
        if deciding is not None:
            conclusion, reason = _C_DENY, deciding
        elif any_error is not None:
            conclusion, reason = _C_ERROR, any_error
        else:
            conclusion = _C_ALLOW
            reason = rule_results[-1] if rule_results else _NONE_REASON
        return Decision(
            id=_next_id(),
            conclusion=conclusion,
            reason=reason,
            results=tuple(rule_results),
            ttl=ttl,
            ip=details.ip,
            fail_open=self.fail_open,
        )

    def _cached(
        self, details: RequestDetails, local: list[tuple[int, str]] | None = None
    ) -> Decision | None:
        """A cached DENY of a LIVE rule that applies to this request.

        Before the local evaluation (``local`` None) only rules without a
        ``match`` are looked up; after it, rules whose ``match`` applied (the
        core said NEEDS_REMOTE), so a client limited on one path is not
        refused on the others.
        """
        for i, ((kind, mode, live, rule_id, _), rule) in enumerate(
            zip(self._plan, self.rules, strict=True)
        ):
            if not live:
                continue
            scoped = getattr(rule, "match", None) is not None
            if local is None:
                if scoped:
                    continue
            elif not scoped or local[i][0] != _NEEDS_REMOTE:
                continue
            key = fingerprint(getattr(rule, "characteristics", ("ip.src",)), details)
            hit = self._cache.get((rule_id, key))
            if hit is None:
                continue
            text, remaining = hit
            results = tuple(
                RuleResult(kind, mode, _S_CACHED, _C_DENY, text, remaining)
                if j == i
                else RuleResult(p[0], p[1], _S_NOT_RUN, _C_ALLOW, _NONE_REASON)
                for j, p in enumerate(self._plan)
            )
            return Decision(
                id=_next_id(),
                conclusion=_C_DENY,
                reason=results[i],
                results=results,
                ttl=remaining,
                ip=details.ip,
                fail_open=self.fail_open,
            )
        return None

    def _error(
        self, details: RequestDetails, exc: BaseException, local: list[tuple[int, str]] | None
    ) -> Decision:
        logger.debug("decision error: %s", exc)
        reason = ErrorReason(type="ERROR", message=str(exc) or type(exc).__name__)
        results = tuple(
            RuleResult(kind, mode, _S_NOT_RUN, _C_ERROR, reason)
            for (kind, mode, _, _, _) in self._plan
        )
        return Decision(
            id=_next_id(),
            conclusion=_C_ERROR,
            reason=reason,
            results=results,
            ttl=0.0,
            ip=details.ip,
            fail_open=self.fail_open,
        )

    def close(self) -> None:
        """Flushes reports and closes the connection to the decide service."""
        if self._transport is not None:
            self._transport.close()


def _check_requested(requested: int) -> None:
    if type(requested) is not int or requested < 1:
        raise ValueError(f"requested must be a positive integer, got {requested!r}")


def _detected_platform(env: Mapping[str, str]) -> str | None:
    try:
        from ._endpoint import detect_platform
    except ImportError:  # pragma: no cover - during bring-up
        return None
    found = detect_platform(env)
    return found.name if found is not None else None
