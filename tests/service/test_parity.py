"""Dev/prod parity: the same requests through the in-process engine (local dev
mode) and through the real decide service give the same codes and reasons
(timing fields such as ``reset`` and ``ttl`` only need to be close)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from arcguard._core import get_core
from arcguard._engine import RuleOutcome
from arcguard._request import RequestDetails
from arcguard._rules import (
    Rule,
    detect_bot,
    filter_rule,
    fixed_window,
    rules_config,
    shield,
    sliding_window,
    token_bucket,
)
from arcguard._transport import InProcessTransport

from .conftest import RunningService, service_settings

pytestmark = pytest.mark.integration

CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Safari/537.36"
)

RULE_SETS: list[tuple[Rule, ...]] = [
    (
        detect_bot(deny=["CATEGORY:HTTP_LIBRARY", "CATEGORY:UNKNOWN"]),
        filter_rule(deny=['http.request.uri.path matches "^/admin"']),
        shield(threshold=3, window="1h", block_for="1h"),
        fixed_window(window="1h", max=5),
    ),
    (
        sliding_window(interval="1h", max=3, characteristics=["userId"]),
        token_bucket(refill_rate=1, interval="1h", capacity=4),
        detect_bot(mode="DRY_RUN", allow=["CATEGORY:SEARCH_ENGINE"]),
        filter_rule(mode="DRY_RUN", allow=['http.request.method in {"GET" "POST"}']),
    ),
]


def requests() -> list[tuple[RequestDetails, int]]:
    """~30 varied requests (with the tokens each one asks for)."""
    out: list[tuple[RequestDetails, int]] = []
    uas = [
        CHROME,
        "curl/8.5.0",
        "python-requests/2.31.0",
        "Googlebot/2.1 (+http://www.google.com/bot.html)",
        "",
    ]
    paths = [
        ("/", ""),
        ("/admin/users", ""),
        ("/search", "q=%27%20OR%201%3D1--"),
        ("/page", "x=%3Cscript%3Ealert(1)%3C%2Fscript%3E"),
        ("/files", "f=..%2F..%2Fetc%2Fpasswd"),
        ("/login", ""),
    ]
    ips = [
        "192.0.2.1",
        "192.0.2.2",
        "198.51.100.9",
        "10.1.2.3",
        "2001:db8::1",
        "2001:db8::2",
        "2001:db8:0:0:1::5",
    ]
    i = 0
    for ip in ips:
        for ua in uas[:4] if ":" in ip else uas:
            path, query = paths[i % len(paths)]
            headers = [("user-agent", ua)] if ua else []
            headers.append(("accept", "text/html"))
            body = b'{"name": "<img src=x onerror=alert(1)>"}' if i % 7 == 3 else b""
            out.append(
                (
                    RequestDetails(
                        ip=ip,
                        method="POST" if body else ("DELETE" if i % 11 == 5 else "GET"),
                        host="shop.example",
                        path=path,
                        query=query,
                        headers=headers,
                        body=body,
                        extras={"userId": f"u{i % 3}"},
                    ),
                    1 + (i % 3 == 0),
                )
            )
            i += 1
    return out


def same(a: RuleOutcome, b: RuleOutcome) -> bool:
    if a.code != b.code:
        return False
    ra, rb = json.loads(a.reason), json.loads(b.reason)
    if ra.get("type") == "RATE_LIMIT" and rb.get("type") == "RATE_LIMIT":
        if abs(ra.pop("reset") - rb.pop("reset")) > 1.0:
            return False
    return ra == rb and abs(a.ttl - b.ttl) <= 1.0


@pytest.fixture(params=["memory", "redis"])
def parity_service(request: pytest.FixtureRequest) -> Iterator[RunningService]:
    overrides: dict[str, Any] = {"metrics_port": None}
    if request.param == "redis":
        overrides["redis_url"] = request.getfixturevalue("redis_url")
    svc = RunningService(service_settings(**overrides))
    try:
        yield svc
    finally:
        svc.stop()


@pytest.mark.parametrize("with_local", [False, True], ids=["service-evaluates", "sdk-local"])
def test_in_process_and_service_agree_on_every_request(
    parity_service: RunningService, with_local: bool
) -> None:
    local_t = InProcessTransport()
    remote_t = parity_service.transport()
    core = get_core()
    reqs = requests()
    assert len(reqs) >= 30
    compared = 0
    try:
        for details, requested in reqs:
            for rules in RULE_SETS:
                local = None
                if with_local:
                    local = core.evaluate(core.compile(rules_config(rules)), details.encode())
                a = local_t.decide(details, rules, requested=requested, local=local)
                b = remote_t.decide(details, rules, requested=requested, local=local)
                assert len(a.results) == len(b.results) == len(rules)
                for x, y in zip(a.results, b.results, strict=True):
                    assert same(x, y), (details, rules, x, y)
                    compared += 1
    finally:
        remote_t.close()
    assert compared == len(reqs) * sum(len(r) for r in RULE_SETS)
