"""Apps behind a guard of cheap rules and a shield, for the padding tests.

A plain WSGI app (gunicorn) and a plain ASGI app (uvicorn): what reaches them
echoes the decision, so a test can tell an allowed request from a denied one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from arcguard import (
    ArcGuard,
    ArcGuardMiddleware,
    ArcGuardWSGIMiddleware,
    detect_bot,
    filter_rule,
    shield,
)


def make_guard() -> ArcGuard:
    """Shield, a scanner-denying bot rule and a filter on /admin, all LIVE, fail open.

    Every test request comes from 127.0.0.1: the shield's escalation (block a
    client after a few suspicious requests) is set out of reach so that each
    test sees its own request's verdict.
    """
    return ArcGuard(
        rules=[
            shield(mode="LIVE", threshold=1_000_000),
            detect_bot(mode="LIVE", deny=["CATEGORY:SCANNER", "SQLMAP"]),
            filter_rule(mode="LIVE", deny=['http.request.uri.path matches "^/admin"']),
        ],
        environ={"ARCGUARD_ENV": "development"},
    )


def _echo(decision: Any) -> bytes:
    """The decision and every rule's conclusion and reason, as JSON."""
    return json.dumps(
        {
            "conclusion": decision.conclusion.value,
            "rules": [
                {"conclusion": r.conclusion.value, **r.reason.to_dict()} for r in decision.results
            ],
        }
    ).encode()


def _on_deny(decision: Any, accept: str) -> tuple[int, list[tuple[str, str]], bytes]:
    body = _echo(decision)
    return 403, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))], body


def _wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = _echo(environ["arcguard.decision"])
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


async def _asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:  # drain the body
        message = await receive()
        more = message.get("more_body", False)
    body = _echo(scope["state"]["arcguard"])
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


wsgi_app = ArcGuardWSGIMiddleware(_wsgi, guard=make_guard(), on_deny=_on_deny)
asgi_app = ArcGuardMiddleware(_asgi, guard=make_guard(), on_deny=_on_deny)
