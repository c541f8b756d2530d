"""The ArcGuard decide service: a grpc.aio server deciding requests with the
same Wasm core and engine as the SDK, plus shared state (memory or Redis).

Run it with ``python -m decide_service`` (or ``arcguard serve`` / ``arcguard
dev``); embed it with :func:`create_server`. See docs/service.md.
"""

from __future__ import annotations

from ._decider import Decider, InvalidRequest
from ._server import (
    SERVICE_NAME,
    DecideApp,
    KeyChecker,
    app_for,
    create_server,
    main,
    run_dev,
    run_serve,
    serve,
    server_options,
    shutdown,
)
from ._settings import (
    DEFAULT_HOST,
    DEFAULT_METRICS_PORT,
    DEFAULT_PORT,
    Settings,
    add_dev_arguments,
    add_serve_arguments,
    settings_from_args,
)

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_METRICS_PORT",
    "DEFAULT_PORT",
    "SERVICE_NAME",
    "DecideApp",
    "Decider",
    "InvalidRequest",
    "KeyChecker",
    "Settings",
    "add_dev_arguments",
    "add_serve_arguments",
    "app_for",
    "create_server",
    "main",
    "run_dev",
    "run_serve",
    "serve",
    "server_options",
    "settings_from_args",
    "shutdown",
]
