"""Any rule that reads the body makes the middleware read it, not only the shield."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from arcguard import ArcGuard, Rule, detect_bot, filter_rule, fixed_window, shield
from tests._servers import PYTHON, free_port, run_server
from tests.integration.hardening_apps import DEV, FORBIDDEN

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=["uvicorn", "gunicorn"])
def base_url(request: pytest.FixtureRequest) -> Iterator[str]:
    port = free_port()
    if request.param == "uvicorn":
        argv = [
            PYTHON,
            "-m",
            "uvicorn",
            "--factory",
            "tests.integration.hardening_apps:body_filter_asgi",
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
            "tests.integration.hardening_apps:body_filter_wsgi()",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ]
    with run_server(argv, port):
        yield f"http://127.0.0.1:{port}"


def test_a_body_filter_alone_denies_behind_the_middleware(base_url: str) -> None:
    denied = httpx.post(f"{base_url}/submit", content=f"a {FORBIDDEN} b", timeout=10)
    assert denied.status_code == 403
    allowed = httpx.post(f"{base_url}/submit", content="harmless", timeout=10)
    assert (allowed.status_code, allowed.text) == (200, "harmless")  # the app still gets it all


def limit(match: str) -> Rule:
    return fixed_window(mode="LIVE", window="1m", max=5, match=match)


@pytest.mark.parametrize(
    ("rules", "reads"),
    [
        ([detect_bot(mode="LIVE", deny=["CATEGORY:HTTP_LIBRARY"])], False),
        ([filter_rule(mode="LIVE", deny=['http.request.uri.path == "/x"'])], False),
        ([filter_rule(mode="DRY_RUN", allow=['http.request.body.raw == ""'])], True),
        ([limit('http.request.body.raw contains "x"')], True),
        ([limit('http.request.method == "POST"')], False),
        ([shield(mode="LIVE")], True),
    ],
)
def test_needs_body_is_true_for_every_rule_that_reads_it(rules: list[Rule], reads: bool) -> None:
    guard = ArcGuard(rules=rules, environ=DEV)
    try:
        assert guard.needs_body is reads
    finally:
        guard.close()
