"""Pure ASGI and WSGI (PEP 3333) middleware.

Every HTTP request is decided before the app sees it; a denied request gets
403 (429 for a rate limit, with ``Retry-After``) and never reaches the app.
When any rule reads the body (:attr:`ArcGuard.needs_body`: a shield, or a
filter or rate-limit ``match`` on a ``http.request.body`` field) the body is
read up to ``max_body`` bytes first and handed on to the app unchanged.
The decision is attached for the app: ``scope["state"]["arcguard"]``
(Starlette: ``request.state.arcguard``) or ``environ["arcguard.decision"]``.

A WebSocket is decided once, on its handshake (an HTTP GET: client IP, bot,
filter and rate-limit rules all apply; there is no body), before the app sees
the ``websocket.connect``. A denied handshake gets the same response as a
denied request (403, or 429 with ``Retry-After``) when the server offers the
ASGI ``websocket.http.response`` extension (uvicorn does), else a
``websocket.close`` before accepting, which the server answers with 403. An
allowed one reaches the app with its decision in the scope, and ``RateLimit``
headers on its ``websocket.accept``. Messages after the handshake are not
inspected. Other scopes (``lifespan``) pass straight through.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from ._decision import Decision, RateLimitReason
from ._exceptions import ConfigurationError
from ._guard import ArcGuard

__all__ = [
    "ArcGuardMiddleware",
    "ArcGuardWSGIMiddleware",
    "DenyResponse",
    "default_deny_response",
    "rate_limit_headers",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: (status, headers, body) sent for a denied request.
DenyResponse = tuple[int, list[tuple[str, str]], bytes]

_BODYLESS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "TRACE"})


_RATE_LIMIT_KINDS = frozenset({"fixed_window", "sliding_window", "token_bucket"})


def _has_limits(guard: ArcGuard) -> bool:
    # Without a rate-limit rule an allowed response gets no RateLimit headers,
    # and its decision's results need not be built to find that out.
    return any(r.kind in _RATE_LIMIT_KINDS for r in guard.rules)


def _limits(decision: Decision) -> list[RateLimitReason]:
    out = []
    for r in decision.results:
        if r.kind in _RATE_LIMIT_KINDS:
            reason = r.reason
            if isinstance(reason, RateLimitReason) and reason.max > 0:
                out.append(reason)
    return out


def rate_limit_headers(decision: Decision) -> list[tuple[str, str]]:
    """``RateLimit-Policy`` and ``RateLimit`` headers (IETF httpapi draft) for
    the most constraining rate limit of the decision, if any."""
    limits = _limits(decision)
    if not limits:
        return []
    tight = min(limits, key=lambda r: (r.remaining, -r.reset))
    reset = max(0, math.ceil(tight.reset))
    window = max(1, math.ceil(tight.window))
    return [
        ("RateLimit-Policy", f"{tight.max};w={window}"),
        ("RateLimit", f"limit={tight.max}, remaining={tight.remaining}, reset={reset}"),
    ]


def default_deny_response(decision: Decision, accept: str) -> DenyResponse:
    """403 Forbidden, or 429 Too Many Requests (with ``Retry-After``) for a
    rate limit; JSON when the client accepts it, plain text otherwise."""
    headers = rate_limit_headers(decision)
    limited = isinstance(decision.reason, RateLimitReason)
    status = 429 if limited else 403
    if limited:
        headers.append(("Retry-After", str(max(1, math.ceil(decision.reason.reset)))))  # type: ignore[attr-defined]
    if "application/json" in accept:
        payload = {
            "error": "too_many_requests" if limited else "forbidden",
            "reason": decision.reason.type,
            "id": decision.id,
        }
        body = json.dumps(payload).encode()
        headers.append(("Content-Type", "application/json"))
    else:
        body = b"Too Many Requests\n" if limited else b"Forbidden\n"
        headers.append(("Content-Type", "text/plain; charset=utf-8"))
    headers.append(("Content-Length", str(len(body))))
    return status, headers, body


def _accept(scope: Scope) -> str:
    for k, v in scope.get("headers") or ():
        if k == b"accept":
            return str(v.decode("latin-1"))
    return ""


def _encoded(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]


def _check(guard: Any, on_deny: Any) -> None:
    if not isinstance(guard, ArcGuard):
        raise ConfigurationError("guard must be an ArcGuard")
    if on_deny is not None and not callable(on_deny):
        raise ConfigurationError("on_deny must be a callable (decision, accept) -> response")


class ArcGuardMiddleware:
    """ASGI middleware. Example (Starlette / FastAPI)::

        app = Starlette(routes=routes, middleware=[Middleware(ArcGuardMiddleware, guard=guard)])
        # or: app = ArcGuardMiddleware(app, guard=guard)

    Parameters:
        guard: the :class:`ArcGuard` to consult.
        on_deny: ``(decision, accept_header) -> (status, headers, body)`` to
            customise denials (default :func:`default_deny_response`).
        add_rate_limit_headers: add ``RateLimit`` headers to allowed responses too.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        guard: ArcGuard,
        on_deny: Callable[[Decision, str], DenyResponse] | None = None,
        add_rate_limit_headers: bool = True,
    ) -> None:
        _check(guard, on_deny)
        self.app = app
        self.guard = guard
        self.on_deny = on_deny or default_deny_response
        self.add_rate_limit_headers = add_rate_limit_headers
        self._has_limits = _has_limits(guard)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await self._websocket(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        body = b""
        replay: list[Message] = []
        if self.guard.needs_body and scope.get("method", "GET") not in _BODYLESS:
            body, replay = await self._read_body(receive)
        details = self.guard.details(scope, body=body)
        decision = await self.guard.aprotect(details)
        state = scope.setdefault("state", {})
        state["arcguard"] = decision
        if decision.is_denied():
            status, headers, content = self.on_deny(decision, _accept(scope))
            await send(
                {"type": "http.response.start", "status": status, "headers": _encoded(headers)}
            )
            await send({"type": "http.response.body", "body": content})
            return
        if replay:
            pending = list(replay)

            async def receive_replayed() -> Message:
                if pending:
                    return pending.pop(0)
                return await receive()

            app_receive: Receive = receive_replayed
        else:
            app_receive = receive
        extra = (
            rate_limit_headers(decision) if self.add_rate_limit_headers and self._has_limits else []
        )
        if not extra:
            await self.app(scope, app_receive, send)
            return
        encoded = _encoded(extra)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = list(message.get("headers") or []) + encoded
            await send(message)

        await self.app(scope, app_receive, send_with_headers)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Decides the handshake; the app gets the ``websocket.connect`` only if allowed."""
        first = await receive()
        replayed = False

        async def app_receive() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return first
            return await receive()

        if first["type"] != "websocket.connect":  # gone before the handshake
            await self.app(scope, app_receive, send)
            return
        decision = await self.guard.aprotect(self.guard.details(scope))
        scope.setdefault("state", {})["arcguard"] = decision
        if decision.is_denied():
            if "websocket.http.response" in (scope.get("extensions") or {}):
                status, headers, content = self.on_deny(decision, _accept(scope))
                await send(
                    {
                        "type": "websocket.http.response.start",
                        "status": status,
                        "headers": _encoded(headers),
                    }
                )
                await send({"type": "websocket.http.response.body", "body": content})
            else:
                # Closed before it was accepted: the server answers the handshake 403.
                await send({"type": "websocket.close", "code": 1008})
            return
        extra = (
            rate_limit_headers(decision) if self.add_rate_limit_headers and self._has_limits else []
        )
        if not extra:
            await self.app(scope, app_receive, send)
            return
        encoded = _encoded(extra)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "websocket.accept":
                message = dict(message)
                message["headers"] = list(message.get("headers") or []) + encoded
            await send(message)

        await self.app(scope, app_receive, send_with_headers)

    async def _read_body(self, receive: Receive) -> tuple[bytes, list[Message]]:
        """Reads up to ``max_body`` bytes, keeping the messages to replay them."""
        limit = self.guard.max_body
        chunks: list[bytes] = []
        size = 0
        replay: list[Message] = []
        while size < limit:
            message = await receive()
            replay.append(message)
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)[:limit], replay


class _PrefixedInput(io.RawIOBase):
    """``wsgi.input`` that yields the bytes already read, then the rest."""

    def __init__(self, prefix: bytes, rest: Any) -> None:
        self._prefix = io.BytesIO(prefix)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = self._prefix.readinto(b)
        if n:
            return n
        data = self._rest.read(len(b))
        b[: len(data)] = data
        return len(data)


class ArcGuardWSGIMiddleware:
    """WSGI middleware. Example (Flask)::

        app.wsgi_app = ArcGuardWSGIMiddleware(app.wsgi_app, guard=guard)

    The decision is in ``environ["arcguard.decision"]`` (Flask:
    ``request.environ["arcguard.decision"]``). Options as for :class:`ArcGuardMiddleware`.
    """

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        *,
        guard: ArcGuard,
        on_deny: Callable[[Decision, str], DenyResponse] | None = None,
        add_rate_limit_headers: bool = True,
    ) -> None:
        _check(guard, on_deny)
        self.app = app
        self.guard = guard
        self.on_deny = on_deny or default_deny_response
        self.add_rate_limit_headers = add_rate_limit_headers
        self._has_limits = _has_limits(guard)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        body = b""
        if self.guard.needs_body and environ.get("REQUEST_METHOD", "GET") not in _BODYLESS:
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            want = min(max(length, 0), self.guard.max_body)
            stream = environ.get("wsgi.input")
            if want and stream is not None:
                body = stream.read(want)
                environ["wsgi.input"] = io.BufferedReader(_PrefixedInput(body, stream))
        details = self.guard.details(environ, body=body)
        decision = self.guard.protect(details)
        environ["arcguard.decision"] = decision
        if decision.is_denied():
            status, headers, content = self.on_deny(decision, environ.get("HTTP_ACCEPT", ""))
            start_response(f"{status} {_REASONS.get(status, 'Denied')}", headers)
            return [content]
        extra = (
            rate_limit_headers(decision) if self.add_rate_limit_headers and self._has_limits else []
        )
        if not extra:
            return self.app(environ, start_response)

        def start_with_headers(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            return start_response(status, list(headers) + extra, exc_info)

        return self.app(environ, start_with_headers)


_REASONS = {
    403: "Forbidden",
    429: "Too Many Requests",
    401: "Unauthorized",
    503: "Service Unavailable",
}
