"""How long the SDK keeps answering ERROR after the decide service is back.

One measurement: a guard calls a real decide service subprocess every few
milliseconds (a sync thread calling ``protect()``, or an asyncio loop calling
``aprotect()``); the service is taken away (``kill``: SIGKILL then a new
process on the same port; ``stop``: SIGSTOP then SIGCONT; ``graceful``:
SIGTERM, its drain, then a new process), and comes back. A separate health
watcher (its own channel, reconnecting every 10 ms) notes when grpc.health.v1
answers SERVING again; the recovery is the time from then to the guard's first
decision that is not an ERROR. Shared by tests/service/test_recovery.py (which
asserts that recovery happens) and benchmarks/bench_recovery.py (the figures).
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from arcguard import ArcGuard, fixed_window
from arcguard._request import RequestDetails

from ._process import SERVING, DecideProcess

SCENARIOS = ("kill", "stop", "graceful")
CLIENTS = ("sync", "async")
#: Seconds between two decisions of the client.
PACE = 0.005
#: Most seconds to wait for the SDK to recover before giving up.
GIVE_UP = 40.0

_WATCH_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 10),
    ("grpc.min_reconnect_backoff_ms", 10),
    ("grpc.max_reconnect_backoff_ms", 10),
    ("grpc.use_local_subchannel_pool", 1),
)


@dataclass(frozen=True)
class Recovery:
    """One outage, in seconds from its start (the signal)."""

    scenario: str
    client: str
    #: grpc.health.v1 answered SERVING again
    health: float
    #: the guard's first decision after that which is not an ERROR
    recovered: float
    #: ERROR decisions from the signal until recovery
    errors: int

    @property
    def after_health(self) -> float:
        """Seconds of ERROR decisions after the service answered health again."""
        return self.recovered - self.health


class _Client:
    """A guard deciding every :data:`PACE` seconds in a thread of its own; the
    outcome of each decision is recorded with its (monotonic) end time."""

    def __init__(self, target: str, key: str, kind: str) -> None:
        self.guard = ArcGuard(
            rules=[fixed_window(window="1h", max=10**9)], key=key, endpoint=target, environ={}
        )
        self.kind = kind
        self.outcomes: list[tuple[float, bool]] = []  # (when, is_error)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._details = RequestDetails(ip="192.0.2.44", headers=[("user-agent", "Mozilla/5.0")])

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        if self.kind == "async":
            asyncio.run(self._arun())
            return
        while not self._stop.is_set():
            d = self.guard.protect(self._details)
            self.outcomes.append((time.monotonic(), d.is_error()))
            time.sleep(PACE)

    async def _arun(self) -> None:
        while not self._stop.is_set():
            d = await self.guard.aprotect(self._details)
            self.outcomes.append((time.monotonic(), d.is_error()))
            await asyncio.sleep(PACE)

    def first_ok_after(self, t: float, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            outcomes = self.outcomes[seen:]
            seen += len(outcomes)
            for when, error in outcomes:
                if when >= t and not error:
                    return when
            time.sleep(0.01)
        return None

    def errors_between(self, a: float, b: float) -> int:
        return sum(1 for when, error in self.outcomes if a <= when <= b and error)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.guard.close()


def _health_back(target: str, since: float, timeout: float) -> float:
    """The monotonic time health first answered SERVING after ``since``."""
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(target, options=_WATCH_OPTIONS) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        while time.monotonic() < deadline:
            try:
                r = stub.Check(health_pb2.HealthCheckRequest(), timeout=0.05, wait_for_ready=True)
                now = time.monotonic()
                if r.status == SERVING and now >= since:
                    return now
            except grpc.RpcError:
                pass
            time.sleep(0.002)
    raise TimeoutError(f"{target} did not answer health within {timeout}s")


def measure(proc: DecideProcess, key: str, scenario: str, client: str, away: float) -> Recovery:
    """Takes ``proc`` away for ``away`` seconds under a guard's traffic; the recovery."""
    c = _Client(proc.target, key, client)
    c.start()
    try:
        if c.first_ok_after(time.monotonic(), 20.0) is None:
            raise AssertionError("the guard never got a decision before the outage")
        time.sleep(0.3)  # steady traffic
        t0 = time.monotonic()
        if scenario == "kill":
            proc.signal(signal.SIGKILL)
            proc.wait()
            time.sleep(away)
            proc.start()
        elif scenario == "stop":
            proc.signal(signal.SIGSTOP)
            time.sleep(away)
            proc.signal(signal.SIGCONT)
        elif scenario == "graceful":
            proc.signal(signal.SIGTERM)
            proc.wait()
            time.sleep(away)
            proc.start()
        else:
            raise ValueError(scenario)
        back = time.monotonic()
        health = _health_back(proc.target, back, 30.0)
        ok = c.first_ok_after(health, GIVE_UP)
        if ok is None:
            raise AssertionError(
                f"{scenario}/{client}: the guard still answered ERROR {GIVE_UP}s after "
                "the service answered health again"
            )
        return Recovery(scenario, client, health - t0, ok - t0, c.errors_between(t0, ok))
    finally:
        c.close()
