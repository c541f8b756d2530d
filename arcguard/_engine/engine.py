"""The decide engine: local (Wasm) results completed with shared state.

The engine's logic is written once, as a generator that *yields* store
operations and receives their answers (sans-I/O); :meth:`Engine.decide` drives
it with a sync store and :meth:`Engine.adecide` with an async one, so both
faces differ only in I/O.

Per rule, in order:

* a local result other than NEEDS_REMOTE is kept (shield rules: see below);
* NEEDS_REMOTE from a rate-limit rule (its ``match`` applied) is resolved by
  the store: key ``"<rule_id>:<fingerprint>"``, cost ``requested``; ALLOW or
  DENY with a ``RATE_LIMIT`` reason, and for a LIVE DENY ``ttl = reset``;
* **once a LIVE rule has denied, later rate-limit rules are not consumed**:
  they answer NOT_RUN (3), so a request that is refused anyway does not eat
  into the client's other budgets. Earlier rate limits were consumed already.
  DRY_RUN rules consume (they are measured) but never stop later rules;
* a store failure gives ERROR (4) for that rule only;
* NEEDS_REMOTE from any other kind of rule (the engine has no resolver for it)
  gives ERROR, so the engine never answers 2.

Shield escalation, per shield rule, keyed by ``"<rule_id>:<ip key>"`` (IPv6 by
/64): a suspicious local result (1) increments a counter living ``window``
seconds; when it reaches ``threshold`` the client is blocked for
``block_for`` (a LIVE suspicious request that triggers the block carries
``ttl = block_for``). A clean local result (0) of a blocked client becomes
DENY ``{"type":"SHIELD","suspicious":false,"escalated":true}`` with ``ttl`` the
block's remaining time. If the store fails, a suspicious request is still
denied (the local verdict stands, the count is lost); a clean request gets
ERROR. Once a LIVE rule has denied, the block is not looked up (the request
is refused anyway) but suspicion is still counted.

``ttl`` is 0 for DRY_RUN rules: they never deny, so nothing is cached.
"""

from __future__ import annotations

import inspect
import json
import threading
import time
from collections.abc import Callable, Generator, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from .._core import Core, get_core
from .._exceptions import CoreError
from .._fingerprint import fingerprint, ip_key
from .._request import RequestDetails
from .._rules import RateLimitRule, Rule, ShieldRule, rules_config
from .._signup.outcomes import email_outcome, parse_reason
from .._signup.rules import EmailRule
from .memory import AsyncMemoryStore
from .ratelimit import LimitSpec, RateLimitOutcome, spec_for
from .store import AsyncStore, Store, StoreUnavailable

if TYPE_CHECKING:
    from .._signup.dns import DnsChecker

__all__ = [
    "CODE_ALLOW",
    "CODE_DENY",
    "CODE_ERROR",
    "CODE_NEEDS_REMOTE",
    "CODE_NOT_RUN",
    "DEFAULT_MAX_RULESETS",
    "DirectRules",
    "Engine",
    "EngineDecision",
    "Note",
    "RuleOutcome",
    "rate_reason",
]

CODE_ALLOW = 0
CODE_DENY = 1
CODE_NEEDS_REMOTE = 2
CODE_NOT_RUN = 3
CODE_ERROR = 4

#: Distinct rule sets whose compiled plan the engine keeps (oldest dropped first).
DEFAULT_MAX_RULESETS = 128

_ESCALATED = '{"type":"SHIELD","suspicious":false,"escalated":true}'

_OTHER, _RATE, _SHIELD, _EMAIL = 0, 1, 2, 3
#: Operations the logic yields to the DNS checker rather than to the store.
_DNS_OPS = frozenset({"mx", "fcrdns"})


class RuleOutcome(NamedTuple):
    """One rule's final result (an immutable named tuple: the cheapest record
    Python builds, and this one is built per rule per request).

    Attributes:
        code: 0 ALLOW, 1 DENY, 3 NOT_RUN or 4 ERROR (never 2 NEEDS_REMOTE).
        reason: the reason as JSON object text (see ``arcguard._decision``).
        ttl: seconds a DENY may be cached; 0 otherwise.
    """

    code: int
    reason: str
    ttl: float = 0.0


