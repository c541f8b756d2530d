"""WebSocket handshakes are decided: a real uvicorn, the middleware, a real client.

uvicorn offers the ASGI ``websocket.http.response`` extension, so a denial is
the same HTTP response as for a request (403, or 429 with ``Retry-After``);
under a server without it the middleware closes before accepting, which the
server turns into a 403.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests._servers import PYTHON, free_port, run_server

pytestmark = pytest.mark.integration

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0"


def serve(factory: str) -> Iterator[str]:
    port = free_port()
    argv = [
        PYTHON,
        "-m",
        "uvicorn",
        "--factory",
        f"tests.integration.hardening_apps:{factory}",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    with run_server(argv, port):
        yield f"ws://127.0.0.1:{port}"


@pytest.fixture(scope="module", params=["websocket_asgi", "websocket_asgi_without_denial_response"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, bool]]:
    """The server's ws:// base and whether the app sees the denial extension."""
    for base in serve(request.param):
        yield base, request.param == "websocket_asgi"


@pytest.fixture
def base(server: tuple[str, bool]) -> str:
    return server[0]


def status_of(url: str, ua: str = FIREFOX) -> int:
    """The HTTP status a handshake to *url* was refused with (101 if accepted)."""
    try:
        with connect(url, user_agent_header=ua, open_timeout=10):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


def test_an_allowed_handshake_reaches_the_app_with_its_decision(base: str) -> None:
    with connect(f"{base}/ws/chat", user_agent_header=FIREFOX, open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10)) == {"ip": "127.0.0.1", "conclusion": "ALLOW"}
        ws.send("hello")
        assert ws.recv(timeout=10) == "hello"


@pytest.mark.parametrize(
    ("path", "ua"),
    [
        ("/ws/chat", "curl/8.4.0"),  # bot rule
        ("/ws/admin/feed", FIREFOX),  # filter on the path
        ("/ws/ip", FIREFOX),  # filter on the client IP
    ],
)
def test_a_denied_handshake_is_refused_with_403(base: str, path: str, ua: str) -> None:
    assert status_of(f"{base}{path}", ua) == 403


def test_rate_limits_count_handshakes(server: tuple[str, bool]) -> None:
    base, denial_extension = server
    url = f"{base}/ws/limited"
    assert [status_of(url) for _ in range(2)] == [101, 101]
    try:
        with connect(url, user_agent_header=FIREFOX, open_timeout=10):
            pytest.fail("the third handshake in the window was accepted")
    except InvalidStatus as exc:
        response = exc.response
    if not denial_extension:
        assert response.status_code == 403  # closed before accept: the server's 403
        return
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
