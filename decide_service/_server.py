"""The decide service's gRPC server: the service's only module that touches grpc.

:func:`create_server` builds, binds and starts a ``grpc.aio`` server with the
DecideService, grpc.health.v1 and server reflection; the API key is checked
by the DecideService handlers (health and reflection need none). Errors of the decider become status
codes here: :class:`InvalidRequest` -> INVALID_ARGUMENT, a store failure ->
UNAVAILABLE, anything unexpected -> INTERNAL (logged with its trace, never
crashing the server).

Shutdown (:func:`shutdown`, run on SIGTERM/SIGINT by :func:`serve`): health
turns NOT_SERVING first, so balancers and the SDK's probes stop sending, then
``server.stop(grace)`` lets in-flight calls finish, then the metrics endpoint
and the store are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import os
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio
from google.protobuf.message import DecodeError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from arcguard._core import get_core
from arcguard._engine import Engine, MemoryStore, StoreUnavailable
from arcguard._exceptions import ConfigurationError
from arcguard._proto import decide_pb2 as pb
from arcguard._signup.dns import DnsChecker

from ._decider import Decider, InvalidRequest
from ._logging import configure_logging, logger
from ._metrics import Metrics, MetricsHTTPServer
from ._settings import Settings, settings_from_args, uvloop_available

__all__ = [
    "SERVICE_NAME",
    "DecideApp",
    "KeyChecker",
    "app_for",
    "create_server",
    "loop_factory",
    "main",
    "run_dev",
    "run_serve",
    "serve",
    "server_options",
    "shutdown",
]

#: The DecideService's full name (health and reflection name it).
SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["DecideService"].full_name


def server_options(settings: Settings) -> list[tuple[str, Any]]:
    """The server's channel arguments.

    Clients ping every 30 s on idle connections (grpc/doc/keepalive.md): the
    server must permit pings without calls and accept them this often, or it
    answers with GOAWAY "too_many_pings". ``so_reuseport`` is off so that a
    second server can never silently share a port, except with
    ``workers > 1``, where sharing the port is the point.
    """
    return [
        ("grpc.max_receive_message_length", settings.max_message_size),
        ("grpc.max_send_message_length", settings.max_message_size),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
        ("grpc.http2.max_ping_strikes", 2),
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.so_reuseport", 1 if settings.workers > 1 else 0),
    ]


# -- auth --------------------------------------------------------------------------


class KeyChecker:
    """Checks ``authorization: Bearer <key>`` against the accepted keys in constant time.

    Every key is compared (no early exit), so timing tells neither which key
    nor how much of one matched.
    """

    def __init__(self, keys: Sequence[str]) -> None:
        self._keys = tuple(k.encode() for k in keys)

    def check(self, header: str | None) -> bool:
        """Whether an ``authorization`` header value carries an accepted key."""
        if not header or len(header) < 8 or header[:7].lower() != "bearer ":
            return False
        got = header[7:].strip().encode("utf-8", "replace")
        ok = False
        for k in self._keys:
            ok |= hmac.compare_digest(got, k)
        return ok


# -- the service -------------------------------------------------------------------


def _identity(b: bytes) -> bytes:
    return b


class _Handlers:
    """Adapts the decider to gRPC: the API key, parsing, status codes, latency,
    the catch-all.

    The key is checked here, first thing in each DecideService handler, not
    by a server interceptor: with any interceptor, grpc.aio runs an extra
    coroutine chain for every call (~30 us of a loopback Decide call in A/B
    runs), and health and reflection need no key anyway.
    """

    def __init__(self, decider: Decider, metrics: Metrics, keys: KeyChecker | None) -> None:
        self.decider = decider
        self.metrics = metrics
        self._sync = decider.sync_engine
        self._keys = keys

    def _refused(self, context: grpc.aio.ServicerContext[Any, Any]) -> bool:
        """Whether the call lacks an accepted ``authorization: Bearer`` key."""
        if self._keys is None:
            return False
        token = None
        for md in context.invocation_metadata() or ():
            if md.key == "authorization":
                token = md.value
                break
        return not self._keys.check(token if isinstance(token, str) else None)

    async def _unauthenticated(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        self.metrics.observe_error("auth", "UNAUTHENTICATED")
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid API key")

    async def _fail(
        self,
        context: grpc.aio.ServicerContext[Any, Any],
        method: str,
        code: grpc.StatusCode,
        message: str,
    ) -> None:
        self.metrics.observe_error(method, code.name)
        await context.abort(code, message)

    def _status(self, method: str, exc: Exception) -> tuple[grpc.StatusCode, str]:
        if isinstance(exc, (InvalidRequest, ValueError, DecodeError)):
            return grpc.StatusCode.INVALID_ARGUMENT, str(exc) or "malformed request"
        if isinstance(exc, StoreUnavailable):
            return grpc.StatusCode.UNAVAILABLE, f"store unavailable: {exc}"
        ref = os.urandom(4).hex()
        logger.error("%s failed (ref %s)", method, ref, exc_info=exc, extra={"ref": ref})
        return grpc.StatusCode.INTERNAL, f"internal error (ref {ref})"

    async def decide(self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        if self._keys is not None and self._refused(context):
            await self._unauthenticated(context)
        t0 = time.perf_counter()
        try:
            req = pb.DecideRequest.FromString(request)
            if self._sync:  # memory store: no awaiting, one coroutine less per call
                resp = self.decider.decide_sync(req)
                if not isinstance(resp, bytes):  # a DNS check to await (sign-up rules)
                    resp = await resp
            else:
                resp = await self.decider.decide(req)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            code, message = self._status("Decide", exc)
            await self._fail(context, "Decide", code, message)
            raise  # pragma: no cover - abort raises
        self.metrics.observe_latency(time.perf_counter() - t0)
        return resp

    async def report(
        self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ReportResponse:
        if self._keys is not None and self._refused(context):
            await self._unauthenticated(context)
        try:
            req = pb.ReportRequest.FromString(request)
            return await self.decider.report(req)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            code, message = self._status("Report", exc)
            await self._fail(context, "Report", code, message)
            raise  # pragma: no cover - abort raises


def _decide_service_handler(handlers: _Handlers) -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        SERVICE_NAME,
        {
            "Decide": grpc.unary_unary_rpc_method_handler(
                handlers.decide,
                request_deserializer=_identity,
                response_serializer=_identity,  # the decider answers serialized bytes
            ),
            "Report": grpc.unary_unary_rpc_method_handler(
                handlers.report,
                request_deserializer=_identity,
                response_serializer=pb.ReportResponse.SerializeToString,
            ),
        },
    )


# -- the app -------------------------------------------------------------------------


@dataclass(eq=False)
class DecideApp:
    """Everything one running server owns. See :func:`app_for`.

    Attributes:
        settings / server / port: what was built and the bound gRPC port.
        engine / store / decider / metrics: the service's parts.
        health: the grpc.health.v1 servicer.
        metrics_port: the bound metrics port, or None when metrics are off.
    """

    settings: Settings
    server: grpc.aio.Server
    port: int
    engine: Engine
    store: Any
    decider: Decider
    metrics: Metrics
    health: health.aio.HealthServicer
    metrics_http: MetricsHTTPServer | None = None
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _closed: bool = False
    _shutting_down: bool = False
    _closing: asyncio.Future[None] | None = None

    @property
    def metrics_port(self) -> int | None:
        """The bound metrics HTTP port (None: metrics off)."""
        return self.metrics_http.port if self.metrics_http is not None else None

    async def set_serving(self, serving: bool) -> None:
        """Sets the overall and DecideService health status (ignored once shutting down)."""
        if self._shutting_down:
            return
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        await self.health.set("", status)
        await self.health.set(SERVICE_NAME, status)
        self.metrics.store_up.set(1 if serving else 0)

    async def _ping_store(self) -> bool:
        ping = getattr(self.store, "ping", None)
        if ping is None:
            return True
        try:
            result = ping()
            if asyncio.iscoroutine(result):
                result = await asyncio.wait_for(
                    result, timeout=max(0.5, self.settings.health_interval)
                )
            return bool(result)
        except Exception:  # a ping must never end the loop
            return False

    async def _watch_store(self) -> None:
        serving: bool | None = None
        while True:
            ok = await self._ping_store()
            if ok != serving:
                if serving is not None:
                    if ok:
                        logger.info("store reachable again: SERVING")
                    else:
                        logger.warning("store unreachable: NOT_SERVING")
                await self.set_serving(ok)
                serving = ok
            await asyncio.sleep(self.settings.health_interval)

    async def _after_termination(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await self.server.wait_for_termination()
        await self._close_resources()

    async def _close_resources(self) -> None:
        # Both shutdown() and the post-termination task come here: one closing
        # task does the work and both wait for it.
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close_once())
        await asyncio.shield(self._closing)

    async def _close_once(self) -> None:
        self._closed = True
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self.metrics_http is not None:
            await asyncio.to_thread(self.metrics_http.close)
        close = getattr(self.store, "close", None)
        if close is not None:
            result = close()
            if asyncio.iscoroutine(result):
                with contextlib.suppress(Exception):
                    await result

    async def shutdown(self, grace: float | None = None) -> None:
        """Graceful stop: NOT_SERVING, drain in-flight calls for ``grace`` s, close."""
        if not self._shutting_down:
            for t in self._tasks[:1]:  # the store watcher: it must not flip health back
                t.cancel()
            await self.health.enter_graceful_shutdown()
            self._shutting_down = True
            self.metrics.store_up.set(0)
            g = self.settings.grace if grace is None else grace
            logger.info("shutting down: NOT_SERVING, draining calls for up to %.1fs", g)
            await self.server.stop(g)
        await self._close_resources()


_APPS: weakref.WeakKeyDictionary[grpc.aio.Server, DecideApp] = weakref.WeakKeyDictionary()


def app_for(server: grpc.aio.Server) -> DecideApp:
    """The :class:`DecideApp` of a server made by :func:`create_server`.

    Raises:
        KeyError: the server was not made by :func:`create_server`.
    """
    return _APPS[server]


def _make_store(settings: Settings) -> tuple[Any, bool]:
    """The store and whether the engine can be driven synchronously."""
    if settings.redis_url:
        from arcguard._engine import RedisSettings, RedisStore

        try:
            redis = RedisSettings(
                settings.redis_url,
                timeout=settings.redis_timeout,
                connect_timeout=max(settings.redis_timeout, 0.05),
            )
            return RedisStore(redis), False
        except ValueError as exc:
            raise ConfigurationError(f"--redis-url: {exc}") from exc
    return MemoryStore(), True


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {what} {path}: {exc}") from exc


async def create_server(
    settings: Settings, *, engine: Engine | None = None
) -> tuple[grpc.aio.Server, int]:
    """Builds, binds and starts the decide server; returns it and its bound port.

    Port 0 binds any free port (tests). The server's other parts (health,
    metrics port, store) are reached with :func:`app_for`; stop it with
    :func:`shutdown` (graceful) or ``server.stop(grace)`` (resources are
    released either way).

    Parameters:
        settings: see :class:`Settings`.
        engine: an engine to use instead of one built on the settings' store.

    Raises:
        ConfigurationError: unreadable TLS files, a bad Redis URL, or the
            address cannot be bound.

    Example::

        server, port = await create_server(Settings(port=0, api_keys=("ak_1",)))
        ...
        await shutdown(server)
    """
    # Compile the Wasm core before serving (seconds on a cold cache), off the
    # event loop, so that the first request does not pay for it.
    await asyncio.to_thread(get_core)
    if engine is None:
        store, sync = _make_store(settings)
        engine = Engine(store, dns=DnsChecker(settings.dns_settings()))
    else:
        store = engine.store
        sync = not asyncio.iscoroutinefunction(getattr(store, "hit", None))
    metrics = Metrics()
    decider = Decider(settings, engine, metrics, sync_engine=sync)
    keys = None if settings.no_auth else KeyChecker(settings.api_keys)
    server = grpc.aio.server(options=server_options(settings))
    server.add_generic_rpc_handlers((_decide_service_handler(_Handlers(decider, metrics, keys)),))
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    try:
        if settings.tls_cert is not None and settings.tls_key is not None:
            creds = grpc.ssl_server_credentials(
                [(_read(settings.tls_key, "TLS key"), _read(settings.tls_cert, "TLS certificate"))]
            )
            port = server.add_secure_port(settings.address, creds)
        else:
            port = server.add_insecure_port(settings.address)
    except RuntimeError as exc:
        raise ConfigurationError(f"cannot listen on {settings.address}: {exc}") from exc
    if port == 0:
        raise ConfigurationError(f"cannot listen on {settings.address}")
    await server.start()
    app = DecideApp(settings, server, port, engine, store, decider, metrics, health_servicer)
    _APPS[server] = app
    await app.set_serving(True)
    try:
        if settings.metrics_port is not None:
            app.metrics_http = MetricsHTTPServer(
                metrics, settings.metrics_host, settings.metrics_port
            )
    except OSError as exc:
        await server.stop(0)
        await app._close_resources()
        raise ConfigurationError(
            f"cannot serve metrics on {settings.metrics_host}:{settings.metrics_port}: {exc}"
        ) from exc
    app._tasks.append(asyncio.create_task(app._watch_store(), name="arcguard-store-health"))
    app._tasks.append(asyncio.create_task(app._after_termination(), name="arcguard-cleanup"))
    logger.info(
        "decide service listening on %s:%d (%s, %s, store %s, metrics %s)",
        settings.host,
        port,
        "TLS" if settings.tls_cert else "plaintext",
        "no auth" if settings.no_auth else f"{len(settings.api_keys)} API key(s)",
        "redis" if settings.redis_url else "memory",
        app.metrics_port if app.metrics_port is not None else "off",
        extra={"port": port, "metrics_port": app.metrics_port},
    )
    return server, port


async def shutdown(server: grpc.aio.Server, grace: float | None = None) -> None:
    """Stops a server made by :func:`create_server` gracefully (see the module docstring)."""
    await app_for(server).shutdown(grace)


# -- runners ---------------------------------------------------------------------------


#: Set by a SIGTERM/SIGINT that arrives while the service is still starting.
_early_stop = threading.Event()


def _stop_early(signum: int, frame: Any) -> None:
    _early_stop.set()


async def serve(settings: Settings) -> None:
    """Runs the service until SIGTERM or SIGINT, then shuts down gracefully."""
    server, _ = await create_server(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if _early_stop.is_set():  # asked to stop before the handlers were in place
        stop.set()
    try:
        await stop.wait()
        logger.info("signal received")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await shutdown(server)
    logger.info("stopped")


def _run(settings: Settings) -> int:
    if settings.workers > 1:
        return _run_workers(settings)
    return _run_one(settings)


def loop_factory(settings: Settings) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event-loop factory of ``settings.event_loop`` (None: asyncio's default).

    gRPC's per-call work on the server (completing each call's coroutine,
    waking the loop, writing the answer) runs on the loop's thread, so the
    loop's own overhead is a large part of a call: uvloop's measured 25-60 %
    more Decide calls a second than asyncio's (docs/service.md).
    """
    choice = settings.event_loop
    if choice == "asyncio" or (choice == "auto" and not uvloop_available()):
        return None
    import uvloop

    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def _run_one(settings: Settings) -> int:
    configure_logging(settings.log_format, settings.log_level)
    try:
        with asyncio.Runner(loop_factory=loop_factory(settings)) as runner:
            runner.run(serve(settings))
    except ConfigurationError as exc:
        logger.error("%s", exc)
        return 2
    return 0


