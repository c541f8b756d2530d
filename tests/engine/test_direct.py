"""DirectRules (the engine's direct face, used by the SDK's dev mode) answers
exactly as Engine.decide for the same sequence of requests."""

from __future__ import annotations

import random
from typing import Any

import pytest

from arcguard._engine import (
    CODE_ALLOW,
    CODE_DENY,
    CODE_ERROR,
    CODE_NEEDS_REMOTE,
    CODE_NOT_RUN,
    DirectRules,
    Engine,
    LimitSpec,
    MemoryStore,
    RateLimitOutcome,
    RuleOutcome,
    StoreUnavailable,
    rate_reason,
)
from arcguard._request import RequestDetails
from arcguard._rules import (
    Rule,
    detect_bot,
    filter_rule,
    fixed_window,
    shield,
    sliding_window,
    token_bucket,
)

from .conftest import FakeClock

IPS = ("198.51.100.7", "198.51.100.8", "2001:db8::1", "2001:db8::2")
USERS = ("u1", "u2")


def _text(kind: str) -> str:
    return f'{{"type":"{kind}","n":1}}'


def _local(rule: Rule, rng: random.Random) -> tuple[int, str]:
    """A plausible core result for ``rule``."""
    kind = rule.kind
    if kind in ("fixed_window", "sliding_window", "token_bucket"):
        return rng.choice((CODE_NEEDS_REMOTE,) * 5 + (CODE_NOT_RUN,)), _text(kind)
    if kind == "shield":
        return rng.choice((CODE_ALLOW, CODE_ALLOW, CODE_DENY, CODE_NOT_RUN)), _text("SHIELD")
    # Other rules: mostly allow; deny, not-run, error, and (never from the
    # real core) needs-remote, which the engine answers with ERROR.
    code = rng.choice((CODE_ALLOW,) * 6 + (CODE_DENY, CODE_NOT_RUN, CODE_ERROR, CODE_NEEDS_REMOTE))
    return code, _text(kind.upper())


def _rule_sets() -> list[list[Rule]]:
    return [
        [fixed_window(window="10s", max=3)],
        [detect_bot(deny=["CURL"]), fixed_window(window="10s", max=4)],
        [
            fixed_window(mode="DRY_RUN", window="5s", max=2),
            sliding_window(interval="10s", max=3, characteristics=["userId"]),
            token_bucket(refill_rate=1, interval="2s", capacity=3),
        ],
        [shield(threshold=2, window="30s", block_for="20s")],
        [
            filter_rule(deny=['http.host == "x"']),
            shield(mode="DRY_RUN", threshold=2, window="30s", block_for="20s"),
            shield(threshold=3, window="30s", block_for="15s"),
            fixed_window(window="10s", max=5, characteristics=["ip.src", "userId"]),
        ],
    ]


def _as_outcome(code: int, note: Any, local_reason: str) -> RuleOutcome:
    if note is None:
        return RuleOutcome(code, local_reason)
    reason, ttl = note
    if reason is None:
        reason = local_reason
    elif isinstance(reason, RateLimitOutcome):
        reason = rate_reason(reason)
    return RuleOutcome(code, reason, ttl)


def _resolve(direct: DirectRules, details: RequestDetails, requested: int, local: Any) -> Any:
    final = [c for c, _ in local]
    notes = direct.resolve(details, requested, final)
    return tuple(_as_outcome(code, notes.get(i), local[i][1]) for i, code in enumerate(final))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("rules_at", range(len(_rule_sets())))
def test_direct_face_answers_as_engine_decide(seed: int, rules_at: int) -> None:
    rules = tuple(_rule_sets()[rules_at])
    rng = random.Random(seed * 100 + rules_at)  # noqa: S311 - a reproducible sequence
    clock = FakeClock()
    engine = Engine(MemoryStore(), clock=clock)
    direct = DirectRules(Engine(MemoryStore(), clock=clock), rules)
    for _ in range(300):
        clock.advance(rng.choice((0.0, 0.0, 0.3, 1.0, 4.0, 11.0)))
        details = RequestDetails(ip=rng.choice(IPS), extras={"userId": rng.choice(USERS)})
        requested = rng.choice((1, 1, 1, 2))
        local = [_local(r, rng) for r in rules]
        expected = engine.decide(details, rules, requested=requested, local=local).results
        assert _resolve(direct, details, requested, local) == expected


class _FailingStore:
    """A memory store whose operations fail while ``down``. It does not count
    its block flags, so the direct face looks every block up."""

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise StoreUnavailable("store down")

    def hit(self, spec: LimitSpec, key: str, cost: int, now: float) -> RateLimitOutcome:
        self._check()
        return self.inner.hit(spec, key, cost, now)

    def incr_window(self, key: str, window_s: float, amount: int, now: float) -> int:
        self._check()
        return self.inner.incr_window(key, window_s, amount, now)

    def block(self, key: str, ttl_s: float, now: float) -> None:
        self._check()
        self.inner.block(key, ttl_s, now)

    def blocked_for(self, key: str, now: float) -> float:
        self._check()
        return self.inner.blocked_for(key, now)


