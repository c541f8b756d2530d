"""Apps for the issue 14 hardening tests, each built by a factory for a real server.

``uvicorn --factory tests.integration.hardening_apps:<name>`` (ASGI) and
``gunicorn 'tests.integration.hardening_apps:<name>()'`` (WSGI).
"""

from __future__ import annotations

import json
from typing import Any

from arcguard import ArcGuard, ArcGuardMiddleware, ArcGuardWSGIMiddleware, filter_rule, shield

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