def _worker_main(settings: Settings, index: int) -> None:
    mp = settings.metrics_port
    if mp:  # 0 (any port) and None (off) stay as they are
        settings = settings.replace(metrics_port=mp + index)
    # Out of the terminal's process group: a Ctrl-C reaches the parent only,
    # which forwards one SIGTERM (a second signal would cut the drain short).
    os.setpgrp()
    # A SIGTERM forwarded while this worker is still importing and starting
    # must not kill it outright: it is remembered, and honoured once serving.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stop_early)
    sys.exit(_run_one(settings))


def _run_workers(settings: Settings) -> int:
    """``--workers N``: N server processes on one port, supervised by this one.

    Each worker is a whole service (its own gRPC server, health, metrics on
    ``metrics_port + i``) sharing the Redis store; the kernel spreads
    connections over them (``SO_REUSEPORT``). SIGTERM/SIGINT are forwarded
    and each worker shuts down gracefully; if one worker exits, the others
    are stopped too and its status is returned, so that a supervisor
    (systemd, Kubernetes) restarts the whole service.
    """
    import multiprocessing

    configure_logging(settings.log_format, settings.log_level)
    ctx = multiprocessing.get_context("spawn")  # no gRPC state crosses a fork
    procs = [
        ctx.Process(target=_worker_main, args=(settings, i), name=f"arcguard-worker-{i}")
        for i in range(settings.workers)
    ]
    for p in procs:
        p.start()
    logger.info("started %d workers on %s", len(procs), settings.address)
    stopping = False

    def _forward(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for p in procs:
            if p.is_alive() and p.pid is not None:
                os.kill(p.pid, signal.SIGTERM)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _forward)
    from multiprocessing.connection import wait

    status = 0
    alive = list(procs)
    while alive:
        wait([p.sentinel for p in alive])
        for p in [p for p in alive if not p.is_alive()]:
            alive.remove(p)
            code = p.exitcode or 0
            if code and not stopping:
                logger.error("worker %s exited with %s: stopping the others", p.name, code)
                status = code if code > 0 else 1
                _forward(signal.SIGTERM, None)
    return status


