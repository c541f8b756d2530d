"""RedisStore: shared state for many decide-service replicas. The only module that touches redis.

Every check-and-update is one Lua script (``lua/*.lua``, shipped as package
data, each loaded with ``lua/preamble.lua`` in front of it), run with
``EVALSHA`` and loaded again on ``NOSCRIPT`` (a restarted or flushed server),
so replicas sharing one Redis never over-admit.

One clock: the scripts read the Redis server's ``TIME`` (in the preamble), so replicas agree on
window boundaries even when their own clocks are skewed. The engine's ``now``
is ignored, except with ``use_client_clock=True`` (tests only: the property
tests drive Redis and the pure arithmetic with the same injected clock).

Keys use a Redis Cluster hash tag around the engine's key, so everything about
one client of one rule lives in one slot::

    arcguard:{<rule_id>:<fingerprint>}:fw    fixed window   (hash i, c)
    arcguard:{<rule_id>:<fingerprint>}:sw    sliding window (hash i, p, c)
    arcguard:{<rule_id>:<fingerprint>}:tb    token bucket   (hash t, l)
    arcguard:{<rule_id>:<ip key>}:cnt        shield suspicion counter (hash s, c)
    arcguard:{<rule_id>:<ip key>}:blk        shield block flag (hash u)

Each key expires (``PEXPIRE``) once its state is indistinguishable from none
(plus a slack), so Redis holds only live limits.

Failures (connection refused, timeouts, any Redis error) raise
:class:`~.store.StoreUnavailable`; commands are never retried, since a retried
script whose first attempt did run would count twice. The next command
reconnects, so limits resume by themselves when Redis is back.

The async store sends its scripts over one pipelined connection (commands
written as they come, replies matched in order; see :class:`_Pipeline`) when
hiredis is installed and the URL is plain TCP or a Unix socket; otherwise over
redis-py's pooled connections. Health pings and script loading use redis-py.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import deque
from dataclasses import dataclass
from importlib import resources
from typing import Any

import redis
import redis.asyncio
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

try:
    import hiredis
except ImportError:  # pragma: no cover - hiredis is in the redis extra
    hiredis = None  # type: ignore[assignment]

from .ratelimit import LimitSpec, RateLimitOutcome
from .store import StoreUnavailable

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_KEY_PREFIX",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TTL_SLACK",
    "RedisSettings",
    "RedisStore",
    "SyncRedisStore",
]

#: Seconds to connect to Redis before giving up on this request.
DEFAULT_CONNECT_TIMEOUT = 0.05
#: Seconds to wait for one command's answer.
DEFAULT_TIMEOUT = 0.05
#: Prefix of every key.
DEFAULT_KEY_PREFIX = "arcguard"
#: Seconds a key outlives the moment its state stops mattering.
DEFAULT_TTL_SLACK = 1.0
#: The slack with a client clock, whose time need not follow Redis's own.
_CLIENT_CLOCK_TTL_SLACK = 3600.0

_SUFFIX = {"fixed_window": "fw", "sliding_window": "sw", "token_bucket": "tb"}
_SCRIPTS = (
    "fixed_window",
    "sliding_window",
    "token_bucket",
    "incr_window",
    "block",
    "blocked_for",
)


def _lua(name: str) -> str:
    return resources.files(__package__).joinpath("lua").joinpath(f"{name}.lua").read_text("utf-8")


def _script_source(name: str) -> str:
    """A script as loaded into Redis: the shared preamble (the clock), then its own text."""
    return _lua("preamble") + _lua(name)


@dataclass(frozen=True, slots=True)
class RedisSettings:
    """How to reach Redis.

    Attributes:
        url: ``redis://host:port/db`` (``rediss://`` for TLS, ``unix://`` for a socket).
        connect_timeout: seconds to connect.
        timeout: seconds per command.
        key_prefix: the prefix of every key.
        max_connections: pool size (None: redis-py's default).
        use_client_clock: take ``now`` from the caller instead of Redis ``TIME``.
            For tests only: replicas with skewed clocks would disagree.
    """

    url: str
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    timeout: float = DEFAULT_TIMEOUT
    key_prefix: str = DEFAULT_KEY_PREFIX
    max_connections: int | None = None
    use_client_clock: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or "://" not in self.url:
            raise ValueError(f"Redis URL must look like redis://host:port/db, got {self.url!r}")
        for name in ("connect_timeout", "timeout"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 60:
                raise ValueError(f"{name} must be between 0 and 60 seconds, got {v!r}")

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``redis.Redis.from_url``."""
        kw: dict[str, Any] = {
            "socket_connect_timeout": self.connect_timeout,
            "socket_timeout": self.timeout,
            "retry": None,
            "retry_on_error": [],
        }
        if self.max_connections is not None:
            kw["max_connections"] = self.max_connections
        return kw


class _RedisBase:
    """What both faces share: keys, script arguments and answers. No I/O."""

    def __init__(self, settings: RedisSettings) -> None:
        self.settings = settings
        self._prefix = settings.key_prefix + ":{"
        self._client_clock = settings.use_client_clock
        slack = _CLIENT_CLOCK_TTL_SLACK if settings.use_client_clock else DEFAULT_TTL_SLACK
        self._slack = str(int(slack * 1000))

    def _now(self, now: float) -> str:
        return repr(float(now)) if self._client_clock else ""

    def _hit_args(self, spec: LimitSpec, key: str, cost: int, now: float) -> tuple[str, list[Any]]:
        k = self._prefix + key + "}:" + _SUFFIX[spec.algorithm]
        args: list[Any] = [self._now(now), self._slack, spec.limit, repr(spec.window)]
        if spec.algorithm == "token_bucket":
            args.append(spec.refill)
        args.append(cost)
        return k, args

    @staticmethod
    def _outcome(spec: LimitSpec, reply: Any) -> RateLimitOutcome:
        allowed, remaining, reset = reply
        return RateLimitOutcome(allowed == 1, spec.limit, int(remaining), float(reset), spec.window)

    def _counter_key(self, key: str) -> str:
        return self._prefix + key + "}:cnt"

    def _block_key(self, key: str) -> str:
        return self._prefix + key + "}:blk"


def _pack(args: tuple[Any, ...]) -> bytes:
    """A command in the Redis protocol (an array of bulk strings)."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode("utf-8")
        out.append(b"$%d\r\n%b\r\n" % (len(b), b))
    return b"".join(out)


def _unavailable(exc: Exception) -> StoreUnavailable:
    return StoreUnavailable(f"redis: {type(exc).__name__}: {exc}")


class _PipeProtocol(asyncio.Protocol):
    """One Redis connection; replies are matched to callers in order (Redis
    answers a connection's commands in the order they were sent)."""

    def __init__(self) -> None:
        self._reader = hiredis.Reader()
        self._waiters: deque[asyncio.Future[Any]] = deque()
        self._outgoing: list[bytes] = []
        self._transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while True:
            try:
                reply = self._reader.gets()
            except hiredis.ProtocolError as exc:
                self.close(RedisConnectionError(f"protocol error: {exc}"))
                return
            if reply is False:
                return
            if not self._waiters:
                self.close(RedisConnectionError("a reply nobody asked for"))
                return
            fut = self._waiters.popleft()
            if not fut.done():  # a caller that gave up (cancelled) gets nothing
                fut.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.close(RedisConnectionError(f"connection lost: {exc}" if exc else "connection closed"))

    def send(self, packed: bytes) -> asyncio.Future[Any]:
        """Queues a command; its reply (or ``hiredis.ReplyError``) resolves the future."""
        if self.closed or self._transport is None:
            raise RedisConnectionError("connection closed")
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        if not self._outgoing:
            # Commands sent during this turn of the loop go out in one write.
            asyncio.get_running_loop().call_soon(self._flush)
        self._outgoing.append(packed)
        return fut

    def _flush(self) -> None:
        data = b"".join(self._outgoing)
        self._outgoing.clear()
        if not self.closed and self._transport is not None:
            self._transport.write(data)

    def close(self, exc: Exception) -> None:
        """Closes the connection and fails every caller still waiting."""
        if not self.closed:
            self.closed = True
            if self._transport is not None:
                self._transport.close()
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_exception(exc)


class _Pipeline:
    """EVALSHA for many concurrent callers over one pipelined connection.

    Each command is written as it comes (those of one loop turn in one write)
    and its reply awaited; no connection is checked out of a pool per call,
    so a call costs a fraction of redis-py's. A timeout or a connection error
    closes the connection and fails every pending call (the stream can no
    longer be trusted); the next call connects afresh. A caller cancelled
    while waiting just does not receive its reply. Only for plain TCP and
    Unix-socket URLs with hiredis installed (see :meth:`for_pool`).
    """

    def __init__(self, kwargs: dict[str, Any], connect_timeout: float, timeout: float) -> None:
        self._kwargs = kwargs
        self._connect_timeout = connect_timeout
        self._timeout = timeout
        self._proto: _PipeProtocol | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def for_pool(cls, pool: Any, settings: RedisSettings) -> _Pipeline | None:
        """A pipeline to the pool's server, or None where redis-py must be used
        (no hiredis, TLS, or connection options this class does not speak)."""
        if hiredis is None:
            return None
        known = {"host", "port", "path", "db", "username", "password"}
        kw = {k: v for k, v in pool.connection_kwargs.items() if k in known}
        extra = {
            k
            for k, v in pool.connection_kwargs.items()
            if k not in known and v is not None and k.startswith(("ssl", "credential", "protocol"))
        }
        if extra or pool.connection_class not in (
            redis.asyncio.Connection,
            redis.asyncio.UnixDomainSocketConnection,
        ):
            return None
        return cls(kw, settings.connect_timeout, settings.timeout)

    async def _connected(self) -> _PipeProtocol:
        proto = self._proto
        if proto is not None and not proto.closed:
            return proto
        async with self._lock:
            proto = self._proto
            if proto is None or proto.closed:
                proto = self._proto = await self._open()
        return proto

    async def _open(self) -> _PipeProtocol:
        loop = asyncio.get_running_loop()
        kw = self._kwargs
        try:
            async with asyncio.timeout(self._connect_timeout):
                if kw.get("path"):
                    _, proto = await loop.create_unix_connection(_PipeProtocol, kw["path"])
                else:
                    _, proto = await loop.create_connection(
                        _PipeProtocol, kw.get("host", "localhost"), kw.get("port", 6379)
                    )
                setup: list[tuple[Any, ...]] = []
                if kw.get("password") is not None:
                    user = kw.get("username")
                    setup.append(
                        ("AUTH", user, kw["password"]) if user else ("AUTH", kw["password"])
                    )
                if kw.get("db"):
                    setup.append(("SELECT", kw["db"]))
                for reply in await asyncio.gather(*(proto.send(_pack(c)) for c in setup)):
                    if isinstance(reply, hiredis.ReplyError):
                        proto.close(RedisConnectionError(str(reply)))
                        raise RedisConnectionError(f"connection setup failed: {reply}")
        except TimeoutError:
            raise RedisTimeoutError("timeout connecting to Redis") from None
        return proto

    async def call(self, packed: bytes) -> Any:
        """Sends one command and returns its reply.

        Raises:
            NoScriptError / ResponseError: Redis answered with an error.
            redis.exceptions.ConnectionError / TimeoutError: no answer.
        """
        proto = await self._connected()
        fut = proto.send(packed)
        try:
            async with asyncio.timeout(self._timeout):
                reply = await fut
        except TimeoutError:
            proto.close(RedisTimeoutError("timeout reading from Redis"))
            raise RedisTimeoutError("timeout reading from Redis") from None
        if isinstance(reply, hiredis.ReplyError):
            text = str(reply)
            if text.startswith("NOSCRIPT"):
                raise NoScriptError(text)
            raise ResponseError(text)
        return reply

    def close(self) -> None:
        """Closes the connection (pending calls fail)."""
        if self._proto is not None:
            self._proto.close(RedisConnectionError("store closed"))
            self._proto = None


class RedisStore(_RedisBase):
    """The :class:`~.store.AsyncStore` on Redis (``redis.asyncio``), for the decide service.

    Example::

        store = RedisStore("redis://127.0.0.1:6379/0")
        outcome = await store.hit(spec, "rule:ip:1.2.3.4", 1, time.time())
        await store.close()

    Parameters:
        url: ``redis://host:port/db``, or a :class:`RedisSettings`.
        options: the other :class:`RedisSettings` fields (timeouts default to 50 ms).

    Raises:
        ValueError: on a malformed URL or timeout.
    """

    def __init__(self, url: str | RedisSettings, **options: Any) -> None:
        base = url if isinstance(url, RedisSettings) else RedisSettings(url, **options)
        super().__init__(base)
        self.client: redis.asyncio.Redis = redis.asyncio.Redis.from_url(
            base.url, **base.client_kwargs()
        )
        self._scripts = {n: self.client.register_script(_script_source(n)) for n in _SCRIPTS}
        # Older redis-py requires a command name here; newer versions deprecate it.
        param = inspect.signature(self.client.connection_pool.get_connection).parameters.get(
            "command_name"
        )
        needs_name = param is not None and param.default is inspect.Parameter.empty
        self._conn_args: tuple[str, ...] = ("EVALSHA",) if needs_name else ()
        self._pipeline = _Pipeline.for_pool(self.client.connection_pool, base)

    async def _run(self, name: str, key: str, args: list[Any]) -> Any:
        # EVALSHA on one pipelined connection (_Pipeline), or, where it cannot
        # be used, on a pooled redis-py connection directly: redis-py's Script
        # and client layers (argument encoding, retry wrapper, observability
        # hooks) cost more CPU than the round trip itself. Client CPU a call,
        # 8 concurrent callers: ~135 us (Script), ~80 (pooled), ~18 (pipelined).
        script = self._scripts[name]
        packed = _pack(("EVALSHA", script.sha, 1, key, *args))
        try:
            try:
                return await self._call(packed)
            except NoScriptError:
                # A restarted or flushed server: the script did not run, so
                # loading it and sending the same command again counts once.
                await self.client.script_load(script.script)
                return await self._call(packed)
        except (RedisError, OSError) as exc:
            raise _unavailable(exc) from exc

    async def _call(self, packed: bytes) -> Any:
        if self._pipeline is not None:
            return await self._pipeline.call(packed)
        pool = self.client.connection_pool
        conn = await pool.get_connection(*self._conn_args)  # type: ignore[no-untyped-call]
        try:
            await conn.send_packed_command(packed)
            return await conn.read_response()
        finally:
            await pool.release(conn)

    async def hit(self, spec: LimitSpec, key: str, cost: int, now: float) -> RateLimitOutcome:
        """See :meth:`.store.Store.hit`."""
        k, args = self._hit_args(spec, key, cost, now)
        return self._outcome(spec, await self._run(spec.algorithm, k, args))

    async def incr_window(self, key: str, window_s: float, amount: int, now: float) -> int:
        """See :meth:`.store.Store.incr_window`."""
        args = [self._now(now), self._slack, repr(float(window_s)), amount]
        return int(await self._run("incr_window", self._counter_key(key), args))

    async def block(self, key: str, ttl_s: float, now: float) -> None:
        """See :meth:`.store.Store.block`."""
        args = [self._now(now), self._slack, repr(float(ttl_s))]
        await self._run("block", self._block_key(key), args)

    async def blocked_for(self, key: str, now: float) -> float:
        """See :meth:`.store.Store.blocked_for`."""
        return float(await self._run("blocked_for", self._block_key(key), [self._now(now)]))

    async def ping(self) -> bool:
        """Whether Redis answers PING within the timeout."""
        try:
            return bool(await self.client.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        """Closes the connections."""
        if self._pipeline is not None:
            self._pipeline.close()
        await self.client.aclose()


class SyncRedisStore(_RedisBase):
    """The sync :class:`~.store.Store` on Redis (tests, tools, benchmarks).

    Same keys, scripts and semantics as :class:`RedisStore`.
    """

    def __init__(self, url: str | RedisSettings, **options: Any) -> None:
        base = url if isinstance(url, RedisSettings) else RedisSettings(url, **options)
        super().__init__(base)
        self.client: redis.Redis = redis.Redis.from_url(base.url, **base.client_kwargs())
        self._scripts = {n: self.client.register_script(_script_source(n)) for n in _SCRIPTS}

    def _run(self, name: str, key: str, args: list[Any]) -> Any:
        try:
            return self._scripts[name](keys=[key], args=args)
        except (RedisError, OSError) as exc:
            raise _unavailable(exc) from exc

    def hit(self, spec: LimitSpec, key: str, cost: int, now: float) -> RateLimitOutcome:
        """See :meth:`.store.Store.hit`."""
        k, args = self._hit_args(spec, key, cost, now)
        return self._outcome(spec, self._run(spec.algorithm, k, args))

    def incr_window(self, key: str, window_s: float, amount: int, now: float) -> int:
        """See :meth:`.store.Store.incr_window`."""
        args = [self._now(now), self._slack, repr(float(window_s)), amount]
        return int(self._run("incr_window", self._counter_key(key), args))

    def block(self, key: str, ttl_s: float, now: float) -> None:
        """See :meth:`.store.Store.block`."""
        self._run("block", self._block_key(key), [self._now(now), self._slack, repr(float(ttl_s))])

    def blocked_for(self, key: str, now: float) -> float:
        """See :meth:`.store.Store.blocked_for`."""
        return float(self._run("blocked_for", self._block_key(key), [self._now(now)]))

    def ping(self) -> bool:
        """Whether Redis answers PING within the timeout."""
        try:
            return bool(self.client.ping())
        except (RedisError, OSError):
            return False

    def close(self) -> None:
        """Closes the connection pool."""
        self.client.close()
