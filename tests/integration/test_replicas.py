"""Three decide-service processes sharing one real redis-server never over-admit.

The replicas are real processes (``python -m decide_service --redis-url ...``);
eight client threads drive them through the SDK's gRPC transport, round robin,
all on one rate-limit key.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import pytest

from arcguard import RequestDetails, fixed_window, sliding_window, token_bucket
from arcguard._rules import RateLimitRule
from arcguard._transport import GrpcTransport, GrpcTransportSettings
from tests._servers import PYTHON, free_port, run_server
from tests.engine.redis_server import RedisServer, redis_server_available

pytestmark = [
    pytest.mark.integration,
    pytest.mark.redis,
    pytest.mark.skipif(not redis_server_available(), reason="redis-server is not on PATH"),
]

THREADS = 8
PER_THREAD = 40


@pytest.fixture(scope="module")
def replicas() -> Iterator[list[str]]:
    redis = RedisServer.start()
    # Three services, eight client threads and Redis share two cores here: a
    # command may wait far longer than the production default of 50 ms.
    ports = [free_port() for _ in range(3)]
    try:
        with contextlib.ExitStack() as stack:
            for p in ports:
                stack.enter_context(
                    run_server(
                        [
                            PYTHON,
                            "-m",
                            "decide_service",
                            "--port",
                            str(p),
                            "--no-auth",
                            "--redis-url",
                            redis.url,
                            "--redis-timeout-ms",
                            "2000",
                            "--metrics-port",
                            "-1",
                            "--log-level",
                            "WARNING",
                        ],
                        p,
                    )
                )
            yield [f"127.0.0.1:{p}" for p in ports]
    finally:
        redis.stop()


def admitted(targets: list[str], rule: RateLimitRule, user: str) -> tuple[int, int]:
    """(allowed, errors) of THREADS x PER_THREAD requests on one key."""
    transports = [
        GrpcTransport(GrpcTransportSettings(key="k", timeout=5.0, tls=False), t) for t in targets
    ]
    allowed = [0] * THREADS
    errors = [0] * THREADS
    reasons: list[str] = []
    barrier = threading.Barrier(THREADS)
    details = RequestDetails(ip="192.0.2.1", extras={"userId": user})

    def work(i: int) -> None:
        barrier.wait()
        for n in range(PER_THREAD):
            transport = transports[(i + n) % len(transports)]
            outcome = transport.decide(details, (rule,)).results[0]
            if outcome.code == 0:
                allowed[i] += 1
            elif outcome.code != 1:
                errors[i] += 1
                reasons.append(outcome.reason)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for t in transports:
        t.close()
    assert not reasons, reasons[:3]
    return sum(allowed), sum(errors)


def test_fixed_window_admits_exactly_max_across_three_replicas(replicas: list[str]) -> None:
    rule = fixed_window(window="1h", max=100, characteristics=["userId"])
    for attempt in range(3):
        hour = int(time.time() // 3600)
        got = admitted(replicas, rule, f"fw-{attempt}")
        if int(time.time() // 3600) == hour:  # no window boundary crossed meanwhile
            assert got == (100, 0)
            return
    pytest.fail("crossed an hour boundary three times")


def test_sliding_window_admits_exactly_max_within_one_window(replicas: list[str]) -> None:
    rule = sliding_window(interval="1h", max=100, characteristics=["userId"])
    assert admitted(replicas, rule, f"sw-{time.time()}") == (100, 0)


def test_token_bucket_admits_exactly_capacity_when_refill_is_slow(replicas: list[str]) -> None:
    # One token an hour: during the test only the initial 60 can be spent.
    rule = token_bucket(refill_rate=1, interval="1h", capacity=60, characteristics=["userId"])
    assert admitted(replicas, rule, f"tb-{time.time()}") == (60, 0)
