"""Apps for the issue 14 hardening tests, each built by a factory for a real server.

``uvicorn --factory tests.integration.hardening_apps:<name>`` (ASGI) and
``gunicorn 'tests.integration.hardening_apps:<name>()'`` (WSGI).
"""

from __future__ import annotations

import json
from typing import Any

from arcguard import (
    ArcGuard,
    ArcGuardMiddleware,
    ArcGuardWSGIMiddleware,
    detect_bot,
    filter_rule,
    fixed_window,
    shield,
)

DEV = {"ARCGUARD_ENV": "development"}
#: The word the body filter denies.
FORBIDDEN = "forbidden-word"


def body_filter_guard() -> ArcGuard:
    """A guard with one rule only: a filter on the raw body (no shield)."""
    return ArcGuard(
        rules=[filter_rule(mode="LIVE", deny=[f'http.request.body.raw contains "{FORBIDDEN}"'])],
        environ=DEV,
    )


def body_filter_asgi() -> ArcGuardMiddleware:
    """An ASGI app echoing the body it received, behind the body filter."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return ArcGuardMiddleware(app, guard=body_filter_guard())


def body_filter_wsgi() -> ArcGuardWSGIMiddleware:
    """A WSGI app echoing the body it received, behind the body filter."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]

    return ArcGuardWSGIMiddleware(app, guard=body_filter_guard())


async def _echo_decision(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers with the client IP and conclusion the middleware decided."""
    decision = scope["state"]["arcguard"]
    body = json.dumps({"ip": decision.ip, "conclusion": decision.conclusion.value}).encode()
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


#: The shield's threshold in the proxied app: attacks before the client is blocked.
SHIELD_THRESHOLD = 3


def proxied_shield_asgi() -> ArcGuardMiddleware:
    """Behind a proxy on 127.0.0.1 (trusted): a shield that blocks for 900 s."""
    guard = ArcGuard(
        rules=[shield(mode="LIVE", threshold=SHIELD_THRESHOLD, window="5m", block_for="900s")],
        trusted_proxies=["127.0.0.1/32"],
        environ=DEV,
    )
    return ArcGuardMiddleware(_echo_decision, guard=guard)


def fly_asgi() -> ArcGuardMiddleware:
    """On Fly (detected from its variables), reached from 127.0.0.1, not Fly's proxy."""
    guard = ArcGuard(rules=[], environ={**DEV, "FLY_APP_NAME": "shop", "FLY_REGION": "iad"})
    return ArcGuardMiddleware(_echo_decision, guard=guard)


def vercel_asgi() -> ArcGuardMiddleware:
    """On Vercel (``VERCEL=1``), reached from loopback as its runtime bridge does."""
    guard = ArcGuard(rules=[], environ={**DEV, "VERCEL": "1"})
    return ArcGuardMiddleware(_echo_decision, guard=guard)


def websocket_guard() -> ArcGuard:
    """Bot, filter (path and IP) and a rate limit, as the handshake is decided."""
    return ArcGuard(
        rules=[
            detect_bot(mode="LIVE", deny=["CATEGORY:HTTP_LIBRARY"]),
            filter_rule(
                mode="LIVE",
                deny=[
                    'http.request.uri.path matches "^/ws/admin"',
                    'http.request.uri.path == "/ws/ip" and ip.src in {127.0.0.0/8}',
                ],
            ),
            fixed_window(
                mode="LIVE", window="1h", max=2, match='http.request.uri.path == "/ws/limited"'
            ),
        ],
        environ=DEV,
    )


async def _websocket_echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Accepts, says which IP and conclusion the handshake got, then echoes."""
    if scope["type"] != "websocket":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    decision = scope["state"]["arcguard"]
    hello = {"ip": decision.ip, "conclusion": decision.conclusion.value}
    await send({"type": "websocket.send", "text": json.dumps(hello)})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "text": message.get("text") or ""})


def websocket_asgi() -> ArcGuardMiddleware:
    """A WebSocket echo behind the middleware (uvicorn offers the denial extension)."""
    return ArcGuardMiddleware(_websocket_echo, guard=websocket_guard())


def websocket_asgi_without_denial_response() -> Any:
    """The same, as under a server without the ASGI ``websocket.http.response``
    extension: the middleware must then refuse with ``websocket.close``."""
    inner = ArcGuardMiddleware(_websocket_echo, guard=websocket_guard())

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            scope = {**scope, "extensions": {}}
        await inner(scope, receive, send)

    return app
