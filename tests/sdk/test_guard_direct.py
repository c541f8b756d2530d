"""In local dev mode the guard asks the in-process engine through its direct
face; its decisions are the ones the transport's generic path (Engine.decide
and the merge the service's answers go through) gives."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from arcguard import ArcGuard, Decision, detect_bot, filter_rule, shield
from arcguard._cache import DenyCache
from arcguard._engine import Engine, MemoryStore
from arcguard._guard import _result_codes
from arcguard._rules import Rule, fixed_window, sliding_window, token_bucket
from arcguard._transport import InProcessTransport

DEV = {"ARCGUARD_ENV": "development"}
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0"


class _Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def __call__(self) -> float:
        return self.t


class _GenericTransport(InProcessTransport):
    """The same engine, but not the plain in-process transport: the guard
    then takes the generic path (transport.decide, then the merge)."""


def _rule_sets() -> list[list[Rule]]:
    return [
        [
            detect_bot(deny=["CATEGORY:HTTP_LIBRARY"]),
            fixed_window(window="10s", max=3),
        ],
        [
            filter_rule(deny=['http.request.uri.path matches "^/admin"']),
            sliding_window(mode="DRY_RUN", interval="10s", max=2),
            token_bucket(refill_rate=1, interval="2s", capacity=2, characteristics=["userId"]),
            fixed_window(window="5s", max=2, match='http.request.uri.path matches "^/api"'),
        ],
        [
            shield(threshold=2, window="30s", block_for="20s"),
            fixed_window(window="10s", max=4),
        ],
        [
            detect_bot(mode="DRY_RUN", deny=["CATEGORY:HTTP_LIBRARY"]),
            shield(mode="DRY_RUN", threshold=2, window="30s", block_for="20s"),
            shield(threshold=3, window="30s", block_for="15s"),
        ],
    ]


def _scope(rng: random.Random) -> dict[str, Any]:
    ua = rng.choice((CHROME, CHROME, "curl/8.4.0"))
    path = rng.choice(("/", "/api/items", "/admin", "/api/x"))
    query = rng.choice(
        (b"", b"q=shoes", b"q=1%27%20OR%201%3D1--", b"q=%3Cscript%3Ealert(1)%3C/script%3E")
    )
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "client": (rng.choice(("203.0.113.7", "203.0.113.8", "2001:db8::5")), 4000),
        "headers": [(b"host", b"example.com"), (b"user-agent", ua.encode())],
    }


def _plain(d: Decision) -> Any:
    return (
        d.conclusion,
        d.reason.to_dict(),
        d.ip,
        d.ttl,
        [r.to_dict() for r in d.results],
    )


@pytest.mark.parametrize("cache_size", [0, 1000])
@pytest.mark.parametrize("rules_at", range(len(_rule_sets())))
def test_direct_decisions_are_the_generic_paths(rules_at: int, cache_size: int) -> None:
    rules = _rule_sets()[rules_at]
    clock = _Clock()
    direct = ArcGuard(
        rules=rules,
        environ=DEV,
        cache_size=cache_size,
        transport=InProcessTransport(Engine(MemoryStore(), clock=clock)),
    )
    generic = ArcGuard(
        rules=rules,
        environ=DEV,
        cache_size=cache_size,
        transport=_GenericTransport(Engine(MemoryStore(), clock=clock)),
    )
    assert direct._direct is not None and generic._direct is None
    for guard in (direct, generic):  # deny caches on the test's clock too
        guard._cache = DenyCache(cache_size, clock=clock)
        guard._cache_entries = guard._cache._data
    rng = random.Random(rules_at)  # noqa: S311 - a reproducible sequence
    for _ in range(250):
        clock.t += rng.choice((0.0, 0.0, 0.5, 2.0, 7.0))
        scope = _scope(rng)
        requested = rng.choice((1, 1, 2))
        user = rng.choice(("u1", "u2"))
        a = direct.protect(scope, requested=requested, userId=user)
        b = generic.protect(scope, requested=requested, userId=user)
        assert _plain(a) == _plain(b)


def test_aprotect_takes_the_direct_path_too() -> None:
    guard = ArcGuard(rules=[fixed_window(window="1h", max=1)], environ=DEV)
    assert guard._direct is not None
    scope = _scope(random.Random(1))  # noqa: S311
    first = asyncio.run(guard.aprotect(scope))
    second = asyncio.run(guard.aprotect(scope))
    assert first.is_allowed() and second.is_denied()
    assert second.reason.to_dict()["remaining"] == 0


def test_result_codes_read_the_payload_as_decode_results() -> None:
    from arcguard._core import decode_results, get_core
    from arcguard._request import details_from_asgi
    from arcguard._rules import rules_config

    core = get_core()
    for rules in _rule_sets():
        config = core.compile(rules_config(tuple(rules)))
        rng = random.Random(7)  # noqa: S311
        for _ in range(20):
            payload = core.evaluate_raw(config, details_from_asgi(_scope(rng)).encode())
            assert _result_codes(payload) == [c for c, _ in decode_results(payload)]


def test_results_are_built_once_and_only_when_asked_for() -> None:
    guard = ArcGuard(rules=[detect_bot(deny=["CATEGORY:HTTP_LIBRARY"])], environ=DEV)
    d = guard.protect(_scope(random.Random(3)))  # noqa: S311
    assert d._results is None
    results = d.results
    assert d.results is results and len(results) == 1
    assert d.reason is results[0].reason
