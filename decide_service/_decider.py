"""What the Decide and Report calls do, apart from gRPC: validate, convert, run
the engine, build the answer. No grpc here (``_server`` adapts it); errors are
:class:`InvalidRequest` (-> INVALID_ARGUMENT).
"""

from __future__ import annotations

import itertools
import os
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from arcguard._core import Core, get_core
from arcguard._engine import DirectRules, Engine, EngineDecision, rate_reason
from arcguard._exceptions import ConfigurationError
from arcguard._proto import decide_pb2 as pb
from arcguard._request import RequestDetails
from arcguard._rules import Rule, rule_from_config, rules_config
from arcguard._signup import needs_dns
from arcguard._transport._wire import (
    RawResult,
    code_from_wire,
    details_from_proto,
    encode_varint,
    rule_config_from_proto,
    set_typed_reason,
)

from ._metrics import Metrics
from ._settings import Settings

__all__ = ["Decider", "InvalidRequest", "ParsedRules"]

#: Most units one request may take from a rate limit.
MAX_REQUESTED = 10**9

_CODE_ALLOW, _CODE_DENY, _CODE_NOT_RUN, _CODE_ERROR = 0, 1, 3, 4
_MODE = {"LIVE": pb.MODE_LIVE, "DRY_RUN": pb.MODE_DRY_RUN}
_BYTE = tuple(bytes((i,)) for i in range(256))


class InvalidRequest(ValueError):
    """A request the service will not decide; the message says why."""


_DOUBLE = struct.Struct("<d")


@dataclass(frozen=True, slots=True)
class ParsedRules:
    """A rule set converted once and cached: the rules and what the answer needs.

    ``tails`` holds, per rule, the encoded ``kind``, ``mode`` and ``state``
    fields of its RuleResult: ``(when it ran, when it did not run)``.
    """

    rules: tuple[Rule, ...]
    kinds: tuple[str, ...]
    modes: tuple[int, ...]
    live: tuple[bool, ...]
    tails: tuple[tuple[bytes, bytes], ...] = ()
    #: The engine's direct face for these rules (a sync store), else None.
    direct: DirectRules | None = None
    #: Whether a rule may need a DNS check (awaited, never run on the loop's thread).
    dns: bool = False


def _result_tail(kind: str, mode: int, state: int) -> bytes:
    # RuleResult fields 4 (kind), 5 (mode), 6 (state), as SerializeToString writes them.
    k = kind.encode()
    return b"\x22" + encode_varint(len(k)) + k + bytes((0x28, mode, 0x30, state))


class _RuleCache:
    """LRU of parsed rule sets (or their error text) keyed by serialized bytes,
    bounded in entries and in bytes.

    An entry weighs its key's bytes twice (the key, and the parsed rules or
    error text it holds, which grow with it): a client sending distinct large
    rule sets cannot make the cache hold more than ``max_bytes`` of them.
    """

    def __init__(self, size: int, max_bytes: int) -> None:
        self._size = size
        self._max_bytes = max_bytes
        self._data: OrderedDict[bytes, ParsedRules | str] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0
        #: the weight of the entries held (see the class docstring)
        self.bytes = 0
        # The entry last asked for or added: already the most recent, so asking
        # for it again (one SDK's rule set, request after request) needs no
        # lock and no reordering.
        self._last: tuple[bytes, ParsedRules | str] | None = None

    @staticmethod
    def _weight(key: bytes, value: ParsedRules | str) -> int:
        return len(key) + (len(value) if isinstance(value, str) else len(key))

    def get(self, key: bytes) -> ParsedRules | str | None:
        last = self._last
        if last is not None and last[0] == key:
            self.hits += 1
            return last[1]
        v = self._data.get(key)
        if v is not None:
            self.hits += 1
            with self._lock:
                if key in self._data:
                    self._data.move_to_end(key)
                    self._last = (key, v)
        return v

    def put(self, key: bytes, value: ParsedRules | str) -> None:
        self.misses += 1
        weight = self._weight(key, value)
        with self._lock:
            if weight > self._max_bytes:  # answered, never kept
                return
            old = self._data.pop(key, None)
            if old is not None:
                self.bytes -= self._weight(key, old)
            self._data[key] = value
            self.bytes += weight
            self._last = (key, value)
            while len(self._data) > self._size or self.bytes > self._max_bytes:
                k, v = self._data.popitem(last=False)
                self.bytes -= self._weight(k, v)


