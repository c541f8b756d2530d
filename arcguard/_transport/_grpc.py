"""The gRPC transport: the SDK's only module that touches grpc.

Channels
    One sync channel (for :meth:`GrpcTransport.decide` and reports) and one
    ``grpc.aio`` channel per event loop (for :meth:`GrpcTransport.adecide`) per
    target, created lazily on first use and reused. The process id is checked
    on every call: after a fork (gunicorn's pre-fork workers) the child drops
    the parent's channels without touching them and builds its own, since
    gRPC's core threads do not survive a fork.

Keepalive (grpc/doc/keepalive.md, gRFC A8 client-side keepalive)
    ``grpc.keepalive_time_ms`` 30 s: ping an idle connection so that a dead
    peer or a NAT/LB idle timeout is noticed before a request needs it;
    ``grpc.keepalive_timeout_ms`` 10 s: drop the connection when a ping is not
    answered; ``grpc.keepalive_permit_without_calls`` 1 and
    ``grpc.http2.max_pings_without_data`` 0: keep pinging between requests
    (the decide service sets ``grpc.http2.min_recv_ping_interval_without_data_ms``
    below 30 s and permits pings without calls, so it does not answer these
    pings with GOAWAY "too_many_pings").

Deadlines and errors
    Every call carries a deadline (default 20 ms) and ``authorization: Bearer``
    metadata. ``grpc.RpcError`` is translated here: DEADLINE_EXCEEDED ->
    :class:`TransportTimeout`, UNAVAILABLE -> :class:`Unavailable`,
    UNAUTHENTICATED -> :class:`Unauthenticated`, anything else and a malformed
    answer (wrong number of results, unknown codes) -> :class:`TransportError`.

Circuit breaker
    One per target. Timeouts, UNAVAILABLE and other server-side failures count;
    after ``failure_threshold`` in a row the circuit opens and calls raise
    :class:`Unavailable` at once (microseconds) until a trial call succeeds. An
    endpoint selector, when given, hears of every success and failure.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import grpc
import grpc.aio

from .._endpoint.address import is_loopback_target
from .._engine import EngineDecision, RuleOutcome
from .._exceptions import (
    ConfigurationError,
    TransportError,
    TransportTimeout,
    Unauthenticated,
    Unavailable,
)
from .._proto import decide_pb2 as pb
from ._base import RawResult, Transport
from ._breaker import BreakerSettings, CircuitBreaker
from ._reporter import Reporter, ReporterSettings
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

#: Seconds a Decide call may take.
DEFAULT_TIMEOUT = 0.020
#: Seconds a Report call may take (off the request path).
DEFAULT_REPORT_TIMEOUT = 2.0
#: Seconds between keepalive pings on an idle connection.
DEFAULT_KEEPALIVE_TIME = 30.0
#: Seconds a keepalive ping may go unanswered before the connection is dropped.
DEFAULT_KEEPALIVE_TIMEOUT = 10.0
#: Largest message sent or received, bytes.
DEFAULT_MAX_MESSAGE_SIZE = 4 * 1024 * 1024

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


def _env_float(environ: Mapping[str, str], name: str, default: float, scale: float = 1.0) -> float:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw) * scale
    except ValueError:
        raise ConfigurationError(f"{name}: expected a number, got {raw!r}") from None


@dataclass(frozen=True, slots=True)
class GrpcTransportSettings:
    """How the SDK talks to the decide service.

    Attributes:
        key: the API key, sent as ``authorization: Bearer <key>``; None sends none.
        timeout: seconds a Decide call may take (the deadline).
        report_timeout: seconds a Report call may take.
        tls: True for TLS, False for plaintext, None for "plaintext only to
            loopback targets, TLS otherwise".
        root_certificates: PEM roots to verify the service (None: the system's).
        server_name: TLS name to verify instead of the target's host (tests).
        keepalive_time / keepalive_timeout: see the module docstring.
        max_message_size: largest message sent or received, bytes.
        typed_reasons: ask the service to fill typed reasons too.
        breaker: the circuit-breaker options.
        reporter: the background reporter's options.

    Raises:
        ConfigurationError: on an out-of-range value.
    """

    key: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    report_timeout: float = DEFAULT_REPORT_TIMEOUT
    tls: bool | None = None
    root_certificates: bytes | None = None
    server_name: str | None = None
    keepalive_time: float = DEFAULT_KEEPALIVE_TIME
    keepalive_timeout: float = DEFAULT_KEEPALIVE_TIMEOUT
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    typed_reasons: bool = False
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    reporter: ReporterSettings = field(default_factory=ReporterSettings)

    def __post_init__(self) -> None:
        if not 0 < self.timeout <= 60 or not 0 < self.report_timeout <= 60:
            raise ConfigurationError("timeout and report_timeout must be in (0, 60] seconds")
        if self.keepalive_time < 1 or self.keepalive_timeout <= 0:
            raise ConfigurationError("keepalive_time must be >= 1 s, keepalive_timeout > 0")
        if self.max_message_size < 1024:
            raise ConfigurationError("max_message_size must be at least 1024 bytes")
        if self.key is not None and (not self.key or any(c in self.key for c in "\r\n")):
            raise ConfigurationError("the API key must be a non-empty single line")

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], *, key: str | None = None, timeout: float | None = None
    ) -> GrpcTransportSettings:
        """Settings from ``ARCGUARD_*`` variables; explicit arguments win.

        ``ARCGUARD_KEY``, ``ARCGUARD_TIMEOUT_MS``, ``ARCGUARD_TLS`` (``1``/``0``),
        ``ARCGUARD_CA_FILE`` (PEM roots), ``ARCGUARD_TLS_SERVER_NAME``.

        Raises:
            ConfigurationError: on a malformed value or an unreadable CA file.
        """
        tls_raw = environ.get("ARCGUARD_TLS", "").strip().lower()
        tls: bool | None
        if tls_raw in ("", "auto"):
            tls = None
        elif tls_raw in ("1", "true", "yes", "on"):
            tls = True
        elif tls_raw in ("0", "false", "no", "off"):
            tls = False
        else:
            raise ConfigurationError(f"ARCGUARD_TLS: expected 1, 0 or auto, got {tls_raw!r}")
        roots = None
        ca = environ.get("ARCGUARD_CA_FILE")
        if ca:
            try:
                with open(ca, "rb") as f:
                    roots = f.read()
            except OSError as exc:
                raise ConfigurationError(f"ARCGUARD_CA_FILE: cannot read {ca}: {exc}") from exc
        return cls(
            key=key if key is not None else (environ.get("ARCGUARD_KEY") or None),
            timeout=timeout
            if timeout is not None
            else _env_float(environ, "ARCGUARD_TIMEOUT_MS", DEFAULT_TIMEOUT, 0.001),
            tls=tls,
            root_certificates=roots,
            server_name=environ.get("ARCGUARD_TLS_SERVER_NAME") or None,
        )


def channel_options(settings: GrpcTransportSettings) -> list[tuple[str, Any]]:
    """The channel arguments the transport uses (see the module docstring)."""
    opts: list[tuple[str, Any]] = [
        ("grpc.keepalive_time_ms", int(settings.keepalive_time * 1000)),
        ("grpc.keepalive_timeout_ms", int(settings.keepalive_timeout * 1000)),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.max_send_message_length", settings.max_message_size),
        ("grpc.max_receive_message_length", settings.max_message_size),
        # Reconnect quickly after the service restarts (default starts at 1 s
        # and grows to 120 s, far beyond the breaker's own backoff).
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 5000),
    ]
    if settings.server_name:
        opts.append(("grpc.ssl_target_name_override", settings.server_name))
    return opts


def _identity(b: bytes) -> bytes:
    return b


class _Unary(Protocol):
    def __call__(self, request: bytes, *, timeout: float, metadata: Any) -> Any: ...


@dataclass(slots=True)
class _SyncChannel:
    channel: grpc.Channel
    decide: Callable[..., pb.DecideResponse]
    report: Callable[..., pb.ReportResponse]


@dataclass(slots=True)
class _AioChannel:
    channel: grpc.aio.Channel
    decide: Any


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

    def _sync_channel(self, target: str) -> _SyncChannel:
        ch = self._sync.get(target)
        if ch is not None:
            return ch
        with self._lock:
            ch = self._sync.get(target)
            if ch is None:
                creds = self._credentials(target)
                channel = (
                    grpc.secure_channel(target, creds, options=self._options)
                    if creds is not None
                    else grpc.insecure_channel(target, options=self._options)
                )
                ch = _SyncChannel(
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
                self._sync[target] = ch
        return ch

    def _aio_channel(self, target: str) -> _AioChannel:
        loop = asyncio.get_running_loop()
        per_loop = self._aio.get(loop)
        if per_loop is None:
            per_loop = self._aio.setdefault(loop, {})
        ch = per_loop.get(target)
        if ch is None:
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

    def _failed(self, target: str, breaker: CircuitBreaker, exc: grpc.RpcError) -> TransportError:
        code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
        details = exc.details() if hasattr(exc, "details") else ""
        if code in _FAILURES:
            opened = breaker.record_failure()
            if self._selector is not None:
                self._selector.report_failure(target, circuit_open=opened)
            if opened:
                logger.warning("decide service %s: circuit opened (%s)", target, code.name)
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
        if not breaker.allow():
            raise self._refused(target, breaker)
        payload, n = self._request(details, rules, requested, local)
        try:
            resp = stub(payload, timeout=self._timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise self._failed(target, breaker, exc) from exc
        breaker.record_success()
        if self._selector is not None:
            self._selector.report_success(target)
        return self._answer(resp, n)

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
        if not breaker.allow():
            raise self._refused(target, breaker)
        payload, n = self._request(details, rules, requested, local)
        stub = self._aio_channel(target).decide
        try:
            resp = await stub(payload, timeout=self._timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise self._failed(target, breaker, exc) from exc
        self._succeeded(target, breaker)
        return self._answer(resp, n)

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
        except grpc.RpcError as exc:
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
