"""Padding a request with costly bytes buys it nothing, under real servers.

Every request here fits the server's default limits (gunicorn: 100 header
fields of at most 8,190 bytes, no body limit; uvicorn/h11: 16 KiB of
headers, no body limit) and is sent with ``http.client`` as raw as it can
be. The guard (tests/integration/padded_apps.py) holds a shield, a bot rule
denying scanners and a filter denying ``/admin``, all LIVE, fail open: a
request that exhausted the core's budget used to be an ERROR, which fail
open allowed, skipping every rule.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from tests._servers import PYTHON, free_port, run_server

pytestmark = pytest.mark.integration

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0"
SQLMAP = "sqlmap/1.8#stable (https://sqlmap.org)"
SHIELD, BOT, FILTER = 0, 1, 2

#: Short strings that cost a matcher the most per byte when repeated: template
#: and JNDI openers, quotes (SQL quote contexts), tag openers, percent and
#: entity escapes (decoding), comment openers, shell separators, Unicode escapes.
FILLERS = ["a${", "${", "'", '"', "<", "<a ", "%", "%25", "&#", "/*", ";", "$(", "`", "\\u", "{{"]


def pad(filler: str, n: int) -> str:
    return (filler * (n // len(filler) + 1))[:n]


@pytest.fixture(scope="module")
def gunicorn() -> Iterator[int]:
    port = free_port()
    argv = [
        PYTHON,
        "-m",
        "gunicorn",
        "tests.integration.padded_apps:wsgi_app",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--threads",
        "2",
        "--log-level",
        "warning",
    ]
    with run_server(argv, port):
        yield port


@pytest.fixture(scope="module")
def uvicorn() -> Iterator[int]:
    port = free_port()
    argv = [
        PYTHON,
        "-m",
        "uvicorn",
        "tests.integration.padded_apps:asgi_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    with run_server(argv, port):
        yield port


def send(
    port: int,
    method: str,
    path: str,
    headers: list[tuple[str, str]],
    body: bytes | None = None,
) -> tuple[int, dict[str, Any]]:
    """One request over a fresh connection; the status and the JSON the app or
    the deny handler answered (every rule's conclusion and reason)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    return resp.status, json.loads(data)


def padding_headers(filler: str, count: int = 90, size: int = 8150) -> list[tuple[str, str]]:
    """``count`` headers of ``size`` bytes each: by default as much as gunicorn
    takes (100 fields of at most 8,190 bytes a line), 733 KB."""
    value = pad(filler, size)
    return [(f"X-Pad-{i:02d}", value) for i in range(count)]


def conclusions(answer: dict[str, Any]) -> list[str]:
    return [r["conclusion"] for r in answer["rules"]]


@pytest.mark.parametrize("filler", FILLERS)
def test_scanner_on_admin_with_padded_headers_is_denied_by_the_cheap_rules(
    gunicorn: int, filler: str
) -> None:
    headers = [("User-Agent", SQLMAP), *padding_headers(filler)]
    status, answer = send(gunicorn, "GET", "/admin", headers)
    assert status == 403, answer
    assert answer["conclusion"] == "DENY"
    assert answer["rules"][BOT]["conclusion"] == "DENY", answer
    assert answer["rules"][FILTER]["conclusion"] == "DENY", answer
    assert "ERROR" not in conclusions(answer)


@pytest.mark.parametrize("filler", FILLERS)
def test_browser_on_admin_with_padded_headers_is_denied_by_the_filter(
    gunicorn: int, filler: str
) -> None:
    headers = [("User-Agent", FIREFOX), *padding_headers(filler)]
    status, answer = send(gunicorn, "GET", "/admin", headers)
    assert status == 403, answer
    assert answer["rules"][FILTER]["conclusion"] == "DENY", answer
    assert answer["rules"][BOT]["conclusion"] == "ALLOW", answer
    assert "ERROR" not in conclusions(answer)


@pytest.mark.parametrize("filler", FILLERS)
def test_sql_injection_form_behind_padded_headers_is_denied_by_the_shield(
    gunicorn: int, filler: str
) -> None:
    headers = [
        ("User-Agent", FIREFOX),
        ("Content-Type", "application/x-www-form-urlencoded"),
        *padding_headers(filler),
    ]
    body = b"user=" + quote("admin' OR '1'='1' --").encode() + b"&password=x"
    status, answer = send(gunicorn, "POST", "/login", headers, body)
    assert status == 403, answer
    assert answer["rules"][SHIELD]["conclusion"] == "DENY", answer
    assert answer["rules"][SHIELD]["suspicious"] is True
    assert "ERROR" not in conclusions(answer)


@pytest.mark.parametrize("filler", FILLERS)
def test_padded_headers_on_a_benign_path_are_denied_by_the_shield(
    gunicorn: int, filler: str
) -> None:
    # 733 KB of headers no browser sends: the shield says so (over its header
    # limit, or out of budget) instead of letting the request through unchecked.
    headers = [("User-Agent", FIREFOX), *padding_headers(filler)]
    status, answer = send(gunicorn, "GET", "/hello", headers)
    assert status == 403, answer
    shield_result = answer["rules"][SHIELD]
    assert shield_result["conclusion"] == "DENY", answer
    assert shield_result["category"] in ("HEADER_LIMIT", "INSPECTION_BUDGET"), answer
    assert "ERROR" not in conclusions(answer)


def test_the_next_request_after_padding_is_served_normally(gunicorn: int) -> None:
    send(gunicorn, "GET", "/hello", [("User-Agent", FIREFOX), *padding_headers("a${")])
    status, answer = send(gunicorn, "GET", "/hello", [("User-Agent", FIREFOX)])
    assert status == 200
    assert conclusions(answer) == ["ALLOW", "ALLOW", "ALLOW"]


def test_headers_within_the_shields_limit_are_inspected_in_full(gunicorn: int) -> None:
    # 56 KB of costly padding (under the 64 KiB header limit), then an attack
    # in the last header: inspected, found, denied as what it is.
    headers = [
        ("User-Agent", FIREFOX),
        *padding_headers("a${", count=7),
        ("X-Search", "1' UNION SELECT password FROM users --"),
    ]
    status, answer = send(gunicorn, "GET", "/hello", headers)
    assert status == 403, answer
    assert answer["rules"][SHIELD]["category"] == "SQL_INJECTION", answer


@pytest.mark.parametrize("filler", FILLERS)
def test_costly_body_before_an_attack_is_inspected_under_uvicorn(uvicorn: int, filler: str) -> None:
    # uvicorn takes 16 KiB of headers but any body: 60 KB of costly filler in
    # one form field (under the 64 KiB body limit), then a SQL injection.
    body = (
        b"pad="
        + quote(pad(filler, 60_000), safe="").encode()[:60_000]
        + b"&user="
        + quote("admin' OR '1'='1' --").encode()
    )
    headers = [
        ("User-Agent", FIREFOX),
        ("Content-Type", "application/x-www-form-urlencoded"),
        *padding_headers(filler, count=1, size=12_000),
    ]
    status, answer = send(uvicorn, "POST", "/admin-free/login", headers, body)
    assert status == 403, answer
    assert answer["rules"][SHIELD]["conclusion"] == "DENY", answer
    assert "ERROR" not in conclusions(answer)


def test_deeply_nested_json_body_is_decided_under_uvicorn(uvicorn: int) -> None:
    depth = 30_000
    body = (b"[" * depth) + b'"1\' OR 1=1 --"' + (b"]" * depth)
    headers = [("User-Agent", FIREFOX), ("Content-Type", "application/json")]
    status, answer = send(uvicorn, "POST", "/api", headers, body)
    assert "ERROR" not in conclusions(answer)
    assert status == 403, answer
    assert answer["rules"][SHIELD]["conclusion"] == "DENY", answer
