"""Apps protected by ArcGuard, served by real servers in the integration tests."""

from __future__ import annotations

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


def make_guard() -> ArcGuard:
    return ArcGuard(
        rules=[
            shield(mode="LIVE"),
            detect_bot(mode="LIVE", deny=["CATEGORY:HTTP_LIBRARY", "CATEGORY:SCANNER"]),
            filter_rule(mode="LIVE", deny=['http.request.uri.path matches "^/admin"']),
            fixed_window(
                mode="LIVE", window="1h", max=3, match='http.request.uri.path == "/limited"'
            ),
        ],
        environ=DEV,
    )


def _starlette_app() -> ArcGuardMiddleware:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def echo(request: Request) -> JSONResponse:
        body = await request.body()
        decision = request.state.arcguard
        return JSONResponse(
            {
                "path": request.url.path,
                "body": body.decode(),
                "conclusion": decision.conclusion.value,
                "ip": decision.ip,
            }
        )

    routes = [Route("/{path:path}", echo, methods=["GET", "POST"])]
    return ArcGuardMiddleware(Starlette(routes=routes), guard=make_guard())


def _flask_app():  # type: ignore[no-untyped-def]
    from flask import Flask, jsonify, request

    app = Flask(__name__)

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST"])
    @app.route("/<path:path>", methods=["GET", "POST"])
    def echo(path: str):  # type: ignore[no-untyped-def]
        decision = request.environ["arcguard.decision"]
        return jsonify(
            path="/" + path,
            body=request.get_data(as_text=True),
            conclusion=decision.conclusion.value,
            ip=decision.ip,
        )

    app.wsgi_app = ArcGuardWSGIMiddleware(app.wsgi_app, guard=make_guard())  # type: ignore[method-assign]
    return app


starlette_app = _starlette_app()
flask_app = _flask_app()
