"""The service's metrics: per-call counts exported at scrape time."""

from __future__ import annotations

from prometheus_client import generate_latest

from decide_service._metrics import LATENCY_BUCKETS, Metrics


def scrape(m: Metrics) -> dict[str, float]:
    out = {}
    for line in generate_latest(m.registry).decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_decisions_rule_results_and_reports_are_counted_by_label() -> None:
    m = Metrics()
    m.observe_decision(False, ("fixed_window", "bot"), (0, 3))
    m.observe_decision(True, ("fixed_window", "bot"), (1, 3))
    m.observe_decision(True, ("fixed_window", "bot"), (1, 9))
    m.observe_report(("shield",), (1,), (True,))
    m.observe_report(("shield",), (1,), (False,))
    m.observe_error("Decide", "INVALID_ARGUMENT")
    s = scrape(m)
    assert s['arcguard_decisions_total{conclusion="ALLOW"}'] == 1
    assert s['arcguard_decisions_total{conclusion="DENY"}'] == 2
    assert s['arcguard_rule_results_total{code="DENY",kind="fixed_window"}'] == 2
    assert s['arcguard_rule_results_total{code="NOT_RUN",kind="bot"}'] == 2
    assert s['arcguard_rule_results_total{code="9",kind="bot"}'] == 1
    assert s['arcguard_reported_decisions_total{conclusion="DENY"}'] == 1
    assert s['arcguard_reported_decisions_total{conclusion="ALLOW"}'] == 1
    assert s['arcguard_errors_total{code="INVALID_ARGUMENT",method="Decide"}'] == 1


def test_latency_histogram_buckets_are_cumulative_and_agree_with_the_count() -> None:
    m = Metrics()
    for v in (0.00005, 0.0001, 0.0003, 0.002, 7.0):
        m.observe_latency(v)
    s = scrape(m)
    assert s['arcguard_decide_seconds_bucket{le="0.0001"}'] == 2  # le: bound included
    assert s['arcguard_decide_seconds_bucket{le="0.0005"}'] == 3
    assert s['arcguard_decide_seconds_bucket{le="0.0025"}'] == 4
    assert s[f'arcguard_decide_seconds_bucket{{le="{LATENCY_BUCKETS[-1]}"}}'] == 4
    assert s['arcguard_decide_seconds_bucket{le="+Inf"}'] == 5
    assert s["arcguard_decide_seconds_count"] == 5
    assert abs(s["arcguard_decide_seconds_sum"] - 7.00245) < 1e-9
