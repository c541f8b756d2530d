"""Compiled rule sets are evicted from a Wasm instance (least recently used
first), so many distinct rule sets never exhaust its memory limit."""

from __future__ import annotations

import json

import pytest

from arcguard import RequestDetails
from arcguard._core import Core, CoreSettings, _host


def heavy(i: int) -> str:
    """A distinct rule set of ~60 KB compiled (a case-insensitive regex):
    ~2,200 of them fill the default 128 MiB."""
    expr = f'http.user_agent matches "(?i)scanner{i}"'
    return json.dumps({"rules": [{"kind": "filter", "mode": "LIVE", "deny": [expr]}]})


def request(ua: str) -> bytes:
    return RequestDetails(ip="198.51.100.4", headers={"user-agent": ua}).encode()


def memory_size(core: Core) -> int:
    inst = core._instance()
    return int(_host._memory_size(inst._ctx, inst._mem))


@pytest.fixture
def core() -> Core:
    return Core(CoreSettings(tiered=False, max_rulesets=64))


def test_many_distinct_rule_sets_do_not_exhaust_the_instance(core: Core) -> None:
    for i in range(4500):  # ~170 MB if none were dropped: beyond the 128 MiB limit
        config = core.compile(heavy(i))
        [(code, _)] = core.evaluate(config, request(f"SCANNER{i}/1.0"))
        assert code == 1
    assert core.failures == 0
    assert memory_size(core) < 32 * 1024 * 1024


def test_an_evicted_rule_set_is_compiled_again_on_use(core: Core) -> None:
    first = core.compile(heavy(0))
    for i in range(1, 200):
        core.compile(heavy(i))
    assert len(core._instance().rulesets) <= 64
    [(code, _)] = core.evaluate(first, request("scanner0"))
    assert code == 1
    [(code, _)] = core.evaluate(first, request("Mozilla/5.0"))
    assert code == 0
    assert core.failures == 0


def test_the_rule_set_in_use_is_kept_while_others_come_and_go(core: Core) -> None:
    hot = core.compile(heavy(0))
    ids = set()
    for i in range(1, 500):
        core.evaluate(hot, request("x"))
        ids.add(core._instance().rulesets[hot])
        core.compile(heavy(i))
    assert len(ids) == 1  # never dropped and compiled again


def test_max_rulesets_is_checked() -> None:
    with pytest.raises(ValueError, match="max_rulesets"):
        CoreSettings(max_rulesets=0)