def run_serve(args: Any, environ: Any = None) -> int:
    """``arcguard serve``: runs the service with flags from :func:`add_serve_arguments`.

    Returns the process exit status (2 on misconfiguration).
    """
    try:
        settings = settings_from_args(args, os.environ if environ is None else environ)
    except ConfigurationError as exc:
        print(f"decide service: {exc}", file=sys.stderr)
        return 2
    return _run(settings)


def _dns_options(args: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if getattr(args, "dns_servers", None):
        out["dns_servers"] = tuple(args.dns_servers)
    if getattr(args, "dns_timeout", None) is not None:
        out["dns_timeout"] = args.dns_timeout
    return out


def run_dev(args: Any, environ: Any = None) -> int:
    """``arcguard dev``: the service on loopback with dev defaults (no key, memory
    store, text logs, no metrics unless ``--metrics-port``)."""
    from ._settings import DEFAULT_PORT

    metrics_port = getattr(args, "metrics_port", None)
    try:
        settings = Settings.dev_defaults(
            port=getattr(args, "port", None)
            if getattr(args, "port", None) is not None
            else DEFAULT_PORT,
            metrics_port=None if metrics_port is None or metrics_port < 0 else metrics_port,
            log_level=getattr(args, "log_level", None) or "INFO",
            **_dns_options(args),
        )
    except ConfigurationError as exc:
        print(f"arcguard dev: {exc}", file=sys.stderr)
        return 2
    return _run(settings)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m decide_service [flags]``."""
    import argparse

    from ._settings import add_serve_arguments

    parser = argparse.ArgumentParser(
        prog="python -m decide_service", description="The ArcGuard decide service."
    )
    add_serve_arguments(parser)
    args = parser.parse_args(argv)
    return run_serve(args)