@pytest.mark.parametrize("seed", range(4))
def test_direct_face_answers_as_engine_decide_when_the_store_fails(seed: int) -> None:
    rules = tuple(_rule_sets()[4])
    rng = random.Random(seed)  # noqa: S311 - a reproducible sequence
    clock = FakeClock()
    store_a, store_b = _FailingStore(), _FailingStore()
    engine = Engine(store_a, clock=clock)
    direct = DirectRules(Engine(store_b, clock=clock), rules)
    for _ in range(200):
        clock.advance(rng.choice((0.0, 1.0, 5.0)))
        store_a.down = store_b.down = rng.random() < 0.2
        details = RequestDetails(ip=rng.choice(IPS), extras={"userId": rng.choice(USERS)})
        local = [_local(r, rng) for r in rules]
        expected = engine.decide(details, rules, local=local).results
        assert _resolve(direct, details, 1, local) == expected


def test_a_clean_shield_result_skips_the_lookup_only_while_nothing_is_blocked() -> None:
    clock = FakeClock()
    store = MemoryStore()
    rules = (shield(threshold=1, window="30s", block_for="20s"),)
    direct = DirectRules(Engine(store, clock=clock), rules)
    calls: list[str] = []
    blocked_for = store.blocked_for

    def spy(key: str, now: float) -> float:
        calls.append(key)
        return blocked_for(key, now)

    store.blocked_for = spy  # type: ignore[method-assign]
    ip = RequestDetails(ip="198.51.100.7")
    codes = [CODE_ALLOW]
    assert direct.resolve(ip, 1, codes) == {} and codes == [CODE_ALLOW]
    assert calls == [] and store.blocks == 0
    codes = [CODE_DENY]
    notes = direct.resolve(ip, 1, codes)  # crosses the threshold of 1
    assert store.blocks == 1 and codes == [CODE_DENY] and notes == {0: (None, 20.0)}
    codes = [CODE_ALLOW]
    notes = direct.resolve(ip, 1, codes)
    assert calls and codes == [CODE_DENY] and notes[0][1] == 20.0
    store.close()
    assert store.blocks == 0


def test_an_async_only_engine_has_no_direct_face() -> None:
    class AsyncOnly:
        async def hit(self, *args: Any) -> Any:  # pragma: no cover - never called
            raise AssertionError

    with pytest.raises(TypeError):
        DirectRules(Engine(AsyncOnly()), (fixed_window(window="1s", max=1),))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "spec",
    [
        LimitSpec.fixed_window(max=5, window=3.0),
        LimitSpec.sliding_window(max=4, interval=2.5),
        LimitSpec.token_bucket(capacity=3, refill_rate=2, interval=1.5),
    ],
    ids=lambda s: s.algorithm,
)
def test_the_memory_stores_one_call_step_matches_the_pure_functions(spec: LimitSpec) -> None:
    from arcguard._engine.ratelimit import STEPS, expires_at, hit, state_weight

    rng = random.Random(5)  # noqa: S311 - a reproducible sequence
    now, state, step_state = 1_700_000_000.0, None, None
    for _ in range(500):
        now += rng.choice((0.0, 0.1, 0.7, 2.0, 3.1))
        cost = rng.choice((1, 1, 2, 6))
        new, outcome = hit(spec, state, now, cost)
        s2, o2, expiry, weight = STEPS[spec.algorithm](spec, step_state, now, cost)
        assert (s2, o2) == (new, outcome)
        assert expiry == expires_at(spec, new) and weight == state_weight(new)
        state = step_state = new


def test_direct_face_uses_the_engines_store_keys() -> None:
    rules = tuple(_rule_sets()[4]) + tuple(_rule_sets()[2])
    rng = random.Random(11)  # noqa: S311 - a reproducible sequence
    clock = FakeClock()
    store_a, store_b = MemoryStore(), MemoryStore()
    engine = Engine(store_a, clock=clock)
    direct = DirectRules(Engine(store_b, clock=clock), rules)
    for _ in range(200):
        clock.advance(1.0)
        details = RequestDetails(ip=rng.choice(IPS), extras={"userId": rng.choice(USERS)})
        local = [_local(r, rng) for r in rules]
        engine.decide(details, rules, local=local)
        direct.resolve(details, 1, [c for c, _ in local])
    assert store_a._data.keys() == store_b._data.keys()
    assert {k: v[:3] for k, v in store_a._data.items()} == {
        k: v[:3] for k, v in store_b._data.items()
    }
