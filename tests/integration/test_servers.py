"""A Starlette app under uvicorn and a Flask app under gunicorn, protected for real."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests._servers import PYTHON, free_port, run_server

pytestmark = pytest.mark.integration

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0"


@pytest.fixture(scope="module", params=["uvicorn", "gunicorn"])
def base_url(request: pytest.FixtureRequest) -> Iterator[str]:
    port = free_port()
    if request.param == "uvicorn":
        argv = [
            PYTHON,
            "-m",
            "uvicorn",
            "tests.integration.apps:starlette_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
    else:
        argv = [
            PYTHON,
            "-m",
            "gunicorn",
            "tests.integration.apps:flask_app",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--log-level",
            "warning",
        ]
    with run_server(argv, port):
        yield f"http://127.0.0.1:{port}"


def get(base: str, path: str, ua: str = FIREFOX, **kw: object) -> httpx.Response:
    headers = {"user-agent": ua, **kw.pop("headers", {})}  # type: ignore[dict-item]
    return httpx.get(base + path, headers=headers, timeout=10, **kw)  # type: ignore[arg-type]


def test_browser_request_reaches_the_app_with_its_decision(base_url: str) -> None:
    r = get(base_url, "/hello")
    assert r.status_code == 200
    assert r.json()["conclusion"] == "ALLOW"
    assert r.json()["ip"] == "127.0.0.1"


def test_http_library_is_denied_with_403(base_url: str) -> None:
    r = get(base_url, "/hello", ua="python-requests/2.32.0")
    assert r.status_code == 403
    assert "Forbidden" in r.text


def test_json_denial_when_the_client_accepts_json(base_url: str) -> None:
    r = get(base_url, "/admin/x", headers={"accept": "application/json"})
    assert r.status_code == 403
    assert r.json()["error"] == "forbidden"
    assert r.json()["reason"] == "FILTER"


def test_sql_injection_in_the_query_is_denied(base_url: str) -> None:
    r = get(base_url, "/search", params={"q": "1' OR '1'='1' --"})
    assert r.status_code == 403


def test_attack_in_a_json_body_is_denied_and_clean_body_reaches_the_app(base_url: str) -> None:
    bad = httpx.post(
        base_url + "/comment",
        json={"text": "<script>alert(1)</script>"},
        headers={"user-agent": FIREFOX},
        timeout=10,
    )
    assert bad.status_code == 403
    good = httpx.post(
        base_url + "/comment",
        json={"text": "I love this shop <3"},
        headers={"user-agent": FIREFOX},
        timeout=10,
    )
    assert good.status_code == 200
    assert good.json()["body"] == '{"text":"I love this shop <3"}'


def test_rate_limit_gives_429_with_headers(base_url: str) -> None:
    # Dev mode keeps counters in each server process: gunicorn's two workers
    # count apart, so up to 2 x 3 requests may pass before one refuses.
    last = None
    for _ in range(7):
        last = get(base_url, "/limited")
        if last.status_code == 429:
            break
        assert last.status_code == 200
        assert last.headers["ratelimit-policy"] == "3;w=3600"
    assert last is not None and last.status_code == 429
    assert int(last.headers["retry-after"]) >= 1
    assert last.headers["ratelimit-policy"] == "3;w=3600"
    assert last.headers["ratelimit"].startswith("limit=3, remaining=0")
