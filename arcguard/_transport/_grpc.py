"""The gRPC transport: the SDK's only module that touches grpc.

Settings, channel options and keepalive: :mod:`._settings`.

Channels
    One sync channel (for :meth:`GrpcTransport.decide` and reports) and one
    ``grpc.aio`` channel per event loop (for :meth:`GrpcTransport.adecide`) per
    target, created lazily on first use and reused. The process id is checked
    on every call: after a fork (gunicorn's pre-fork workers) the child drops
    the parent's channels without touching them and builds its own, since
    gRPC's core threads do not survive a fork.

Deadlines and errors
    Every call carries a deadline (default 20 ms) and ``authorization: Bearer``
    metadata. ``grpc.RpcError`` is translated here: DEADLINE_EXCEEDED ->
    :class:`TransportTimeout`, UNAVAILABLE -> :class:`Unavailable`,
    UNAUTHENTICATED -> :class:`Unauthenticated`, anything else and a malformed
    answer (wrong number of results, unknown codes) -> :class:`TransportError`.

Circuit breaker and recovery
    One per target. Timeouts, UNAVAILABLE and other server-side failures count;
    after ``failure_threshold`` in a row the circuit opens and calls raise
    :class:`Unavailable` at once (microseconds) until a trial call succeeds. An
    endpoint selector, when given, hears of every success and failure. While
    a circuit is open, a :class:`~._recovery.RecoveryProbe` checks the
    target's health off the request path on a fresh channel; when it answers,
    that connected channel becomes the target's channel (the old one may be in
    gRPC's reconnect backoff, which would fail the trial) and the next call is
    the breaker's trial: calls succeed again within about ``recovery_interval``
    of the service answering health. (Each channel has its own subchannel
    pool: with gRPC's global one, a fresh channel would share the old one's
    connection and its backoff.)
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import grpc
import grpc.aio

from .._endpoint.address import is_loopback_target
from .._engine import EngineDecision, RuleOutcome
from .._exceptions import (
    TransportError,
    TransportTimeout,
    Unauthenticated,
    Unavailable,
)
from .._proto import decide_pb2 as pb
from ._base import RawResult, Transport
from ._breaker import CircuitBreaker
from ._recovery import RecoveryProbe
from ._reporter import Reporter
from ._settings import (
    DEFAULT_KEEPALIVE_TIME,
    DEFAULT_KEEPALIVE_TIMEOUT,
    DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_REPORT_TIMEOUT,
    DEFAULT_TIMEOUT,
    GrpcTransportSettings,
    channel_options,
)
from ._wire import (
    CODE_ERROR,
    details_to_proto,
    encode_decide_tail,
    mode_to_wire,
    rule_set_to_proto,
)

if TYPE_CHECKING:
    from .._request import RequestDetails
    from .._rules import Rule

__all__ = [
    "DECIDE_METHOD",
    "DEFAULT_KEEPALIVE_TIME",
    "DEFAULT_KEEPALIVE_TIMEOUT",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_REPORT_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "REPORT_METHOD",
    "GrpcTransport",
    "GrpcTransportSettings",
    "TargetSource",
    "channel_options",
    "is_loopback_target",
]

logger = logging.getLogger("arcguard.transport")

DECIDE_METHOD = "/arcguard.decide.v1.DecideService/Decide"
REPORT_METHOD = "/arcguard.decide.v1.DecideService/Report"

#: Status codes that say "the service is not answering" (they count for the breaker).
_FAILURES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.CANCELLED,
    }
)
_STATE = {"LIVE": pb.RULE_STATE_RUN, "DRY_RUN": pb.RULE_STATE_DRY_RUN}


class TargetSource(Protocol):
    """What the transport needs of an endpoint selector."""

    def current(self) -> str: ...

    def report_success(self, target: str) -> None: ...

    def report_failure(self, target: str, *, circuit_open: bool = False) -> None: ...


def _identity(b: bytes) -> bytes:
    return b


@dataclass(slots=True)
class _SyncChannel:
    channel: grpc.Channel
    decide: Callable[..., pb.DecideResponse]
    report: Callable[..., pb.ReportResponse]


@dataclass(slots=True)
class _AioChannel:
    channel: grpc.aio.Channel
    decide: Any
    #: the target's channel generation it was built in (see GrpcTransport._recovered)
    generation: int


class GrpcTransport(Transport):
    """Decides through the decide service over gRPC.

    Parameters:
        settings: key, deadline, TLS, keepalive, breaker and reporter options.
        target: a ``host:port`` string, or an endpoint selector (anything with
            ``current()``, ``report_success(t)``, ``report_failure(t)``).
        clock: monotonic clock of the circuit breakers (tests).
        owns_selector: close the selector (``target.close()``) in :meth:`close`.

    TLS is used unless the target is loopback or ``tls=False`` was chosen
    explicitly, so the API key never crosses a network in plaintext by default.

    Example::

        transport = GrpcTransport(GrpcTransportSettings(key="ak_..."), "127.0.0.1:7443")
        outcome = transport.decide(details, rules, requested=1)
        transport.close()
    """

    def __init__(
        self,
        settings: GrpcTransportSettings,
        target: str | TargetSource,
        *,
        clock: Callable[[], float] = time.monotonic,
        owns_selector: bool = False,
    ) -> None:
        self.settings = settings
        self._owns_selector = owns_selector
        if isinstance(target, str):
            self._fixed: str | None = target
            self._selector: TargetSource | None = None
        else:
            self._fixed = None
            self._selector = target
            on_change = getattr(target, "on_change", None)
            if on_change is not None:
                on_change(self._target_changed)
        self._clock = clock
        self._timeout = settings.timeout
        self._metadata: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {settings.key}"),) if settings.key else ()
        )
        self._options = channel_options(settings)
        self._lock = threading.Lock()
        self._rules_cache: tuple[Sequence[Rule], bytes, int] | None = None
        self._reset(os.getpid())
        self.reporter = Reporter(self._send_reports, settings.reporter)
        self._closed = False

    # -- channels ---------------------------------------------------------------

    def _reset(self, pid: int) -> None:
        # Called at construction and in a forked child: the parent's channels
        # are dropped, not closed (closing would touch the parent's threads).
        self._pid = pid
        self._sync: dict[str, _SyncChannel] = {}
        self._aio: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _AioChannel]] = (
            weakref.WeakKeyDictionary()
        )
        self._breakers: dict[str, CircuitBreaker] = {}
        # Per target, its breaker and sync Decide stub: one lookup per call.
        self._routes: dict[str, tuple[CircuitBreaker, Callable[..., pb.DecideResponse]]] = {}
        # Per target, bumped when recovery replaces its channels: an asyncio
        # channel of an older generation is replaced on its loop's next call.
        self._generations: dict[str, int] = {}
        self._recovery = RecoveryProbe(
            self._new_channel, self._recovered, interval=self.settings.recovery_interval
        )

    def _target_changed(self, change: Any) -> None:
        """The selector moved to another endpoint (fail-over or fail-back).

        A channel kept from an earlier spell on that endpoint may still be in
        reconnect backoff after its failure, and would fail the first calls
        even though the endpoint is healthy again: drop it, so the next call
        connects afresh. (Asyncio channels belong to their loops; they are
        left to reconnect on their own.)
        """
        target = getattr(change, "current", None)
        if not isinstance(target, str):
            return
        with self._lock:
            stale = self._sync.pop(target, None)
            self._breakers.pop(target, None)
            self._routes.pop(target, None)
        if stale is not None:
            stale.channel.close()

    def _check_fork(self) -> None:
        pid = os.getpid()
        if pid != self._pid:
            with self._lock:
                if pid != self._pid:
                    self._reset(pid)

    def _target(self) -> str:
        if self._fixed is not None:
            return self._fixed
        return self._selector.current()  # type: ignore[union-attr]

    def _credentials(self, target: str) -> grpc.ChannelCredentials | None:
        tls = self.settings.tls
        if tls is None:
            tls = not is_loopback_target(target)
        if tls:
            return grpc.ssl_channel_credentials(root_certificates=self.settings.root_certificates)
        return None

    def _new_channel(self, target: str) -> grpc.Channel:
        """A new sync channel to ``target`` with the transport's options and credentials."""
        creds = self._credentials(target)
        if creds is not None:
            return grpc.secure_channel(target, creds, options=self._options)
        return grpc.insecure_channel(target, options=self._options)

    @staticmethod
    def _stubs(channel: grpc.Channel) -> _SyncChannel:
        return _SyncChannel(
            channel,
            channel.unary_unary(
                DECIDE_METHOD,
                request_serializer=_identity,
                response_deserializer=pb.DecideResponse.FromString,
                _registered_method=True,
            ),
            channel.unary_unary(
                REPORT_METHOD,
                request_serializer=_identity,
                response_deserializer=pb.ReportResponse.FromString,
                _registered_method=True,
            ),
        )

    def _sync_channel(self, target: str) -> _SyncChannel:
        ch = self._sync.get(target)
        if ch is not None:
            return ch
        with self._lock:
            ch = self._sync.get(target)
            if ch is None:
                ch = self._sync[target] = self._stubs(self._new_channel(target))
        return ch

    def _recovered(self, target: str, channel: grpc.Channel) -> None:
        """The recovery probe found ``target`` healthy on ``channel`` (connected):
        it becomes the target's sync channel, and asyncio channels are renewed."""
        with self._lock:
            if self._closed or self._pid != os.getpid():
                channel.close()
                return
            old = self._sync.get(target)
            self._sync[target] = self._stubs(channel)
            self._routes.pop(target, None)
            self._generations[target] = self._generations.get(target, 0) + 1
        if old is not None:
            _close_later(old.channel, self._timeout)

    def _aio_channel(self, target: str) -> _AioChannel:
        loop = asyncio.get_running_loop()
        per_loop = self._aio.get(loop)
        if per_loop is None:
            per_loop = self._aio.setdefault(loop, {})
        ch = per_loop.get(target)
        generation = self._generations.get(target, 0)
        if ch is None or ch.generation != generation:
            if ch is not None:  # renewed by recovery; calls in flight may finish
                _close_aio_later(ch.channel, self._timeout)
            creds = self._credentials(target)
            channel = (
                grpc.aio.secure_channel(target, creds, options=self._options)
                if creds is not None
                else grpc.aio.insecure_channel(target, options=self._options)
            )
            ch = _AioChannel(
                channel,
                channel.unary_unary(
                    DECIDE_METHOD,
                    request_serializer=_identity,
                    response_deserializer=pb.DecideResponse.FromString,
                ),
                generation,
            )
            per_loop[target] = ch
        return ch

    def _route(self, target: str) -> tuple[CircuitBreaker, Callable[..., pb.DecideResponse]]:
        route = (self.breaker(target), self._sync_channel(target).decide)
        self._routes[target] = route
        return route

    def breaker(self, target: str | None = None) -> CircuitBreaker:
        """The circuit breaker of ``target`` (default: the current target)."""
        t = self._target() if target is None else target
        b = self._breakers.get(t)
        if b is None:
            with self._lock:
                b = self._breakers.setdefault(
                    t, CircuitBreaker(self.settings.breaker, clock=self._clock)
                )
        return b

    # -- requests ---------------------------------------------------------------

    def _rules_bytes(self, rules: Sequence[Rule]) -> tuple[bytes, int]:
        # The guard passes the same tuple every time: the encoded rule set is
        # built once and prepended to each request (protobuf fields concatenate).
        cached = self._rules_cache
        if cached is not None and cached[0] is rules:
            return cached[1], cached[2]
        head = pb.DecideRequest(
            rules=rule_set_to_proto(rules), typed_reasons=self.settings.typed_reasons
        ).SerializeToString()
        n = len(rules)
        self._rules_cache = (rules, head, n)
        return head, n

    def _request(
        self,
        details: RequestDetails,
        rules: Sequence[Rule],
        requested: int,
        local: Sequence[RawResult] | None,
    ) -> tuple[bytes, int]:
        head, n = self._rules_bytes(rules)
        try:
            # The rule set's bytes, encoded once, then this request's fields.
            return head + encode_decide_tail(details, requested, local), n
        except (ValueError, TypeError, AttributeError) as exc:
            raise TransportError(f"cannot encode the request: {exc}") from exc

    def _answer(self, resp: pb.DecideResponse, n: int) -> EngineDecision:
        results = resp.results
        if len(results) != n:
            raise TransportError(
                f"the decide service answered {len(results)} results for {n} rules"
            )
        outcomes = []
        for r in results:
            code = r.code - 1  # code_from_wire, inlined: this runs for every decision
            if not 0 <= code <= CODE_ERROR:
                raise TransportError(
                    f"the decide service sent a malformed result: unknown rule code {r.code}"
                )
            outcomes.append(RuleOutcome(code, r.reason_json, r.ttl))
        return EngineDecision(results=tuple(outcomes))

    def _refused(self, target: str, breaker: CircuitBreaker) -> Unavailable:
        return Unavailable(
            f"decide service {target}: circuit open after repeated failures "
            f"(next try in {breaker.retry_in():.2f}s)"
        )

    def _failed(self, target: str, breaker: CircuitBreaker, exc: Exception) -> TransportError:
        """The error a failed call raises; a service-side failure counts for the
        breaker (and the selector), and an opening starts the recovery probe."""
        if not isinstance(exc, grpc.RpcError):
            # ValueError / grpc.aio.UsageError: the channel was closed under the
            # call (the transport closing, or a fail-over): not the service's fault.
            return Unavailable(f"decide service {target}: channel closed: {exc}")
        code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
        details = exc.details() if hasattr(exc, "details") else ""
        if code in _FAILURES:
            opened = breaker.record_failure()
            if self._selector is not None:
                self._selector.report_failure(target, circuit_open=opened)
            if opened:
                logger.warning("decide service %s: circuit opened (%s)", target, code.name)
                self._recovery.watch(target, breaker)
        text = f"decide service {target}: {code.name}: {details}"
        if code is grpc.StatusCode.DEADLINE_EXCEEDED:
            return TransportTimeout(text)
        if code is grpc.StatusCode.UNAVAILABLE:
            return Unavailable(text)
        if code is grpc.StatusCode.UNAUTHENTICATED:
            return Unauthenticated(text)
        return TransportError(text)

    def _succeeded(self, target: str, breaker: CircuitBreaker) -> None:
        breaker.record_success()
        if self._selector is not None:
            self._selector.report_success(target)

    # decide() and adecide() share everything but the I/O: the fork check and
    # the breaker (_admit), the request bytes (_request), the error
    # translation (_failed) and the answer (_answered). Each only finds its
    # channel's stub and makes the call, blocking or awaited.

    def _admit(self, target: str, breaker: CircuitBreaker) -> None:
        if not breaker.allow():
            raise self._refused(target, breaker)

    def _answered(
        self, target: str, breaker: CircuitBreaker, resp: pb.DecideResponse, n: int
    ) -> EngineDecision:
        self._succeeded(target, breaker)
        return self._answer(resp, n)

    def decide(
        self,
        details: RequestDetails,
        rules: Sequence[Rule],
        *,
        requested: int = 1,
        local: Sequence[RawResult] | None = None,
    ) -> EngineDecision:
        """See :meth:`Transport.decide`.

        Raises:
            TransportTimeout: the deadline passed.
            Unavailable: the service is unreachable, or the circuit is open.
            Unauthenticated: the key was refused.
            TransportError: any other failure or a malformed answer.
        """
        if self._pid != os.getpid():
            self._check_fork()
        target = self._fixed if self._fixed is not None else self._target()
        route = self._routes.get(target)
        breaker, stub = route if route is not None else self._route(target)
        self._admit(target, breaker)
        payload, n = self._request(details, rules, requested, local)
        try:
            resp = stub(payload, timeout=self._timeout, metadata=self._metadata)
        except (grpc.RpcError, ValueError) as exc:
            raise self._failed(target, breaker, exc) from exc
        return self._answered(target, breaker, resp, n)

    async def adecide(
        self,
        details: RequestDetails,
        rules: Sequence[Rule],
        *,
        requested: int = 1,
        local: Sequence[RawResult] | None = None,
    ) -> EngineDecision:
        """See :meth:`decide`; uses this event loop's ``grpc.aio`` channel."""
        if self._pid != os.getpid():
            self._check_fork()
        target = self._target()
        breaker = self.breaker(target)
        self._admit(target, breaker)
        payload, n = self._request(details, rules, requested, local)
        stub = self._aio_channel(target).decide
        try:
            resp = await stub(payload, timeout=self._timeout, metadata=self._metadata)
        except (grpc.RpcError, grpc.aio.UsageError) as exc:
            raise self._failed(target, breaker, exc) from exc
        return self._answered(target, breaker, resp, n)

    # -- reports ----------------------------------------------------------------

    def report(
        self, details: RequestDetails, rules: Sequence[Rule], results: Sequence[RawResult]
    ) -> None:
        """Queues a locally made decision for the background reporter. Never blocks."""
        self.reporter.submit((details, rules, tuple(results), time.time()))

    def _send_reports(self, batch: Sequence[Any]) -> None:
        target = self._target()
        breaker = self.breaker(target)
        if not breaker.allow():
            raise self._refused(target, breaker)
        req = pb.ReportRequest()
        index: dict[int, int] = {}
        for details, rules, results, ts in batch:
            i = index.get(id(rules))
            if i is None:
                i = index[id(rules)] = len(req.rule_sets)
                req.rule_sets.append(rule_set_to_proto(rules))
            d = req.decisions.add(rule_set=i, timestamp=ts)
            d.details.CopyFrom(details_to_proto(details))
            for (code, reason), rule in zip(results, rules, strict=False):
                d.results.add(
                    code=code + 1,
                    reason_json=reason,
                    kind=rule.kind,
                    mode=mode_to_wire(rule.mode),
                    state=pb.RULE_STATE_NOT_RUN if code == 3 else _STATE[rule.mode],
                )
        stub = self._sync_channel(target).report
        try:
            stub(
                req.SerializeToString(),
                timeout=self.settings.report_timeout,
                metadata=self._metadata,
            )
        except (grpc.RpcError, ValueError) as exc:
            raise self._failed(target, breaker, exc) from exc
        self._succeeded(target, breaker)

    # -- closing ----------------------------------------------------------------

    def close(self) -> None:
        """Flushes queued reports (bounded) and closes the channels of this process."""
        if self._closed:
            return
        self._closed = True
        self.reporter.close()
        if self._pid != os.getpid():
            self._reset(os.getpid())
            return
        self._recovery.close()
        with self._lock:
            self._routes = {}
            sync, self._sync = self._sync, {}
            aio = list(self._aio.items())
            self._aio = weakref.WeakKeyDictionary()
        for ch in sync.values():
            ch.channel.close()
        for loop, chans in aio:
            for ach in chans.values():
                _close_aio_channel(loop, ach.channel)
        if self._owns_selector:
            close = getattr(self._selector, "close", None)
            if close is not None:
                close()

    async def aclose(self) -> None:
        """Closes this event loop's asyncio channels (awaited), then :meth:`close`."""
        loop = asyncio.get_running_loop()
        chans = self._aio.pop(loop, {})
        for ach in chans.values():
            await ach.channel.close()
        self.close()

    def __repr__(self) -> str:
        return f"GrpcTransport(target={self._target()!r})"


def _close_aio_channel(loop: asyncio.AbstractEventLoop, channel: grpc.aio.Channel) -> None:
    """Closes an asyncio channel from outside its loop, as well as can be done."""
    if loop.is_closed():
        return
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        loop.create_task(channel.close())
    elif loop.is_running():
        asyncio.run_coroutine_threadsafe(channel.close(), loop)
    else:
        loop.run_until_complete(channel.close())


def _close_later(channel: grpc.Channel, timeout: float) -> None:
    """Closes a replaced sync channel once calls that may still use it are over
    (closing it at once would cancel them)."""
    t = threading.Timer(max(1.0, 2 * timeout), channel.close)
    t.daemon = True
    t.start()


_closing: set[asyncio.Task[None]] = set()  # referenced until done (asyncio keeps weak ones)


def _close_aio_later(channel: grpc.aio.Channel, timeout: float) -> None:
    """Closes a replaced asyncio channel of the running loop, letting calls in
    flight finish first (``grace``)."""
    task = asyncio.get_running_loop().create_task(channel.close(grace=max(1.0, 2 * timeout)))
    _closing.add(task)
    task.add_done_callback(_closing.discard)
