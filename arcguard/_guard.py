"""The guard: built once with its rules, asked about every request."""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import itemgetter
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
    _new_id,
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
    from logging import Logger

    from ._engine import DirectRules, Note, RateLimitOutcome
    from ._transport import Transport

__all__ = ["DEFAULT_TIMEOUT", "ArcGuard"]

_log: Logger | None = None


def _logger() -> Logger:
    # logging (~7 ms) is imported on the first message, not by ``import arcguard``.
    global _log
    if _log is None:
        import logging

        _log = logging.getLogger("arcguard")
    return _log


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
#: The note of a rule the engine left as the core answered: its reason, no ttl.
_CORE_NOTE = (None, 0.0)
_next_id = _new_id

# The core's result payload (core-wasm/core/src/result.rs): a u32 count, then
# per rule a u8 code and the u32 length of its reason text. Decisions read the
# codes at once and leave the texts to decode_results when results are asked for.
_U32 = struct.Struct("<I")
_RESULT_HEAD = struct.Struct("<BI")
_u32_from = _U32.unpack_from
_head_from = _RESULT_HEAD.unpack_from


def _result_codes(payload: bytes) -> list[int]:
    """The per-rule codes of a core result payload (as decode_results reads them).

    Raises:
        CoreError: the payload is truncated.
    """
    try:
        (count,) = _u32_from(payload, 0)
        at, codes = 4, []
        for _ in range(count):
            code, length = _head_from(payload, at)
            codes.append(code)
            at += 5 + length
    except struct.error as exc:
        raise CoreError("the Wasm core returned a truncated result") from exc
    return codes


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
        trusted_proxies: networks (CIDR) of your proxies, whose ``X-Forwarded-For`` is believed.
        platform: a platform whose client-IP header is believed from its proxies
            (``"cloudflare"``, ``"fly"``, ``"vercel"``); default: detected from the
            environment. See docs/client-ip.md.
        timeout: seconds a call to the decide service may take (with a rule
            that needs a DNS check, such as validate_email's MX check, at
            least the DNS bound plus a margin: ``SIGNUP_SERVICE_TIMEOUT``).
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
        self._n = len(self._plan)
        self._live = tuple(p[2] for p in self._plan)
        shields = [i for i, p in enumerate(self._plan) if p[4]]
        # The shield rules' codes, as a tuple (one index given twice: a tuple still).
        self._shield_codes = itemgetter(*shields, *shields[:1]) if shields else None
        self._characteristics = tuple(
            getattr(r, "characteristics", ("ip.src",)) for r in self.rules
        )
        # An ALLOW stands for the last rule's reason.
        self._allow_reason: Reason | int = self._n - 1 if self._n else _NONE_REASON
        self._has_shield = bool(shields)
        self._scoped_cache = any(getattr(r, "match", None) is not None for r in self.rules)
        self._needs_body = any(r.reads_body for r in self.rules)
        self._remote_capable = any(r.remote for r in self.rules) or self._has_shield
        detected = _detected_platform(env) if platform is None else None
        self._policy = ProxyPolicy.build(trusted_proxies, platform, detected=detected)
        self._cache = DenyCache(cache_size)
        # The cache's dict, to test for "empty" without a call on every request.
        self._cache_entries = self._cache._data
        key = key if key is not None else env.get("ARCGUARD_KEY") or None
        self.dev_mode = key is None or env.get("ARCGUARD_ENV", "").lower() == "development"
        self._transport: Transport | None = transport
        # Dev mode needs the in-process engine only for rules it resolves; with
        # a service, every locally made decision is also reported to it.
        if self._transport is None and (self._remote_capable or not self.dev_mode):
            self._transport = self._build_transport(key, endpoint, env)
        self._direct = self._direct_rules()

    def _direct_rules(self) -> DirectRules | None:
        """The in-process engine's direct face for these rules, when the
        transport is the plain in-process one (local dev mode): the same logic,
        store and answers as ``transport.decide()``, without its generic path."""
        t = self._transport
        if t is None:
            return None
        from ._engine import DirectRules, rate_reason
        from ._transport import InProcessTransport

        if type(t) is not InProcessTransport:
            return None
        self._rate_reason = rate_reason
        try:
            return DirectRules(t.engine, self.rules)
        except TypeError:  # an async-only store: keep the transport's own path
            return None

    def _build_transport(
        self, key: str | None, endpoint: str | None, env: Mapping[str, str]
    ) -> Transport:
        from . import _transport
        from ._signup import dns_checker_for, service_timeout

        if self.dev_mode:
            return _transport.local_transport(core=self._core, dns=dns_checker_for(self.rules, env))
        if key is None:  # remote mode needs a key; dev_mode covers key None
            raise ConfigurationError("an API key is required outside development mode")
        return _transport.remote_transport(
            key=key,
            endpoint=endpoint,
            environ=env,
            timeout=service_timeout(self.rules, self.timeout),
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
        if type(requested) is not int or requested < 1:
            _check_requested(requested)
        details, early = self._begin(request, extras)
        if early is not None:
            return early
        ready = self._before_service(details, requested)
        if isinstance(ready, Decision):
            return ready
        results, transport = ready
        try:
            outcome = transport.decide(details, self.rules, requested=requested, local=results)
        except DecideError as exc:
            return self._error(details, exc, results)
        return self._merge(details, results, outcome.results)

    async def aprotect(self, request: Any, *, requested: int = 1, **extras: Any) -> Decision:
        """The asyncio face of :meth:`protect`."""
        if type(requested) is not int or requested < 1:
            _check_requested(requested)
        details, early = self._begin(request, extras)
        if early is not None:
            return early
        ready = self._before_service(details, requested)
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
                if type(request) is RequestDetails
                else details_from_object(request, self._policy)
            )
            if extras:
                details = details.with_extras(extras)
        except TypeError:
            raise
        except Exception as exc:  # a malformed request must never crash the app
            _logger().debug("could not read request: %r", exc)
            details = RequestDetails(ip="")
            return details, self._error(details, exc, None)
        if self._cache_entries:
            cached = self._cached(details)
            if cached is not None:
                return details, cached
        return details, None

    def _before_service(
        self, details: RequestDetails, requested: int
    ) -> Decision | tuple[list[tuple[int, str]], Transport]:
        """Everything before the one I/O step both faces differ in: the local
        evaluation, the cache of scoped rules, and the in-process engine.
        Returns the decision when no service call is needed, else the local
        results and the transport."""
        try:
            payload = self._core.evaluate_raw(self._config, details.encode())
            codes = _result_codes(payload)
        except CoreError as exc:
            return self._error(details, exc, None)
        if len(codes) != self._n:
            return self._error(details, CoreError("the core returned a wrong result count"), None)
        deciding = -1  # the first LIVE rule that denied
        if _DENY in codes:
            live = self._live
            for i, code in enumerate(codes):
                if code == _DENY and live[i]:
                    deciding = i
                    break
        if deciding < 0 and (
            _NEEDS_REMOTE in codes
            or (self._shield_codes is not None and _ALLOW in self._shield_codes(codes))
        ):  # a rate limit to check, or a shield asking whether this client is blocked
            if self._scoped_cache and self._cache_entries:
                cached = self._cached(details, codes)
                if cached is not None:
                    return cached
            if self._direct is not None:
                return self._direct_decision(details, requested, payload, codes)
            if self._transport is not None:
                return decode_results(payload), self._transport
        return self._local_decision(details, payload, codes, deciding)

    def _local_decision(
        self, details: RequestDetails, payload: bytes, codes: list[int], deciding: int
    ) -> Decision:
        transport = self._transport
        if transport is not None and (
            self._direct is None
            or (self._shield_codes is not None and _DENY in self._shield_codes(codes))
        ):  # (in-process, a report only counts shield suspicion)
            transport.report(details, self.rules, decode_results(payload))
        if deciding >= 0:
            return Decision._deferred(
                _C_DENY, deciding, self._local_results, payload, 0.0, details.ip, self.fail_open
            )
        if _ERROR in codes:  # a LIVE rule the core could not evaluate (no email given...)
            live = self._live
            for i, code in enumerate(codes):
                if code == _ERROR and live[i]:
                    return Decision._deferred(
                        _C_ERROR, i, self._local_results, payload, 0.0, details.ip, self.fail_open
                    )
        return Decision._deferred(
            _C_ALLOW,
            self._allow_reason,
            self._local_results,
            payload,
            0.0,
            details.ip,
            self.fail_open,
        )

    def _local_results(self, payload: bytes) -> tuple[RuleResult, ...]:
        rule_results = []
        for (code, text), (kind, mode, live, _, _) in zip(
            decode_results(payload), self._plan, strict=True
        ):
            if code == _NEEDS_REMOTE or code == _NOT_RUN:
                # A remote rule not asked (a LIVE rule denied first), or a
                # rule whose match did not apply.
                rr = RuleResult(kind, mode, _S_NOT_RUN, _C_ALLOW, text)
            else:
                state = _S_RUN if live else _S_DRY_RUN
                rr = RuleResult(kind, mode, state, _CONCLUSION.get(code, _C_ERROR), text)
            rule_results.append(rr)
        return tuple(rule_results)

    def _direct_decision(
        self, details: RequestDetails, requested: int, payload: bytes, codes: list[int]
    ) -> Decision:
        """The in-process engine's answer, as :meth:`_merge` makes a decision of it."""
        final = codes  # completed in place
        notes = self._direct.resolve(details, requested, final)  # type: ignore[union-attr]
        source = (payload, final, notes)
        if _DENY not in final and _ERROR not in final:
            return Decision._deferred(
                _C_ALLOW,
                self._allow_reason,
                self._merged_results,
                source,
                0.0,
                details.ip,
                self.fail_open,
            )
        deciding = error = -1
        ttl = 0.0
        live = self._live
        for i, code in enumerate(final):
            if code == _DENY:
                if live[i]:
                    reason, rule_ttl = notes.get(i, _CORE_NOTE)
                    if rule_ttl > 0:
                        text = self._reason_text(reason, payload, i)
                        self._cache.put(self._cache_key(i, details), text, rule_ttl)
                    if deciding < 0:
                        deciding, ttl = i, rule_ttl
            elif code == _ERROR and error < 0 and live[i]:
                error = i
        return self._concluded(deciding, error, ttl, self._merged_results, source, details)

    def _cache_key(self, i: int, details: RequestDetails) -> tuple[str, str]:
        """The deny cache's key of rule ``i`` for a request: the rule's id and
        the fingerprint of its characteristics (one place, so that what is put
        is what is looked up)."""
        return self._plan[i][3], fingerprint(self._characteristics[i], details)

    def _concluded(
        self,
        deciding: int,
        error: int,
        ttl: float,
        build: Callable[[Any], tuple[RuleResult, ...]],
        source: Any,
        details: RequestDetails,
    ) -> Decision:
        """The decision once the rules' codes are final: the first LIVE deny
        decides, else the first LIVE error, else ALLOW; ``build(source)``
        makes the per-rule results when they are asked for."""
        if deciding >= 0:
            conclusion, reason_at = _C_DENY, deciding
        elif error >= 0:
            conclusion, reason_at = _C_ERROR, error
        else:
            conclusion, reason_at = _C_ALLOW, self._allow_reason  # type: ignore[assignment]
        return Decision._deferred(
            conclusion, reason_at, build, source, ttl, details.ip, self.fail_open
        )

    def _reason_text(self, reason: str | RateLimitOutcome | None, payload: bytes, i: int) -> str:
        """The JSON text of a :data:`~._engine.Note`'s reason."""
        if reason is None:
            return decode_results(payload)[i][1]
        if isinstance(reason, str):
            return reason
        return self._rate_reason(reason)

    def _merged_results(
        self, source: tuple[bytes, list[int], dict[int, Note]]
    ) -> tuple[RuleResult, ...]:
        payload, final, notes = source
        rule_results = []
        for i, ((_, text), code, (kind, mode, live, _, _)) in enumerate(
            zip(decode_results(payload), final, self._plan, strict=True)
        ):
            reason, ttl = notes.get(i, _CORE_NOTE)
            if reason is None:
                reason = text
            elif not isinstance(reason, str):
                reason = self._rate_reason(reason)
            if code == _NOT_RUN:
                rr = RuleResult(kind, mode, _S_NOT_RUN, _C_ALLOW, reason)
            else:
                state = _S_RUN if live else _S_DRY_RUN
                rr = RuleResult(kind, mode, state, _CONCLUSION.get(code, _C_ERROR), reason, ttl)
            rule_results.append(rr)
        return tuple(rule_results)

    def _merge(
        self, details: RequestDetails, local: list[tuple[int, str]], outcomes: Sequence[Any]
    ) -> Decision:
        """The decision of the service's answer (one outcome per rule, with
        ``code``, ``reason`` and ``ttl``). Like :meth:`_direct_decision`, only
        the codes are read now; the results are built when asked for."""
        if len(outcomes) != self._n:
            return self._error(
                details, TransportError("the decide service returned a wrong result count"), local
            )
        deciding = error = -1
        ttl = 0.0
        live = self._live
        for i, outcome in enumerate(outcomes):
            code = outcome.code
            if code == _DENY:
                if live[i]:
                    rule_ttl = outcome.ttl
                    if rule_ttl > 0:
                        self._cache.put(self._cache_key(i, details), outcome.reason, rule_ttl)
                    if deciding < 0:
                        deciding, ttl = i, rule_ttl
            elif code == _ERROR and error < 0 and live[i]:
                error = i
        return self._concluded(deciding, error, ttl, self._remote_results, outcomes, details)

    def _remote_results(self, outcomes: Sequence[Any]) -> tuple[RuleResult, ...]:
        rule_results = []
        for outcome, (kind, mode, live, _, _) in zip(outcomes, self._plan, strict=True):
            code = outcome.code
            if code == _NOT_RUN:
                rr = RuleResult(kind, mode, _S_NOT_RUN, _C_ALLOW, outcome.reason)
            else:
                state = _S_RUN if live else _S_DRY_RUN
                conclusion = _CONCLUSION.get(code, _C_ERROR)
                rr = RuleResult(kind, mode, state, conclusion, outcome.reason, outcome.ttl)
            rule_results.append(rr)
        return tuple(rule_results)

    def _cached(self, details: RequestDetails, local: list[int] | None = None) -> Decision | None:
        """A cached DENY of a LIVE rule that applies to this request.

        Before the local evaluation (``local`` None) only rules without a
        ``match`` are looked up; after it, rules whose ``match`` applied (the
        core said NEEDS_REMOTE), so a client limited on one path is not
        refused on the others.
        """
        for i, ((kind, mode, live, _, _), rule) in enumerate(
            zip(self._plan, self.rules, strict=True)
        ):
            if not live:
                continue
            scoped = getattr(rule, "match", None) is not None
            if local is None:
                if scoped:
                    continue
            elif not scoped or local[i] != _NEEDS_REMOTE:
                continue
            hit = self._cache.get(self._cache_key(i, details))
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
        _logger().debug("decision error: %s", exc)
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
