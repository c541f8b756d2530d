"""The client IP under a real uvicorn, behind the ASGI middleware.

The test client plays the proxy on 127.0.0.1 (trusted): like HAProxy's
``option forwardfor`` it adds its own ``X-Forwarded-For`` line after whatever
the client sent, so an attacker's forged line comes first. uvicorn runs with
``--no-proxy-headers``: by default it rewrites the peer from
``X-Forwarded-For`` itself when the peer is 127.0.0.1, as it would not for a
proxy on another host, which is the case here.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests._servers import PYTHON, free_port, run_server
from tests.integration.hardening_apps import SHIELD_THRESHOLD

pytestmark = pytest.mark.integration

SQLI = {"q": "1' OR '1'='1' --"}
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
        "--no-proxy-headers",
    ]
    with run_server(argv, port):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def proxied() -> Iterator[str]:
    yield from serve("proxied_shield_asgi")


def through_proxy(
    base: str, client: str, forged: str | None = None, **params: str
) -> httpx.Response:
    """A request from *client* as the proxy forwards it: the client's own
    ``X-Forwarded-For`` line (if it forged one), then the proxy's."""
    headers = [("user-agent", FIREFOX)]
    if forged is not None:
        headers.append(("x-forwarded-for", forged))
    headers.append(("x-forwarded-for", client))
    return httpx.get(f"{base}/search", params=params, headers=headers, timeout=10)


def test_a_forged_forwarded_for_line_blocks_the_attacker_not_the_victim(proxied: str) -> None:
    attacker, victim = "203.0.113.66", "198.51.100.7"
    for _ in range(SHIELD_THRESHOLD + 1):
        r = through_proxy(proxied, attacker, forged=victim, **SQLI)
        assert r.status_code == 403
    # The shield's block (900 s) is on the attacker's address...
    assert through_proxy(proxied, attacker, q="shoes").status_code == 403
    # ...and the victim the attacker named is not blocked.
    ok = through_proxy(proxied, victim, q="shoes")
    assert ok.status_code == 200
    assert ok.json() == {"ip": victim, "conclusion": "ALLOW"}


def test_padding_cannot_push_the_proxy_line_out_of_sight(proxied: str) -> None:
    attacker, victim = "203.0.113.77", "198.51.100.8"
    padding = [(f"x-pad-{i}", "a") for i in range(150)]
    headers = [("user-agent", FIREFOX), ("x-forwarded-for", victim), *padding]
    headers.append(("x-forwarded-for", attacker))
    r = httpx.get(f"{proxied}/search", params={"q": "shoes"}, headers=headers, timeout=10)
    assert r.json()["ip"] == attacker


@pytest.fixture(scope="module")
def on_fly() -> Iterator[str]:
    yield from serve("fly_asgi")


@pytest.fixture(scope="module")
def on_vercel() -> Iterator[str]:
    yield from serve("vercel_asgi")


def test_fly_client_ip_from_outside_fly_proxy_is_ignored(on_fly: str) -> None:
    r = httpx.get(f"{on_fly}/", headers={"fly-client-ip": "192.0.2.1"}, timeout=10)
    assert r.json()["ip"] == "127.0.0.1"


def test_vercel_header_from_its_loopback_bridge_is_believed(on_vercel: str) -> None:
    r = httpx.get(f"{on_vercel}/", headers={"x-vercel-forwarded-for": "192.0.2.1"}, timeout=10)
    assert r.json()["ip"] == "192.0.2.1"
