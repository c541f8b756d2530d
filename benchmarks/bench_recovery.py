"""Recovery after the decide service comes back: seconds of ERROR decisions
after it answers grpc.health.v1 again, for a sync (``protect()``) and an
asyncio (``aprotect()``) guard, after SIGKILL + restart, SIGSTOP + SIGCONT and
a graceful restart (SIGTERM, drain, new process). The harness is
tests/service/_outage.py; the goal is <= 1 s.

Not part of the default test run::

    python -m pytest benchmarks/bench_recovery.py -p no:cacheprovider -s --benchmark-only

Each case runs ``ROUNDS`` outages against a real ``python -m decide_service``
on 127.0.0.1 and records every round's figures in ``extra_info`` (the
pytest-benchmark time is that of the whole measurement, not a figure).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._servers import free_port
from tests.service._outage import CLIENTS, Recovery, measure
from tests.service._process import DecideProcess

KEY = "ak_bench_1"
ROUNDS = 3
#: (scenario, seconds the service stays away): a supervisor's quick restart
#: (a new process takes ~0.5-2 s more to start), a longer outage (the breaker's
#: backoff grows meanwhile) and a stalled process.
CASES = [("kill", 0.2), ("kill", 5.0), ("stop", 3.0), ("graceful", 0.2)]


@pytest.fixture
def service(tmp_path: Path) -> Iterator[DecideProcess]:
    keys = tmp_path / "keys"
    keys.write_text(KEY + "\n")
    proc = DecideProcess(free_port(), str(keys), tmp_path / "service.log")
    proc.start()
    proc.wait_serving()
    try:
        yield proc
    finally:
        proc.close()


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize(("scenario", "away"), CASES)
def test_recovery_after_the_service_returns(
    benchmark: Any, service: DecideProcess, scenario: str, away: float, client: str
) -> None:
    runs: list[Recovery] = []

    def outages() -> None:
        for _ in range(ROUNDS):
            runs.append(measure(service, KEY, scenario, client, away))
            service.wait_serving()

    benchmark.pedantic(outages, rounds=1, iterations=1)
    after = [r.after_health for r in runs]
    info = {
        "after_health_s": [round(x, 3) for x in after],
        "median_after_health_s": round(statistics.median(after), 3),
        "health_back_s": [round(r.health, 3) for r in runs],
        "errors": [r.errors for r in runs],
    }
    benchmark.extra_info.update(info)
    print(f"\nrecovery {scenario} {away}s/{client}: {info}")