class EngineDecision(NamedTuple):
    """The engine's answer: one :class:`RuleOutcome` per rule, in the rules' order."""

    results: tuple[RuleOutcome, ...]


def _error(message: str) -> RuleOutcome:
    return RuleOutcome(CODE_ERROR, json.dumps({"type": "ERROR", "message": message}))


# %-formatting by hand: json.dumps costs more than the whole store check.
# ``reset`` to the microsecond; o[1:] is (limit, remaining, reset, window).
_RATE_REASON = '{"type":"RATE_LIMIT","max":%d,"remaining":%d,"reset":%.6f,"window":%r}'


def rate_reason(o: RateLimitOutcome) -> str:
    """The ``RATE_LIMIT`` reason text of a store's answer (what :class:`RuleOutcome` carries)."""
    return _RATE_REASON % o[1:]


def _rate_verdict(rp: _RulePlan, o: RateLimitOutcome) -> tuple[int, float]:
    """Code and ttl of a rate-limit rule given the store's answer."""
    if o.allowed:
        return CODE_ALLOW, 0.0
    return CODE_DENY, (o.reset if rp.live else 0.0)


def _rate_key(rp: _RulePlan, details: RequestDetails) -> str:
    # "<rule_id>:<fingerprint>"; the default (client IP) without the generic call.
    if rp.ip_prefix:
        return rp.ip_prefix + ip_key(details.ip)
    return rp.rule_id + ":" + fingerprint(rp.characteristics, details)


def _shield_key(rp: _RulePlan, details: RequestDetails) -> str:
    return rp.rule_id + ":" + ip_key(details.ip)


class _RulePlan:
    """What the engine needs of one rule, computed once per rule set."""

    __slots__ = (
        "block_for",
        "characteristics",
        "email_deny",
        "ip_prefix",
        "kind",
        "live",
        "role",
        "rule_id",
        "spec",
        "threshold",
        "window",
    )

    def __init__(self, rule: Rule) -> None:
        self.kind = rule.kind
        self.live = rule.mode == "LIVE"
        self.rule_id = rule.rule_id
        self.role = _OTHER
        self.characteristics: tuple[str, ...] = ()
        self.spec: LimitSpec | None = None
        #: the key's constant part when the fingerprint is the client IP's
        #: ("<rule_id>:ip:", see fingerprint()); "" otherwise
        self.ip_prefix = ""
        self.threshold, self.window, self.block_for = 0, 0.0, 0.0
        self.email_deny: frozenset[str] = frozenset()
        if isinstance(rule, EmailRule):
            self.role = _EMAIL
            self.email_deny = rule.denied_types
        elif isinstance(rule, RateLimitRule):
            self.role = _RATE
            self.characteristics = rule.characteristics
            self.spec = spec_for(rule)
            if tuple(rule.characteristics) == ("ip.src",):
                self.ip_prefix = self.rule_id + ":ip:"
        elif isinstance(rule, ShieldRule):
            self.role = _SHIELD
            self.threshold, self.window, self.block_for = (
                rule.threshold,
                rule.window,
                rule.block_for,
            )


class _Plan:
    __slots__ = ("config", "handle", "rule_objects", "rules")

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.rule_objects = rules
        self.config = rules_config(rules)
        self.rules = tuple(_RulePlan(r) for r in rules)
        self.handle: str | None = None


_Op = tuple[Any, ...]
_Logic = Generator[_Op, Any, Any]


