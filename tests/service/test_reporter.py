"""The background reporter: batching, bounds, flushing, failures, fork safety."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from arcguard._transport import Reporter, ReporterSettings


class Sink:
    def __init__(self, fail: bool = False, delay: float = 0.0) -> None:
        self.batches: list[list[Any]] = []
        self.fail = fail
        self.delay = delay
        self.lock = threading.Lock()

    def __call__(self, batch: Sequence[Any]) -> None:
        if self.delay:
            time.sleep(self.delay)
        if self.fail:
            raise ConnectionError("down")
        with self.lock:
            self.batches.append(list(batch))

    @property
    def items(self) -> list[Any]:
        return [i for b in self.batches for i in b]


def wait_until(cond: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cond()


def test_items_are_sent_in_batches_of_at_most_batch_size() -> None:
    sink = Sink()
    r = Reporter(sink, ReporterSettings(batch_size=10, interval=0.05))
    for i in range(35):
        assert r.submit(i)
    wait_until(lambda: len(sink.items) == 35)
    r.close()
    assert sorted(sink.items) == list(range(35))
    assert max(len(b) for b in sink.batches) <= 10
    assert r.stats().sent == 35


def test_a_partial_batch_is_sent_after_the_interval() -> None:
    sink = Sink()
    r = Reporter(sink, ReporterSettings(batch_size=100, interval=0.05))
    r.submit("a")
    wait_until(lambda: sink.items == ["a"], timeout=2.0)
    r.close()


def test_a_full_queue_drops_and_counts_without_blocking() -> None:
    sink = Sink(delay=0.5)  # the thread is stuck sending
    r = Reporter(
        sink, ReporterSettings(queue_size=5, batch_size=1, interval=0.01, close_timeout=0.0)
    )
    t0 = time.perf_counter()
    accepted = sum(r.submit(i) for i in range(1000))
    elapsed = time.perf_counter() - t0
    assert elapsed < 0.1  # 1000 submits never wait for the sender
    assert accepted <= 6
    assert r.stats().dropped == 1000 - accepted
    r.close()


def test_close_flushes_what_is_queued() -> None:
    sink = Sink()
    r = Reporter(sink, ReporterSettings(batch_size=1000, interval=10.0))
    for i in range(50):
        r.submit(i)
    r.close()
    assert sorted(sink.items) == list(range(50))
    assert r.submit(99) is False  # closed


def test_send_failures_are_counted_and_the_thread_survives() -> None:
    sink = Sink(fail=True)
    r = Reporter(sink, ReporterSettings(batch_size=5, interval=0.02))
    for i in range(10):
        r.submit(i)
    wait_until(lambda: r.stats().failed == 10)
    sink.fail = False
    r.submit("after")
    wait_until(lambda: sink.items == ["after"])
    r.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_fresh_and_does_not_send_the_parents_items() -> None:
    sink = Sink(delay=0.2)
    r = Reporter(sink, ReporterSettings(batch_size=1000, interval=10.0))
    for i in range(5):
        r.submit(("parent", i))
    pid = os.fork()
    if pid == 0:  # child: the parent's queue must be gone, a new thread must start
        code = 0
        try:
            r.submit(("child", 0))
            st = r.stats()
            if st.pending != 1 or st.submitted != 1:
                code = 3
            r.close()
            if [i for i in sink.items if i[0] == "parent"]:
                code = 4
        except BaseException:
            code = 5
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    r.close()
    assert sorted(sink.items) == [("parent", i) for i in range(5)]
