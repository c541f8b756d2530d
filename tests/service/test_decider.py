"""The decider's hand-written answers are what protobuf writes for the same message."""

from __future__ import annotations

import pytest

from arcguard._engine import Engine, EngineDecision, MemoryStore, RuleOutcome
from arcguard._proto import decide_pb2 as pb
from arcguard._rules import detect_bot, fixed_window, shield
from arcguard._transport._wire import rule_set_to_proto
from decide_service import Decider, Settings
from decide_service._metrics import Metrics

RULES = rule_set_to_proto(
    [fixed_window(window="1h", max=5), detect_bot(mode="DRY_RUN", deny=["CURL"]), shield()]
)
RATE = '{"type":"RATE_LIMIT","max":5,"remaining":0,"reset":41.5,"window":60.0}'

OUTCOMES = [
    (RuleOutcome(0, RATE), RuleOutcome(0, ""), RuleOutcome(3, '{"type":"SHIELD"}')),
    (RuleOutcome(1, RATE, 41.5), RuleOutcome(1, '{"type":"BOT"}'), RuleOutcome(3, "")),
    (RuleOutcome(0, "é" * 200), RuleOutcome(1, "x", 2.0), RuleOutcome(1, "y", 1e9)),
    (RuleOutcome(4, '{"type":"ERROR","message":"m"}'), RuleOutcome(0, ""), RuleOutcome(0, "")),
]


@pytest.mark.parametrize("results", OUTCOMES)
def test_answer_bytes_are_what_protobuf_writes(results: tuple[RuleOutcome, ...]) -> None:
    decider = Decider(
        Settings(api_keys=("k",), metrics_port=None),
        Engine(MemoryStore()),
        Metrics(),
        sync_engine=True,
    )
    parsed = decider.parse_rules(RULES)
    out = EngineDecision(results=results)
    raw = decider.answer(parsed, out, False)
    got = pb.DecideResponse.FromString(raw)
    want = decider.answer_message(parsed, out)
    for r in want.results:
        r.ClearField("reason")  # typed reasons only in answer_message
    want.id = got.id
    assert got == want
    assert raw == want.SerializeToString()
    assert decider.answer(parsed, out, False) != decider.answer(parsed, out, False)  # ids differ


def test_the_rule_set_cache_is_bounded_in_bytes_not_only_in_entries() -> None:
    import tracemalloc

    from decide_service import InvalidRequest

    decider = Decider(
        Settings(api_keys=("k",), metrics_port=None),
        Engine(MemoryStore()),
        Metrics(),
        sync_engine=True,
    )
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(100):  # 100 distinct rule sets of 512 KB: 50 MB if all were kept
            msg = pb.RuleSet()
            msg.rules.add(mode=pb.MODE_LIVE).fixed_window.SetInParent()
            msg.rules[0].characteristics.append(f"{i}" + "x" * (512 * 1024))
            with pytest.raises(InvalidRequest):
                decider.parse_rules(msg)
            del msg
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 24 * 1024 * 1024