class Engine:
    """Completes the Wasm core's local results with rate limits and shield escalation.

    Example::

        engine = Engine(MemoryStore())
        decision = engine.decide(details, [fixed_window(window="60s", max=100)])
        decision.results[0].code  # 0 ALLOW or 1 DENY

    Parameters:
        store: a sync :class:`~.store.Store` (use :meth:`decide`) or an
            :class:`~.store.AsyncStore` (use :meth:`adecide`). A
            :class:`~.memory.MemoryStore` serves both.
        core: the Wasm core (default: the process-wide one, built on first need).
        clock: seconds since the epoch; injected for tests.
        max_rulesets: distinct rule sets whose plan (and compiled handle) is kept.
        dns: the DNS checks of the sign-up rules (MX, reverse DNS); default
            one on the system's resolvers, made on first need.
    """

    def __init__(
        self,
        store: Store | AsyncStore,
        *,
        core: Core | None = None,
        clock: Callable[[], float] = time.time,
        max_rulesets: int = DEFAULT_MAX_RULESETS,
        dns: DnsChecker | None = None,
    ) -> None:
        self._store = store
        self._dns_checker = dns
        self._core = core
        self._clock = clock
        self._max_rulesets = max_rulesets
        self._plans: dict[tuple[int, ...], _Plan] = {}
        self._last_plan: _Plan | None = None
        self._plans_lock = threading.Lock()
        is_async = inspect.iscoroutinefunction(getattr(store, "hit", None))
        self._async_store: Any = store if is_async else None
        if not is_async:
            self._sync_store: Any = store
        elif isinstance(store, AsyncMemoryStore):
            self._sync_store = store.sync
        else:
            self._sync_store = None
        # A sync store that never blocks may be called from an event loop.
        self._inline = self._sync_store is not None and bool(
            getattr(self._sync_store, "nonblocking", False)
        )

    @property
    def store(self) -> Store | AsyncStore:
        """The store given at construction."""
        return self._store

    @property
    def dns(self) -> DnsChecker:
        """The DNS checker of the sign-up rules (made on first use)."""
        checker = self._dns_checker
        if checker is None:
            from .._signup.dns import DnsChecker

            checker = self._dns_checker = DnsChecker()
        return checker

    # -- public faces -------------------------------------------------------------

    def decide(
        self,
        details: RequestDetails,
        rules: Sequence[Rule],
        *,
        requested: int = 1,
        local: Sequence[tuple[int, str]] | None = None,
    ) -> EngineDecision:
        """Decides a request with a sync store.

        Parameters:
            details: the request.
            rules: the guard's rules, in order.
            requested: units a rate-limit check consumes (tokens, requests).
            local: the Wasm core's ``(code, reason_json)`` per rule, if already
                computed; otherwise the core is run here.

        Raises:
            TypeError: the engine was built with an async-only store.
            ValueError: ``requested`` < 1, or ``local`` of the wrong length.
        """
        if self._sync_store is None:
            raise TypeError("this engine has an async store: use adecide()")
        plan, local = self._prepare(details, rules, requested, local)
        return self._drive_sync(  # type: ignore[no-any-return]
            self._logic(plan, details, requested, local, self._clock())
        )

    async def adecide(
        self,
        details: RequestDetails,
        rules: Sequence[Rule],
        *,
        requested: int = 1,
        local: Sequence[tuple[int, str]] | None = None,
    ) -> EngineDecision:
        """Decides a request with an async store. See :meth:`decide`.

        Raises:
            TypeError: the engine was built with a sync store that may block.
            ValueError: ``requested`` < 1, or ``local`` of the wrong length.
        """
        plan, local = self._prepare(details, rules, requested, local)
        gen = self._logic(plan, details, requested, local, self._clock())
        return await self._drive(gen)  # type: ignore[no-any-return]

    def record(
        self, details: RequestDetails, rules: Sequence[Rule], local: Sequence[tuple[int, str]]
    ) -> None:
        """Counts shield suspicion of a request the SDK decided locally (and reported).

        Only the counting part of shield escalation runs: nothing is consumed
        and nothing is looked up.

        Raises:
            StoreUnavailable: the store failed (the count is lost).
            TypeError / ValueError: as :meth:`decide`.
        """
        if self._sync_store is None:
            raise TypeError("this engine has an async store: use arecord()")
        plan, local = self._prepare(details, rules, 1, local)
        self._drive_sync(self._record_logic(plan, details, local, self._clock()), reraise=True)

    async def arecord(
        self, details: RequestDetails, rules: Sequence[Rule], local: Sequence[tuple[int, str]]
    ) -> None:
        """The async face of :meth:`record`."""
        plan, local = self._prepare(details, rules, 1, local)
        await self._drive(self._record_logic(plan, details, local, self._clock()), reraise=True)

    # -- preparation ----------------------------------------------------------------

    def _plan(self, rules: Sequence[Rule]) -> _Plan:
        # A guard passes the same tuple every time: try it by identity first.
        last = self._last_plan
        if last is not None and last.rule_objects is rules:
            return last
        # Keyed by the rules' identities (hashing the frozen rules costs more);
        # the plan holds the rules, so their ids cannot be reused while cached.
        key = tuple(map(id, rules))
        plan = self._plans.get(key)
        if plan is None:
            plan = _Plan(tuple(rules))
            with self._plans_lock:
                if len(self._plans) >= self._max_rulesets:
                    self._plans.pop(next(iter(self._plans)))
                self._plans[key] = plan
        if isinstance(rules, tuple):
            plan.rule_objects = rules
            self._last_plan = plan
        return plan

    def _prepare(
        self,
        details: RequestDetails,
        rules: Sequence[Rule],
        requested: int,
        local: Sequence[tuple[int, str]] | None,
    ) -> tuple[_Plan, Sequence[tuple[int, str]]]:
        if isinstance(requested, bool) or not isinstance(requested, int) or requested < 1:
            raise ValueError(f"requested must be a positive integer, got {requested!r}")
        plan = self._plan(rules)
        if local is None:
            core = self._core
            if core is None:
                core = self._core = get_core()
            try:
                if plan.handle is None:
                    plan.handle = core.compile(plan.config)
                local = core.evaluate(plan.handle, details.encode())
            except CoreError as exc:
                msg = f"wasm core: {exc}"
                local = [(CODE_ERROR, json.dumps({"type": "ERROR", "message": msg}))] * len(
                    plan.rules
                )
        if len(local) != len(plan.rules):
            raise ValueError(f"local has {len(local)} results for {len(plan.rules)} rules")
        return plan, local

    # -- drivers --------------------------------------------------------------------

    def _drive_sync(self, gen: _Logic, *, reraise: bool = False) -> Any:
        store = self._sync_store
        try:
            op = next(gen)
            while True:
                try:
                    if op[0] in _DNS_OPS:  # answers, never raises
                        result = getattr(self.dns, op[0])(*op[1:])
                    else:
                        result = getattr(store, op[0])(*op[1:])
                except StoreUnavailable as exc:
                    if reraise:
                        raise
                    op = gen.throw(exc)
                else:
                    op = gen.send(result)
        except StopIteration as stop:
            return stop.value

    async def _drive(self, gen: _Logic, *, reraise: bool = False) -> Any:
        store = self._async_store
        if store is None and not self._inline:
            raise TypeError("this engine has a blocking sync store: use decide()")
        # A sync store that never blocks (memory) is called inline; DNS checks
        # are awaited either way.
        sync_store = self._sync_store if store is None else None
        try:
            op = next(gen)
            while True:
                try:
                    name = op[0]
                    if name in _DNS_OPS:  # answers, never raises
                        result = await getattr(self.dns, "a" + name)(*op[1:])
                    elif sync_store is not None:
                        result = getattr(sync_store, name)(*op[1:])
                    else:
                        result = await getattr(store, name)(*op[1:])
                except StoreUnavailable as exc:
                    if reraise:
                        raise
                    op = gen.throw(exc)
                else:
                    op = gen.send(result)
        except StopIteration as stop:
            return stop.value

    # -- the logic (no I/O: store operations are yielded) ---------------------------------

    def _logic(
        self,
        plan: _Plan,
        details: RequestDetails,
        requested: int,
        local: Sequence[tuple[int, str]],
        now: float,
    ) -> _Logic:
        out: list[RuleOutcome] = []
        denied = False  # a LIVE rule has denied
        for rp, (code, reason) in zip(plan.rules, local, strict=True):
            if rp.role == _RATE and code == CODE_NEEDS_REMOTE:
                if denied:
                    res = RuleOutcome(CODE_NOT_RUN, reason)
                else:
                    key = _rate_key(rp, details)
                    try:
                        o: RateLimitOutcome = yield ("hit", rp.spec, key, requested, now)
                    except StoreUnavailable as exc:
                        res = _error(str(exc))
                    else:
                        verdict, ttl = _rate_verdict(rp, o)
                        res = RuleOutcome(verdict, rate_reason(o), ttl)
            elif rp.role == _SHIELD and code in (CODE_ALLOW, CODE_DENY):
                res = RuleOutcome(code, reason)
                ckey = _shield_key(rp, details)
                if code == CODE_DENY:
                    try:
                        if (yield ("incr_window", ckey, rp.window, 1, now)) >= rp.threshold:
                            yield ("block", ckey, rp.block_for, now)
                            if rp.live:
                                res = RuleOutcome(CODE_DENY, reason, rp.block_for)
                    except StoreUnavailable:
                        pass  # the local verdict stands; this suspicion is not counted
                elif not denied:
                    try:
                        left: float = yield ("blocked_for", ckey, now)
                    except StoreUnavailable as exc:
                        res = _error(str(exc))
                    else:
                        if left > 0.0:
                            res = RuleOutcome(CODE_DENY, _ESCALATED, left if rp.live else 0.0)
            elif rp.role == _EMAIL and code == CODE_NEEDS_REMOTE:
                if denied:  # refused anyway: no lookup
                    res = RuleOutcome(CODE_NOT_RUN, reason)
                else:
                    d = parse_reason(reason)
                    domain = d.get("ascii_domain")
                    if not isinstance(domain, str) or not domain:
                        res = _error("email rule: the core gave no domain to look up")
                    else:
                        verdict, text = email_outcome(d, (yield ("mx", domain)), rp.email_deny)
                        res = RuleOutcome(verdict, text)  # never cached: keyed by IP
            elif code == CODE_NEEDS_REMOTE:
                res = _error(f"the engine cannot resolve a remote check for rule kind {rp.kind!r}")
            else:
                res = RuleOutcome(code, reason)
            if res.code == CODE_DENY and rp.live:
                denied = True
            out.append(res)
        return EngineDecision(tuple(out))

    def _record_logic(
        self, plan: _Plan, details: RequestDetails, local: Sequence[tuple[int, str]], now: float
    ) -> _Logic:
        for rp, (code, _reason) in zip(plan.rules, local, strict=True):
            if rp.role == _SHIELD and code == CODE_DENY:
                ckey = _shield_key(rp, details)
                if (yield ("incr_window", ckey, rp.window, 1, now)) >= rp.threshold:
                    yield ("block", ckey, rp.block_for, now)
        return None


