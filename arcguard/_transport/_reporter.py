"""The background reporter: batches locally made decisions off the request path.

:meth:`Reporter.submit` appends to a bounded deque and returns: it never
blocks, never does I/O and never raises. A daemon thread, started lazily on
the first report, takes batches of up to ``batch_size`` items every
``interval`` seconds (or as soon as a batch is full) and hands them to the
``send`` callable (the transport's I/O). When the queue is full new reports are
dropped and counted; a failed send is logged and counted, never retried (the
reports are signals, not records that must arrive).

Fork safety: after ``os.fork()`` the child has no reporter thread and must not
send the parent's pending items; :meth:`Reporter.submit` notices the new pid,
clears the queue and starts a fresh thread in the child.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_FLUSH_INTERVAL",
    "DEFAULT_QUEUE_SIZE",
    "Reporter",
    "ReporterSettings",
    "ReporterStats",
]

logger = logging.getLogger("arcguard.transport")

#: Reports held at most; more are dropped (and counted).
DEFAULT_QUEUE_SIZE = 10_000
#: Reports sent in one call at most.
DEFAULT_BATCH_SIZE = 100
#: Seconds between sends while the queue holds less than a batch.
DEFAULT_FLUSH_INTERVAL = 0.1
#: Seconds close() waits for the queue to drain.
DEFAULT_CLOSE_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class ReporterSettings:
    """Reporter options.

    Raises:
        ValueError: on a non-positive value.
    """

    queue_size: int = DEFAULT_QUEUE_SIZE
    batch_size: int = DEFAULT_BATCH_SIZE
    interval: float = DEFAULT_FLUSH_INTERVAL
    close_timeout: float = DEFAULT_CLOSE_TIMEOUT

    def __post_init__(self) -> None:
        if self.queue_size < 1 or self.batch_size < 1:
            raise ValueError("queue_size and batch_size must be >= 1")
        if self.interval <= 0 or self.close_timeout < 0:
            raise ValueError("interval must be > 0 and close_timeout >= 0")


@dataclass(frozen=True, slots=True)
class ReporterStats:
    """Counters of a reporter since it was built (or since the fork)."""

    submitted: int
    sent: int
    dropped: int
    failed: int
    pending: int


class Reporter:
    """Sends submitted items in batches from a daemon thread.

    Parameters:
        send: called with a list of items from the reporter's thread; may raise
            (the batch is then counted as failed).
        settings: queue and batch sizes, interval.
        name: the thread's name.

    Example::

        reporter = Reporter(lambda batch: stub.Report(to_proto(batch)))
        reporter.submit(item)      # from a request: O(1), never blocks
        reporter.close()           # flushes what is queued, bounded in time
    """

    def __init__(
        self,
        send: Callable[[Sequence[Any]], None],
        settings: ReporterSettings | None = None,
        *,
        name: str = "arcguard-reporter",
    ) -> None:
        self._send = send
        self.settings = settings or ReporterSettings()
        self._name = name
        self._init_state()

    def _init_state(self) -> None:
        self._pid = os.getpid()
        self._queue: deque[Any] = deque()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._submitted = self._sent = self._dropped = self._failed = 0

    def submit(self, item: Any) -> bool:
        """Queues one item. Returns False if it was dropped (full or closed)."""
        if self._pid != os.getpid():
            self._init_state()  # a forked child: the parent's queue is not ours
        if self._closed:
            self._dropped += 1
            return False
        q = self._queue
        if len(q) >= self.settings.queue_size:
            self._dropped += 1
            return False
        q.append(item)
        self._submitted += 1
        if self._thread is None:
            self._start()
        elif len(q) >= self.settings.batch_size:
            self._wake.set()
        return True

    def stats(self) -> ReporterStats:
        """The counters."""
        return ReporterStats(
            submitted=self._submitted,
            sent=self._sent,
            dropped=self._dropped,
            failed=self._failed,
            pending=len(self._queue),
        )

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None or self._closed:
                return
            t = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread = t
            t.start()

    def _take(self) -> list[Any]:
        q = self._queue
        batch: list[Any] = []
        n = min(len(q), self.settings.batch_size)
        for _ in range(n):
            try:
                batch.append(q.popleft())
            except IndexError:
                break
        return batch

    def _flush_once(self) -> bool:
        batch = self._take()
        if not batch:
            return False
        try:
            self._send(batch)
        except Exception as exc:  # a report must never take the thread down
            self._failed += len(batch)
            logger.debug("report of %d decisions failed: %s", len(batch), exc)
        else:
            self._sent += len(batch)
        return True

    def _run(self) -> None:
        interval = self.settings.interval
        while not self._closed:
            self._wake.wait(interval)
            self._wake.clear()
            while len(self._queue) >= self.settings.batch_size and not self._closed:
                self._flush_once()
            self._flush_once()

    def flush(self, timeout: float | None = None) -> None:
        """Sends what is queued now, from the calling thread, within ``timeout``."""
        deadline = time.monotonic() + (self.settings.close_timeout if timeout is None else timeout)
        while self._queue and time.monotonic() < deadline:
            self._flush_once()

    def close(self) -> None:
        """Stops the thread and sends what is queued (bounded by ``close_timeout``)."""
        if self._pid != os.getpid():
            self._init_state()
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        t = self._thread
        if t is not None:
            t.join(self.settings.close_timeout)
        self.flush()
        self._queue.clear()