class Decider:
    """Validates and decides requests with an engine.

    Parameters:
        settings: limits and shield defaults.
        engine: the engine (sync memory store: ``decide``; async store: ``adecide``).
        metrics: where outcomes are counted.
        core: the Wasm core used to check rule sets (default: the process's).
        clock: wall clock for ids (tests).
    """

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        metrics: Metrics,
        *,
        sync_engine: bool,
        core: Core | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.metrics = metrics
        #: Whether the engine's store is synchronous (memory): no awaiting needed.
        self.sync_engine = sync_engine
        self._core = core
        self._cache = _RuleCache(settings.rule_cache_size, settings.rule_cache_bytes)
        self._ids = itertools.count(1)
        self._id_prefix = "drq_" + os.urandom(4).hex()
        self._clock = clock

    # -- rules --------------------------------------------------------------------

    def parse_rules(self, msg: pb.RuleSet) -> ParsedRules:
        """The rule set of a request, from the cache or converted and checked once.

        Raises:
            InvalidRequest: no rules, too many, or a bad rule (the RuleError's text).
        """
        key = msg.SerializeToString(deterministic=True)
        hit = self._cache.get(key)
        if hit is None:  # the same bytes were checked before, with the same answer
            n = len(msg.rules)
            if n == 0:
                hit = "rules: the rule set is empty"
            elif n > self.settings.max_rules:
                hit = f"rules: {n} rules, at most {self.settings.max_rules} allowed"
            else:
                hit = self._convert(msg)
            self._cache.put(key, hit)
        if isinstance(hit, str):
            raise InvalidRequest(hit)
        return hit

    def _convert(self, msg: pb.RuleSet) -> ParsedRules | str:
        s = self.settings
        rules: list[Rule] = []
        for i, m in enumerate(msg.rules):
            try:
                config = rule_config_from_proto(m)
                if config["kind"] == "shield":
                    # Zero means "unset" on the wire: the service's defaults apply.
                    if not m.shield.threshold:
                        config["threshold"] = s.shield_threshold
                    if not m.shield.window_seconds:
                        config["window"] = s.shield_window
                    if not m.shield.block_for_seconds:
                        config["block_for"] = s.shield_block_for
                rules.append(rule_from_config(config))
            except ConfigurationError as exc:
                return f"rules[{i}]: {exc}"
        try:
            core = self._core or get_core()
            core.compile(rules_config(rules))
        except ConfigurationError as exc:
            return str(exc)
        modes = tuple(_MODE[r.mode] for r in rules)
        direct = None
        if self.sync_engine:
            try:
                direct = DirectRules(self.engine, tuple(rules))
            except TypeError:  # an engine without a sync store
                direct = None
        return ParsedRules(
            rules=tuple(rules),
            direct=direct,
            dns=needs_dns(rules),
            kinds=tuple(r.kind for r in rules),
            modes=modes,
            live=tuple(r.mode == "LIVE" for r in rules),
            tails=tuple(
                (
                    _result_tail(
                        r.kind,
                        m,
                        pb.RULE_STATE_RUN if r.mode == "LIVE" else pb.RULE_STATE_DRY_RUN,
                    ),
                    _result_tail(r.kind, m, pb.RULE_STATE_NOT_RUN),
                )
                for r, m in zip(rules, modes, strict=True)
            ),
        )

    # -- checks ---------------------------------------------------------------------

    def _check_details(self, d: pb.RequestDetails) -> None:
        s = self.settings
        if len(d.headers) > s.max_headers:
            raise InvalidRequest(
                f"details.headers: {len(d.headers)} headers, at most {s.max_headers} allowed"
            )
        if len(d.body) > s.max_body:
            raise InvalidRequest(f"details.body: {len(d.body)} bytes, at most {s.max_body} allowed")
        if len(d.extras) > s.max_extras:
            raise InvalidRequest(
                f"details.extras: {len(d.extras)} entries, at most {s.max_extras} allowed"
            )

    # -- Decide ---------------------------------------------------------------------

    def prepare(
        self, req: pb.DecideRequest
    ) -> tuple[ParsedRules, RequestDetails, int, list[RawResult] | None]:
        """Checks and converts a Decide request.

        Raises:
            InvalidRequest: see :meth:`parse_rules`, plus over-limit details,
                a bad ``requested`` or local results of the wrong length.
        """
        parsed = self.parse_rules(req.rules)
        details = req.details
        self._check_details(details)
        requested = req.requested or 1
        if requested > MAX_REQUESTED:
            raise InvalidRequest(f"requested: {requested} is more than {MAX_REQUESTED}")
        msgs = req.local_results
        local: list[RawResult] | None = None
        if msgs:
            n = len(parsed.rules)
            if len(msgs) != n:
                raise InvalidRequest(f"local_results: {len(msgs)} results for {n} rules")
            # code_from_wire, inlined: this runs for every escalated decision.
            local = [(m.code - 1, m.reason_json) for m in msgs]
            for code, _ in local:
                if not 0 <= code <= _CODE_ERROR:
                    raise InvalidRequest(f"local_results: unknown rule code {code + 1}")
        return parsed, details_from_proto(details), requested, local

    def decide_sync(self, req: pb.DecideRequest) -> bytes | Coroutine[Any, Any, bytes]:
        """Decides with a sync (memory) store, in the calling thread; the
        serialized DecideResponse. A rule set that may need a DNS check gives
        a coroutine to await instead (the check must not block the loop)."""
        parsed, details, requested, local = self.prepare(req)
        if parsed.dns:
            return self._adecide(parsed, details, requested, local, req.typed_reasons)
        direct = parsed.direct
        if direct is None or local is None or req.typed_reasons:
            out = self.engine.decide(details, parsed.rules, requested=requested, local=local)
            return self.answer(parsed, out, req.typed_reasons)
        # The SDK's escalations: the engine's direct face (the same steps and
        # answers as Engine.decide, tests/engine/test_direct.py) completes the
        # local codes in place, without a generator and a record per rule.
        codes = [code for code, _ in local]
        notes = direct.resolve(details, requested, codes)
        results = []
        for i, (code, (_, text)) in enumerate(zip(codes, local, strict=True)):
            note = notes.get(i)
            if note is None:
                results.append((code, text, 0.0))
                continue
            reason, ttl = note
            if reason is None:
                reason = text
            elif not isinstance(reason, str):
                reason = rate_reason(reason)
            results.append((code, reason, ttl))
        return self._encode(parsed, results)

    async def decide(self, req: pb.DecideRequest) -> bytes:
        """Decides one request (awaits the store when it is asynchronous); the
        serialized DecideResponse.

        Raises:
            InvalidRequest: the request is malformed or over a limit.
        """
        if self.sync_engine:
            resp = self.decide_sync(req)
            return resp if isinstance(resp, bytes) else await resp
        parsed, details, requested, local = self.prepare(req)
        return await self._adecide(parsed, details, requested, local, req.typed_reasons)

    async def _adecide(
        self,
        parsed: ParsedRules,
        details: RequestDetails,
        requested: int,
        local: list[RawResult] | None,
        typed: bool,
    ) -> bytes:
        out = await self.engine.adecide(details, parsed.rules, requested=requested, local=local)
        return self.answer(parsed, out, typed)

    def _next_id(self) -> str:
        return f"{self._id_prefix}{next(self._ids):x}"

    def answer(self, parsed: ParsedRules, out: EngineDecision, typed: bool) -> bytes:
        """The serialized response for an engine decision; counts it in the metrics.

        Written field by field (what ``SerializeToString`` writes for the same
        message, see ``tests/service/test_wire.py``); with typed reasons the
        message is built and serialized instead.
        """
        results = out.results
        if len(results) != len(parsed.rules):  # the engine's contract; never expected
            raise RuntimeError(f"engine returned {len(results)} results for {len(parsed.rules)}")
        if typed:
            data: bytes = self.answer_message(parsed, out).SerializeToString()
            return data
        return self._encode(parsed, results)

    def _encode(self, parsed: ParsedRules, results: Sequence[tuple[int, str, float]]) -> bytes:
        """The serialized DecideResponse of ``(code, reason, ttl)`` per rule
        (one per rule, in order); counts it in the metrics."""
        deciding = -1
        live = parsed.live
        tails = parsed.tails
        parts: list[bytes] = []
        codes: list[int] = []
        for i, (code, reason, ttl) in enumerate(results):
            codes.append(code)
            text = reason.encode()
            body = [_BYTE[8], _BYTE[code + 1]]
            if text:
                body += (b"\x12", encode_varint(len(text)), text)
            if ttl:
                body += (b"\x19", _DOUBLE.pack(ttl))
            body.append(tails[i][1] if code == _CODE_NOT_RUN else tails[i][0])
            r = b"".join(body)
            parts += (b"\x22", encode_varint(len(r)), r)
            if deciding < 0 and code == _CODE_DENY and live[i]:
                deciding = i
        rid = self._next_id().encode()
        if deciding >= 0:
            _, reason, ttl = results[deciding]
            conclusion = pb.CONCLUSION_DENY
        else:
            conclusion, reason, ttl = pb.CONCLUSION_ALLOW, results[-1][1], 0.0
        rb = reason.encode()
        head = [b"\x0a", encode_varint(len(rid)), rid, b"\x10", _BYTE[conclusion]]
        if rb:
            head += (b"\x1a", encode_varint(len(rb)), rb)
        head += parts
        if ttl:
            head += (b"\x29", _DOUBLE.pack(ttl))
        self.metrics.observe_decision(deciding >= 0, parsed.kinds, codes)
        return b"".join(head)

    def answer_message(self, parsed: ParsedRules, out: EngineDecision) -> pb.DecideResponse:
        """The response message with typed reasons filled in; counts it in the metrics."""
        results = out.results
        resp = pb.DecideResponse(id=self._next_id())
        deciding = -1
        rr = resp.results
        for i, o in enumerate(results):
            code = o.code
            live = parsed.live[i]
            if code == _CODE_NOT_RUN:
                state = pb.RULE_STATE_NOT_RUN
            else:
                state = pb.RULE_STATE_RUN if live else pb.RULE_STATE_DRY_RUN
            m = rr.add(
                code=code + 1,
                reason_json=o.reason,
                ttl=o.ttl,
                kind=parsed.kinds[i],
                mode=parsed.modes[i],
                state=state,
            )
            set_typed_reason(m, o.reason)
            if deciding < 0 and live and code == _CODE_DENY:
                deciding = i
        if deciding >= 0:
            resp.conclusion = pb.CONCLUSION_DENY
            resp.reason_json = results[deciding].reason
            resp.ttl = results[deciding].ttl
        else:
            resp.conclusion = pb.CONCLUSION_ALLOW
            resp.reason_json = results[-1].reason
        self.metrics.observe_decision(deciding >= 0, parsed.kinds, [o.code for o in results])
        return resp

    # -- Report ---------------------------------------------------------------------

    def prepare_report(
        self, req: pb.ReportRequest
    ) -> list[tuple[ParsedRules, RequestDetails, list[RawResult]]]:
        """Checks and converts a Report batch.

        Raises:
            InvalidRequest: too many decisions, a bad rule set index or result.
        """
        n = len(req.decisions)
        if n > self.settings.max_report_batch:
            raise InvalidRequest(
                f"decisions: {n} in one report, at most {self.settings.max_report_batch} allowed"
            )
        sets = [self.parse_rules(rs) for rs in req.rule_sets]
        out: list[tuple[ParsedRules, RequestDetails, list[RawResult]]] = []
        for i, d in enumerate(req.decisions):
            if d.rule_set >= len(sets):
                raise InvalidRequest(f"decisions[{i}].rule_set: no rule set {d.rule_set}")
            parsed = sets[d.rule_set]
            if len(d.results) != len(parsed.rules):
                raise InvalidRequest(
                    f"decisions[{i}].results: {len(d.results)} results for "
                    f"{len(parsed.rules)} rules"
                )
            self._check_details(d.details)
            try:
                local = [(code_from_wire(r.code), r.reason_json) for r in d.results]
            except ValueError as exc:
                raise InvalidRequest(f"decisions[{i}].results: {exc}") from None
            out.append((parsed, details_from_proto(d.details), local))
        return out

    async def report(self, req: pb.ReportRequest) -> pb.ReportResponse:
        """Records a batch of locally made decisions (shield counting, metrics).

        Raises:
            InvalidRequest: see :meth:`prepare_report`.
        """
        items = self.prepare_report(req)
        accepted = 0
        for parsed, details, local in items:
            if self.sync_engine:
                self.engine.record(details, parsed.rules, local)
            else:
                await self.engine.arecord(details, parsed.rules, local)
            accepted += 1
            self.metrics.observe_report(parsed.kinds, [c for c, _ in local], parsed.live)
        return pb.ReportResponse(accepted=accepted)
