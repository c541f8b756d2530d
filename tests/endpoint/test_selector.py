"""EndpointSelector logic with an in-memory prober (no sockets): choice, fail-over, take-back."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence

import pytest

from arcguard._endpoint import (
    Candidate,
    EndpointChange,
    EndpointSelector,
    EndpointSettings,
    ProbeResult,
)

A, B, C = "127.0.0.1:1001", "127.0.0.1:1002", "127.0.0.1:1003"


class FakeProber:
    """Answers probes from a table of medians; None means the endpoint is down."""

    def __init__(self, medians: dict[str, float | None]) -> None:
        self.medians = dict(medians)
        self.rounds = 0

    def __call__(self, candidates: Sequence[Candidate]) -> list[ProbeResult]:
        # No lock on purpose: the fork test must not inherit one held by the parent.
        self.rounds += 1
        medians = dict(self.medians)
        results = []
        for candidate in candidates:
            median = medians.get(candidate.target)
            if median is None:
                results.append(ProbeResult(candidate, (), None, "UNAVAILABLE: down"))
            else:
                results.append(ProbeResult(candidate, (median,) * 3, median))
        return results


def selector(
    medians: dict[str, float | None],
    *,
    environ: dict[str, str] | None = None,
    **settings: object,
) -> tuple[EndpointSelector, FakeProber]:
    prober = FakeProber(medians)
    options: dict[str, object] = {"candidates": (A, B, C), "detect_platform": False}
    options.update(settings)
    built = EndpointSelector(
        EndpointSettings(**options),  # type: ignore[arg-type]
        environ=environ or {},
        prober=prober,
    )
    return built, prober


def wait_for(predicate: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def test_first_request_uses_first_candidate_without_waiting_for_probes() -> None:
    sel, prober = selector({A: 30.0, B: 1.0, C: 10.0})
    assert sel.current() == A
    assert prober.rounds == 0
    assert sel.choice().source == "configured"


def test_probe_picks_lowest_median_and_keeps_the_ranked_list() -> None:
    sel, _ = selector({A: 30.0, B: 1.0, C: 10.0})
    sel.probe_now()
    assert sel.current() == B
    assert [e.target for e in sel.ranked()] == [B, C, A]
    assert "lowest median" in sel.choice().reason


def test_ties_follow_the_given_order() -> None:
    sel, _ = selector({A: 5.0, B: 5.0, C: 5.0})
    sel.probe_now()
    assert [e.target for e in sel.ranked()] == [A, B, C]


def test_unhealthy_candidates_rank_last() -> None:
    sel, _ = selector({A: None, B: 9.0, C: 3.0})
    sel.probe_now()
    ranked = sel.ranked()
    assert [e.target for e in ranked] == [C, B, A]
    assert ranked[-1].down and ranked[-1].probe is not None and ranked[-1].probe.error


def test_failover_after_threshold_consecutive_failures() -> None:
    sel, _ = selector({A: 1.0, B: 2.0, C: 3.0}, failover_threshold=3)
    sel.probe_now()
    sel.report_failure(A)
    sel.report_failure(A)
    assert sel.current() == A
    sel.report_failure(A)
    assert sel.current() == B
    assert "3 consecutive failures" in sel.choice().reason


def test_a_success_resets_the_consecutive_count() -> None:
    sel, _ = selector({A: 1.0, B: 2.0, C: 3.0}, failover_threshold=3)
    sel.probe_now()
    sel.report_failure(A)
    sel.report_failure(A)
    sel.report_success(A)
    sel.report_failure(A)
    sel.report_failure(A)
    assert sel.current() == A


def test_open_circuit_fails_over_at_once() -> None:
    sel, _ = selector({A: 1.0, B: 2.0, C: 3.0})
    sel.probe_now()
    sel.report_failure(A, circuit_open=True)
    assert sel.current() == B
    assert "circuit open" in sel.choice().reason


def test_failures_of_an_endpoint_no_longer_current_do_not_move_the_choice() -> None:
    sel, _ = selector({A: 1.0, B: 2.0, C: 3.0}, failover_threshold=1)
    sel.probe_now()
    sel.report_failure(A)
    assert sel.current() == B
    sel.report_failure(A)  # a late report from a call still on the old channel
    assert sel.current() == B


def test_failover_skips_endpoints_known_down_and_wraps_around() -> None:
    sel, _ = selector({A: 1.0, B: None, C: 3.0}, failover_threshold=1)
    sel.probe_now()
    assert [e.target for e in sel.ranked()] == [A, C, B]
    sel.report_failure(A)
    assert sel.current() == C  # B is down
    sel.report_failure(C)
    # Everything is down now: keep rotating rather than have no endpoint.
    assert sel.current() in {A, B}


def test_unknown_targets_are_ignored() -> None:
    sel, _ = selector({A: 1.0})
    sel.report_failure("10.9.9.9:1")
    sel.report_success("10.9.9.9:1")
    assert sel.current() == A


def test_recovered_faster_endpoint_is_taken_back_after_a_reprobe() -> None:
    sel, prober = selector({A: 1.0, B: 2.0, C: 3.0}, failover_threshold=1)
    sel.probe_now()
    prober.medians[A] = None
    sel.report_failure(A)
    assert sel.current() == B
    sel.probe_now()
    assert sel.current() == B
    prober.medians[A] = 1.0
    sel.probe_now()
    assert sel.current() == A
    assert "faster" in sel.choice().reason


def test_small_gains_do_not_switch_a_healthy_endpoint() -> None:
    sel, prober = selector({A: 10.0, B: 11.0, C: 30.0}, switch_margin=0.2)
    sel.probe_now()
    assert sel.current() == A
    prober.medians.update({A: 10.0, B: 9.0})  # 10% better: below the margin
    sel.probe_now()
    assert sel.current() == A
    prober.medians.update({B: 5.0})  # 50% better
    sel.probe_now()
    assert sel.current() == B


def test_current_endpoint_going_unhealthy_in_a_probe_moves_the_choice() -> None:
    sel, prober = selector({A: 1.0, B: 2.0, C: 3.0})
    sel.probe_now()
    prober.medians[A] = None
    sel.probe_now()
    assert sel.current() == B


def test_all_probes_failing_keeps_the_current_endpoint() -> None:
    sel, prober = selector({A: 1.0, B: 2.0, C: 3.0})
    sel.probe_now()
    prober.medians = {A: None, B: None, C: None}
    sel.probe_now()
    assert sel.current() == A


def test_explicit_endpoint_is_pinned() -> None:
    sel, _ = selector({A: 50.0, B: 1.0}, endpoint=A, failover_threshold=1)
    sel.probe_now()
    assert sel.current() == A
    sel.report_failure(A)
    assert sel.current() == A
    assert [e.target for e in sel.ranked()] == [A]
    assert sel.choice().source == "explicit"
    sel.start()
    sel.close()


def test_platform_endpoint_is_preferred_over_faster_candidates() -> None:
    fly = "iad.fly.decide.example.com:443"
    environ = {"FLY_APP_NAME": "shop", "FLY_REGION": "iad"}
    sel, prober = selector(
        {fly: 20.0, A: 1.0, B: 2.0},
        environ=environ,
        detect_platform=True,
        base_domain="decide.example.com",
        candidates=(A, B),
        failover_threshold=1,
    )
    assert sel.current() == fly
    assert sel.choice().source == "platform"
    assert sel.platform is not None and sel.platform.name == "fly"
    sel.probe_now()
    assert sel.current() == fly
    sel.report_failure(fly)
    assert sel.current() == A
    prober.medians[fly] = None
    sel.probe_now()
    assert sel.current() == A
    prober.medians[fly] = 20.0
    sel.probe_now()
    assert sel.current() == fly
    assert "platform endpoint" in sel.choice().reason


def test_platform_template_override_and_region_fallback_to_discovery() -> None:
    environ = {"KUBERNETES_SERVICE_HOST": "10.0.0.1"}
    sel, _ = selector({A: 1.0}, environ=environ, detect_platform=True, candidates=(A,))
    assert sel.current() == A  # kubernetes has no template: candidates decide
    sel2, _ = selector(
        {A: 1.0},
        environ=environ,
        detect_platform=True,
        candidates=(A,),
        templates={"kubernetes": "k8s.{base}:8443"},
        base_domain="decide.example.com",
    )
    assert sel2.current() == "k8s.decide.example.com:8443"


def test_without_candidates_the_default_endpoint_is_used_until_discovery() -> None:
    prober = FakeProber({"iad.decide.example.com:443": 1.0})
    sel = EndpointSelector(
        EndpointSettings(base_domain="decide.example.com", detect_platform=False),
        environ={},
        prober=prober,
        discoverer=lambda: [Candidate("iad.decide.example.com", 443, 10, 1, "iad")],
    )
    assert sel.current() == "decide.example.com:443"
    assert sel.choice().source == "default"
    sel.probe_now()
    assert sel.current() == "iad.decide.example.com:443"
    assert sel.ranked()[0].source == "discovered"


def test_discovered_hosts_outside_the_allow_list_are_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    prober = FakeProber({"evil.test:443": 0.1, "iad.decide.example.com:443": 5.0})
    sel = EndpointSelector(
        EndpointSettings(base_domain="decide.example.com", detect_platform=False),
        environ={},
        prober=prober,
        discoverer=lambda: [Candidate("evil.test", 443), Candidate("iad.decide.example.com", 443)],
    )
    with caplog.at_level(logging.WARNING, logger="arcguard.endpoint"):
        sel.probe_now()
    assert sel.current() == "iad.decide.example.com:443"
    assert "evil.test" not in {e.candidate.host for e in sel.ranked()}
    assert any("evil.test" in r.getMessage() for r in caplog.records)


def test_on_change_callbacks_see_every_change_in_order() -> None:
    sel, _ = selector({A: 1.0, B: 2.0, C: 3.0}, failover_threshold=1)
    seen: list[EndpointChange] = []
    remove = sel.on_change(seen.append)
    sel.probe_now()
    sel.report_failure(A)
    assert [(c.previous, c.current) for c in seen] == [(A, B)]
    assert [c.generation for c in seen] == [1]
    remove()
    sel.report_failure(B)
    assert len(seen) == 1


def test_a_failing_callback_does_not_break_the_selector(caplog: pytest.LogCaptureFixture) -> None:
    sel, _ = selector({A: 1.0, B: 2.0}, failover_threshold=1)

    def broken(change: EndpointChange) -> None:
        raise RuntimeError("boom")

    seen: list[str] = []
    sel.on_change(broken)
    sel.on_change(lambda change: seen.append(change.current))
    sel.probe_now()
    with caplog.at_level(logging.ERROR, logger="arcguard.endpoint"):
        sel.report_failure(A)
    assert seen == [B]
    assert sel.current() == B


def test_choice_changes_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    sel, _ = selector({A: 1.0, B: 2.0}, failover_threshold=1)
    sel.probe_now()
    with caplog.at_level(logging.INFO, logger="arcguard.endpoint"):
        sel.report_failure(A)
    messages = [r.getMessage() for r in caplog.records if r.name == "arcguard.endpoint"]
    assert any(A in m and B in m and "fail-over" in m for m in messages)


def test_background_thread_probes_and_reprobes_after_failover() -> None:
    sel, prober = selector({A: 1.0, B: 2.0}, probe_interval=30.0, failover_threshold=1)
    sel.start()
    try:
        assert wait_for(lambda: prober.rounds >= 1)
        # The round counts when the prober is called; wait until its results
        # are installed, or they could land after the fail-over below.
        assert wait_for(lambda: all(e.probe is not None for e in sel.ranked()))
        assert wait_for(lambda: sel.current() == A)
        rounds = prober.rounds
        prober.medians[A] = None
        sel.report_failure(A)
        assert sel.current() == B
        # The interval is 30 s: only the fail-over can have started this round.
        assert wait_for(lambda: prober.rounds > rounds)
    finally:
        sel.close()
    assert sel._thread is None


def test_background_thread_reprobes_periodically_with_jitter() -> None:
    sel, prober = selector({A: 1.0}, probe_interval=0.05, probe_jitter=0.5)
    with sel:
        assert wait_for(lambda: prober.rounds >= 4)
    rounds = prober.rounds
    time.sleep(0.2)
    assert prober.rounds == rounds  # closed: no more rounds


def test_closed_selector_cannot_start() -> None:
    sel, _ = selector({A: 1.0})
    sel.close()
    with pytest.raises(RuntimeError):
        sel.start()


def test_current_is_safe_under_concurrent_failover() -> None:
    sel, _ = selector({A: 1.0, B: 2.0, C: 3.0}, failover_threshold=1)
    sel.probe_now()
    stop = threading.Event()
    seen: set[str] = set()

    def reader() -> None:
        while not stop.is_set():
            seen.add(sel.current())

    def failer() -> None:
        for _ in range(300):
            sel.report_failure(sel.current())

    threads = [threading.Thread(target=reader)] + [
        threading.Thread(target=failer) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads[1:]:
        t.join(10)
    stop.set()
    threads[0].join(10)
    assert seen <= {A, B, C}
    assert sel.current() in {A, B, C}


def test_background_thread_restarts_lazily_in_a_forked_child() -> None:
    sel, prober = selector({A: 1.0, B: 2.0}, probe_interval=0.05)
    sel.start()
    try:
        assert wait_for(lambda: prober.rounds >= 1)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: no threads but this one
            code = 1
            try:
                os.close(read)
                before = prober.rounds
                sel.report_success(sel.current())  # first call in the child restarts the thread
                ok = wait_for(lambda: prober.rounds >= before + 2, timeout=5.0)
                sel.close()
                code = 0 if ok else 3
            finally:
                os.write(write, bytes([code]))
                os._exit(0)
        os.close(write)
        try:
            result = os.read(read, 1)
        finally:
            os.close(read)
            os.waitpid(pid, 0)
        assert result == b"\x00"
    finally:
        sel.close()