#: What :meth:`DirectRules.resolve` says of a rule whose answer is not the
#: core's: ``(reason, ttl)``, where ``reason`` is JSON text, the store's
#: :class:`RateLimitOutcome` (its text is :func:`rate_reason` of it, built only
#: by a caller that needs it), or None for the core's own reason.
Note = tuple["str | RateLimitOutcome | None", float]


class DirectRules:
    """:meth:`Engine.decide` for one rule set over a sync store, called directly.

    The steps of the engine's logic (``Engine._logic``, see the module
    docstring), in the same order, with the same keys, store operations and
    verdicts; only the driving differs: the store is called instead of a
    generator yielding to a driver, and reason texts are left to the caller.
    The SDK's local dev mode builds one per guard, so a request pays for the
    store check and little else. ``tests/engine/test_direct.py`` holds both
    faces to identical answers.

    One shortcut: with a store that counts its block flags
    (:attr:`MemoryStore.blocks`), a clean shield result is not looked up while
    no client is blocked at all (the lookup would answer 0.0).

    Raises:
        TypeError: the engine has no sync store.
    """

    __slots__ = ("_clock", "_counts_blocks", "_engine_rules", "_other_codes", "_rules", "_store")

    def __init__(self, engine: Engine, rules: tuple[Rule, ...]) -> None:
        store = engine._sync_store
        if store is None:
            raise TypeError("this engine has an async store: no direct face")
        if any(rp.role == _EMAIL for rp in engine._plan(rules).rules):
            raise TypeError("DNS checks need the engine's drivers: no direct face")
        self._store = store
        self._clock = engine._clock
        self._rules = tuple(enumerate(engine._plan(rules).rules))
        # Rules of other kinds only keep their code, or deny, or are an error
        # when they need the engine: while none of them denies or needs it,
        # only the rate-limit and shield rules are looked at.
        self._engine_rules = tuple((i, rp) for i, rp in self._rules if rp.role != _OTHER)
        others = [i for i, rp in self._rules if rp.role == _OTHER]
        self._other_codes = itemgetter(*others, *others[:1]) if others else None
        self._counts_blocks = type(getattr(store, "blocks", None)) is int

    def resolve(self, details: RequestDetails, requested: int, codes: list[int]) -> dict[int, Note]:
        """Completes the core's result codes (one per rule) like :meth:`Engine.decide`.

        ``codes`` is completed in place: each rule's final code. Returns, by
        rule index, the reason and ttl of each rule whose answer is not the
        core's own (the others keep the core's reason, ttl 0). ``requested``
        must be a positive int and ``codes`` hold one code per rule (the
        guard checked both).
        """
        store = self._store
        now = self._clock()
        final = codes
        notes: dict[int, Note] = {}
        denied = False  # a LIVE rule has denied
        rules = self._rules
        pick = self._other_codes
        if pick is None:
            rules = self._engine_rules
        else:
            others = pick(codes)
            if CODE_DENY not in others and CODE_NEEDS_REMOTE not in others:
                rules = self._engine_rules
        for i, rp in rules:
            code = final[i]
            role = rp.role
            if role == _RATE and code == CODE_NEEDS_REMOTE:
                if denied:
                    final[i] = CODE_NOT_RUN
                    continue
                # _rate_key and _rate_verdict, inline: this runs on every request
                # of a dev-mode guard with a rate limit, and a Python call each
                # costs more here than the lines themselves.
                prefix = rp.ip_prefix
                key = prefix + ip_key(details.ip) if prefix else _rate_key(rp, details)
                try:
                    o: RateLimitOutcome = store.hit(rp.spec, key, requested, now)
                except StoreUnavailable as exc:
                    final[i] = CODE_ERROR
                    notes[i] = (_error(str(exc)).reason, 0.0)
                    continue
                if o[0]:  # allowed
                    final[i] = CODE_ALLOW
                    notes[i] = (o, 0.0)
                    continue
                final[i] = code = CODE_DENY
                notes[i] = (o, o.reset if rp.live else 0.0)
            elif role == _SHIELD and (code == CODE_ALLOW or code == CODE_DENY):
                if code == CODE_DENY:
                    ckey = _shield_key(rp, details)
                    try:
                        if store.incr_window(ckey, rp.window, 1, now) >= rp.threshold:
                            store.block(ckey, rp.block_for, now)
                            if rp.live:
                                notes[i] = (None, rp.block_for)
                    except StoreUnavailable:
                        pass  # the local verdict stands; this suspicion is not counted
                elif not denied and (store.blocks if self._counts_blocks else True):
                    try:
                        left: float = store.blocked_for(_shield_key(rp, details), now)
                    except StoreUnavailable as exc:
                        final[i] = code = CODE_ERROR
                        notes[i] = (_error(str(exc)).reason, 0.0)
                    else:
                        if left > 0.0:
                            final[i] = code = CODE_DENY
                            notes[i] = (_ESCALATED, left if rp.live else 0.0)
            elif code == CODE_NEEDS_REMOTE:
                final[i] = code = CODE_ERROR
                message = f"the engine cannot resolve a remote check for rule kind {rp.kind!r}"
                notes[i] = (_error(message).reason, 0.0)
            if code == CODE_DENY and rp.live:
                denied = True
        return notes
