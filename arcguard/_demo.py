"""The demo app behind ``arcguard demo``: a small Starlette app protected by
ArcGuard in local dev mode (no service, no network). Needs ``arcguard[demo]``."""

from __future__ import annotations

from typing import Any

from ._guard import ArcGuard
from ._middleware import ArcGuardMiddleware
from ._rules import detect_bot, filter_rule, fixed_window, shield

__all__ = ["build_demo_app", "demo_guard"]


def demo_guard(environ: dict[str, str] | None = None) -> ArcGuard:
    """The demo's rules: shield, bot deny-list, an admin filter and a rate limit."""
    return ArcGuard(
        rules=[
            shield(mode="LIVE"),
            detect_bot(
                mode="LIVE", deny=["CATEGORY:HTTP_LIBRARY", "CATEGORY:SCANNER", "CATEGORY:UNKNOWN"]
            ),
            filter_rule(
                mode="LIVE",
                deny=['http.request.uri.path matches "^/admin" and not ip.src in {10.0.0.0/8}'],
            ),
            fixed_window(mode="LIVE", window="10s", max=5, match='http.request.uri.path == "/api"'),
        ],
        environ=environ if environ is not None else {"ARCGUARD_ENV": "development"},
    )


def build_demo_app(guard: ArcGuard | None = None) -> Any:
    """A Starlette app wrapped in :class:`ArcGuardMiddleware`."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse("Welcome to the ArcGuard demo shop.\n")

    async def search(request: Request) -> JSONResponse:
        decision = request.state.arcguard
        return JSONResponse(
            {
                "q": request.query_params.get("q", ""),
                "results": [],
                "arcguard": decision.conclusion.value,
            }
        )

    async def api(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    async def admin(request: Request) -> PlainTextResponse:
        return PlainTextResponse("admin area\n")

    app = Starlette(
        routes=[
            Route("/", home),
            Route("/search", search, methods=["GET", "POST"]),
            Route("/api", api),
            Route("/admin", admin),
        ]
    )
    return ArcGuardMiddleware(app, guard=guard or demo_guard())
