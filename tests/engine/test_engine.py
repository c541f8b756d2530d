"""Engine.decide / adecide / record with the real Wasm core and real rules."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from arcguard._core import Core
from arcguard._decision import RateLimitReason, ShieldReason, reason_from_json
from arcguard._engine import (
    CODE_ALLOW,
    CODE_DENY,
    CODE_ERROR,
    CODE_NOT_RUN,
    Engine,
    EngineDecision,
    MemoryStore,
    RuleOutcome,
)
from arcguard._request import RequestDetails
from arcguard._rules import (
    detect_bot,
    fixed_window,
    shield,
    sliding_window,
    token_bucket,
)

from .conftest import FakeClock

SUSPICIOUS = (
    CODE_DENY,
    '{"type":"SHIELD","suspicious":true,"category":"SQL_INJECTION","location":"query",'
    '"excerpt":"1 OR 1=1","escalated":false}',
)
CLEAN = (CODE_ALLOW, '{"type":"SHIELD","suspicious":false}')
NEEDS = (2, '{"type":"fixed_window"}')


def req(ip: str = "198.51.100.7", path: str = "/") -> RequestDetails:
    return RequestDetails(ip=ip, method="GET", host="example.com", path=path)


@pytest.fixture
def engine(core: Core, clock: FakeClock) -> Engine:
    return Engine(MemoryStore(), core=core, clock=clock)


def codes(d: EngineDecision) -> list[int]:
    return [r.code for r in d.results]


def test_rate_limit_through_the_wasm_core(engine: Engine) -> None:
    rules = [fixed_window(window="60s", max=3)]
    got = [engine.decide(req(), rules) for _ in range(4)]
    assert [codes(d) for d in got] == [[0], [0], [0], [1]]
    reason = reason_from_json(got[3].results[0].reason)
    assert isinstance(reason, RateLimitReason)
    assert (reason.type, reason.max, reason.remaining, reason.window) == ("RATE_LIMIT", 3, 0, 60.0)
    assert got[3].results[0].ttl == pytest.approx(reason.reset) and reason.reset > 0
    assert [json.loads(d.results[0].reason)["remaining"] for d in got] == [2, 1, 0, 0]


def test_each_ip_has_its_own_counter(engine: Engine) -> None:
    rules = [fixed_window(window=60, max=1)]
    assert codes(engine.decide(req("192.0.2.1"), rules)) == [CODE_ALLOW]
    assert codes(engine.decide(req("192.0.2.2"), rules)) == [CODE_ALLOW]
    assert codes(engine.decide(req("192.0.2.1"), rules)) == [CODE_DENY]


def test_ipv6_addresses_in_one_64_share_a_counter(engine: Engine) -> None:
    rules = [fixed_window(window=60, max=2)]
    assert codes(engine.decide(req("2001:db8:1:2::1"), rules)) == [CODE_ALLOW]
    assert codes(engine.decide(req("2001:db8:1:2:ffff::9"), rules)) == [CODE_ALLOW]
    assert codes(engine.decide(req("2001:db8:1:2:abcd::1"), rules)) == [CODE_DENY]
    assert codes(engine.decide(req("2001:db8:1:3::1"), rules)) == [CODE_ALLOW]  # other /64


def test_characteristics_key_the_limit(engine: Engine) -> None:
    rules = [fixed_window(window=60, max=1, characteristics=["user"])]
    a, b = req().with_extras({"user": "a"}), req().with_extras({"user": "b"})
    assert codes(engine.decide(a, rules)) == [CODE_ALLOW]
    assert codes(engine.decide(b, rules)) == [CODE_ALLOW]
    assert codes(engine.decide(a, rules)) == [CODE_DENY]


def test_windows_follow_the_injected_clock(engine: Engine, clock: FakeClock) -> None:
    rules = [fixed_window(window=10, max=1)]
    assert codes(engine.decide(req(), rules)) == [CODE_ALLOW]
    assert codes(engine.decide(req(), rules)) == [CODE_DENY]
    clock.advance(10)
    assert codes(engine.decide(req(), rules)) == [CODE_ALLOW]


def test_requested_takes_several_tokens(engine: Engine) -> None:
    rules = [token_bucket(refill_rate=1, interval="1s", capacity=5)]
    assert codes(engine.decide(req(), rules, requested=4)) == [CODE_ALLOW]
    d = engine.decide(req(), rules, requested=2)
    assert codes(d) == [CODE_DENY]
    assert json.loads(d.results[0].reason)["remaining"] == 1
    assert codes(engine.decide(req(), rules, requested=1)) == [CODE_ALLOW]


def test_a_live_deny_stops_later_rate_limits(engine: Engine) -> None:
    first, second = fixed_window(window=60, max=1), sliding_window(interval=60, max=2)
    rules = [first, second]
    assert codes(engine.decide(req(), rules)) == [CODE_ALLOW, CODE_ALLOW]
    assert codes(engine.decide(req(), rules)) == [CODE_DENY, CODE_NOT_RUN]
    assert codes(engine.decide(req(), rules)) == [CODE_DENY, CODE_NOT_RUN]
    # The NOT_RUN requests did not consume the second limit: one unit left.
    assert codes(engine.decide(req(), [second])) == [CODE_ALLOW]
    assert codes(engine.decide(req(), [second])) == [CODE_DENY]


def test_a_local_live_deny_stops_later_rate_limits(engine: Engine) -> None:
    rules = [detect_bot(deny=["CATEGORY:HTTP_LIBRARY"]), fixed_window(window=60, max=5)]
    bot_deny = (CODE_DENY, '{"type":"BOT","bot":"CURL","categories":[],"denied":true}')
    d = engine.decide(req(), rules, local=[bot_deny, NEEDS])
    assert codes(d) == [CODE_DENY, CODE_NOT_RUN]


def test_dry_run_rules_consume_but_never_stop_later_rules(engine: Engine) -> None:
    rules = [fixed_window(mode="DRY_RUN", window=60, max=1), fixed_window(window=60, max=5)]
    engine.decide(req(), rules)
    d = engine.decide(req(), rules)
    assert codes(d) == [CODE_DENY, CODE_ALLOW]
    assert d.results[0].ttl == 0.0  # a DRY_RUN deny is never cached
    assert json.loads(d.results[1].reason)["remaining"] == 3


def test_match_scopes_a_rate_limit(engine: Engine) -> None:
    rules = [fixed_window(window=60, max=1, match='http.request.uri.path == "/api"')]
    # Not matching: NOT_RUN, nothing consumed.
    for _ in range(3):
        assert codes(engine.decide(req(path="/home"), rules)) == [CODE_NOT_RUN]
    api = [codes(engine.decide(req(path="/api"), rules)) for _ in range(2)]
    assert api == [[CODE_ALLOW], [CODE_DENY]]


def test_local_results_are_kept(engine: Engine) -> None:
    rules = [detect_bot(deny=["CATEGORY:HTTP_LIBRARY"]), fixed_window(window=60, max=5)]
    local = [(CODE_ALLOW, '{"type":"BOT"}'), (CODE_NOT_RUN, '{"type":"fixed_window"}')]
    d = engine.decide(req(), rules, local=local)
    assert d.results == (
        RuleOutcome(0, '{"type":"BOT"}'),
        RuleOutcome(3, '{"type":"fixed_window"}'),
    )


def test_needs_remote_from_another_kind_becomes_error(engine: Engine) -> None:
    d = engine.decide(req(), [detect_bot(allow=["GOOGLEBOT"])], local=[(2, '{"type":"BOT"}')])
    assert codes(d) == [CODE_ERROR]


def test_shield_escalates_after_threshold(engine: Engine, clock: FakeClock) -> None:
    rules = [shield(threshold=3, window="60s", block_for="5m")]
    for _ in range(2):
        assert codes(engine.decide(req(), rules, local=[SUSPICIOUS])) == [CODE_DENY]
        assert engine.decide(req(), rules, local=[CLEAN]).results[0].code == CODE_ALLOW
    third = engine.decide(req(), rules, local=[SUSPICIOUS]).results[0]
    assert third.code == CODE_DENY and third.ttl == 300.0
    clock.advance(100)
    clean = engine.decide(req(), rules, local=[CLEAN]).results[0]
    assert clean.code == CODE_DENY and clean.ttl == pytest.approx(200.0)
    reason = reason_from_json(clean.reason)
    assert isinstance(reason, ShieldReason)
    assert reason.escalated and not reason.suspicious
    assert codes(engine.decide(req("192.0.2.99"), rules, local=[CLEAN])) == [CODE_ALLOW]
    clock.advance(201)
    assert codes(engine.decide(req(), rules, local=[CLEAN])) == [CODE_ALLOW]


def test_shield_suspicion_outside_the_window_does_not_add_up(
    engine: Engine, clock: FakeClock
) -> None:
    rules = [shield(threshold=2, window="10s", block_for="60s")]
    engine.decide(req(), rules, local=[SUSPICIOUS])
    clock.advance(11)
    engine.decide(req(), rules, local=[SUSPICIOUS])
    assert codes(engine.decide(req(), rules, local=[CLEAN])) == [CODE_ALLOW]
    engine.decide(req(), rules, local=[SUSPICIOUS])
    assert codes(engine.decide(req(), rules, local=[CLEAN])) == [CODE_DENY]


def test_shield_blocks_an_ipv6_64(engine: Engine) -> None:
    rules = [shield(threshold=1, window="60s", block_for="60s")]
    engine.decide(req("2001:db8::1"), rules, local=[SUSPICIOUS])
    assert codes(engine.decide(req("2001:db8::abcd"), rules, local=[CLEAN])) == [CODE_DENY]


def test_record_counts_suspicion_only(engine: Engine) -> None:
    rules = [fixed_window(window=60, max=1), shield(threshold=2, window="60s", block_for="60s")]
    for _ in range(2):
        engine.record(req(), rules, [(CODE_ALLOW, '{"type":"fixed_window"}'), SUSPICIOUS])
    d = engine.decide(req(), rules, local=[NEEDS, CLEAN])
    assert codes(d) == [CODE_ALLOW, CODE_DENY]  # the rate limit was never consumed by record()


def test_shield_with_the_wasm_core_is_clean_for_a_plain_request(engine: Engine) -> None:
    d = engine.decide(req(), [shield()])
    assert codes(d) == [CODE_ALLOW]


def test_adecide_with_the_memory_store(core: Core, clock: FakeClock) -> None:
    store = MemoryStore()
    for s in (store, store.aio):
        engine = Engine(s, core=core, clock=clock)
        rules = [fixed_window(window=60, max=1, characteristics=[f"k{id(s)}"])]

        async def main(e: Engine = engine, r: Any = rules) -> list[int]:
            return [(await e.adecide(req(), r)).results[0].code for _ in range(2)]

        assert asyncio.run(main()) == [CODE_ALLOW, CODE_DENY]
        assert codes(engine.decide(req(), rules)) == [CODE_DENY]  # both faces share state


def test_sync_and_async_faces_are_checked(core: Core, redis_url: str) -> None:
    from arcguard._engine import RedisStore, SyncRedisStore

    sync_store = SyncRedisStore(redis_url)
    with pytest.raises(TypeError, match="decide"):
        asyncio.run(Engine(sync_store, core=core).adecide(req(), [shield()], local=[CLEAN]))
    sync_store.close()

    async def main() -> None:
        store = RedisStore(redis_url)
        with pytest.raises(TypeError, match="adecide"):
            Engine(store, core=core).decide(req(), [shield()], local=[CLEAN])
        await store.close()

    asyncio.run(main())


def test_engine_on_redis_gives_the_same_answers(core: Core, redis_url: str) -> None:
    from arcguard._engine import RedisStore

    rules = [shield(threshold=1, window=60, block_for=60), fixed_window(window=3600, max=2)]

    async def main() -> list[list[int]]:
        engine = Engine(RedisStore(redis_url), core=core)
        out = [codes(await engine.adecide(req(), rules, local=[CLEAN, NEEDS])) for _ in range(3)]
        await engine.arecord(req(), rules, [SUSPICIOUS, NEEDS])
        # Blocked: the escalated shield denies, so the rate limit is not consumed.
        out.append(codes(await engine.adecide(req(), rules, local=[CLEAN, NEEDS])))
        await engine.store.close()  # type: ignore[misc]
        return out

    assert asyncio.run(main()) == [[0, 0], [0, 0], [0, 1], [1, 3]]


def test_bad_arguments_raise(engine: Engine) -> None:
    rules = [fixed_window(window=60, max=1)]
    with pytest.raises(ValueError, match="requested"):
        engine.decide(req(), rules, requested=0)
    with pytest.raises(ValueError, match="local"):
        engine.decide(req(), rules, local=[])


def test_plans_are_bounded(core: Core) -> None:
    engine = Engine(MemoryStore(), core=core, max_rulesets=4)
    for i in range(10):
        engine.decide(req(), [fixed_window(window=60, max=i + 1)], local=[NEEDS])
    assert len(engine._plans) == 4
