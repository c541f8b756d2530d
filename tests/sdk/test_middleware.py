"""The ASGI and WSGI middleware, driven directly (servers: tests/integration)."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import pytest

from arcguard import (
    ArcGuard,
    ArcGuardMiddleware,
    ArcGuardWSGIMiddleware,
    ConfigurationError,
    detect_bot,
    fixed_window,
)

DEV = {"ARCGUARD_ENV": "development"}
FIREFOX = b"Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0"


def http_scope(ua: bytes = FIREFOX, accept: bytes = b"*/*", path: str = "/") -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "client": ("198.51.100.3", 4000),
        "headers": [(b"user-agent", ua), (b"accept", accept)],
    }


async def run(app: Any, scope: dict[str, Any]) -> tuple[int, dict[str, str], bytes, bool]:
    sent: list[dict[str, Any]] = []
    called = False

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in sent[1:])
    called = bool(scope.get("_app_called"))
    return start["status"], headers, body, called


async def inner_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    scope["_app_called"] = True
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-app", b"1")]})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(scope="module")
def guard() -> ArcGuard:
    return ArcGuard(
        rules=[
            detect_bot(deny=["CATEGORY:HTTP_LIBRARY"]),
            fixed_window(window="1h", max=2, match='http.request.uri.path == "/limited"'),
        ],
        environ=DEV,
    )


def test_allowed_request_reaches_the_app_with_the_decision(guard: ArcGuard) -> None:
    app = ArcGuardMiddleware(inner_app, guard=guard)
    scope = http_scope()
    status, _headers, body, called = asyncio.run(run(app, scope))
    assert (status, body, called) == (200, b"ok", True)
    assert scope["state"]["arcguard"].is_allowed()


def test_denied_request_gets_403_and_never_reaches_the_app(guard: ArcGuard) -> None:
    app = ArcGuardMiddleware(inner_app, guard=guard)
    status, headers, body, called = asyncio.run(run(app, http_scope(ua=b"curl/8.5.0")))
    assert (status, called) == (403, False)
    assert headers["content-type"].startswith("text/plain")
    status, headers, body, _ = asyncio.run(
        run(app, http_scope(ua=b"curl/8.5.0", accept=b"application/json"))
    )
    assert json.loads(body)["reason"] == "BOT"


def test_rate_limit_gives_429_retry_after_and_ratelimit_headers(guard: ArcGuard) -> None:
    app = ArcGuardMiddleware(inner_app, guard=guard)
    first = asyncio.run(run(app, http_scope(path="/limited")))
    assert first[0] == 200
    assert first[1]["ratelimit-policy"] == "2;w=3600"
    assert first[1]["ratelimit"].startswith("limit=2, remaining=1")
    asyncio.run(run(app, http_scope(path="/limited")))
    status, headers, _, called = asyncio.run(run(app, http_scope(path="/limited")))
    assert (status, called) == (429, False)
    assert int(headers["retry-after"]) >= 1


def test_custom_denial(guard: ArcGuard) -> None:
    def on_deny(decision: Any, accept: str) -> tuple[int, list[tuple[str, str]], bytes]:
        return 418, [("content-type", "text/plain")], f"no {decision.reason.type}".encode()

    app = ArcGuardMiddleware(inner_app, guard=guard, on_deny=on_deny)
    status, _, body, _ = asyncio.run(run(app, http_scope(ua=b"python-requests/2.31")))
    assert (status, body) == (418, b"no BOT")


def test_lifespan_passes_straight_through(guard: ArcGuard) -> None:
    # WebSocket scopes are decided (tests/integration/test_websocket.py).
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    asyncio.run(ArcGuardMiddleware(app, guard=guard)({"type": "lifespan"}, None, None))  # type: ignore[arg-type]
    assert seen == ["lifespan"]


def test_options_are_checked_at_construction(guard: ArcGuard) -> None:
    with pytest.raises(ConfigurationError):
        ArcGuardMiddleware(inner_app, guard="not a guard")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        ArcGuardWSGIMiddleware(lambda e, s: [], guard=guard, on_deny=42)  # type: ignore[arg-type]


def test_wsgi_denial_and_decision_in_environ(guard: ArcGuard) -> None:
    calls: list[dict[str, Any]] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        calls.append(environ)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    mw = ArcGuardWSGIMiddleware(app, guard=guard)
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        statuses.append(status)

    env = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/",
        "REMOTE_ADDR": "198.51.100.9",
        "HTTP_USER_AGENT": "Wget/1.21",
        "wsgi.input": io.BytesIO(),
    }
    assert b"".join(mw(env, start_response)) == b"Forbidden\n"
    assert statuses[-1].startswith("403") and not calls
    env["HTTP_USER_AGENT"] = FIREFOX.decode()
    assert b"".join(mw(env, start_response)) == b"ok"
    assert calls[0]["arcguard.decision"].is_allowed()
