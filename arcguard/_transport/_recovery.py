"""The recovery probe: while a target's circuit is open, its health is checked
off the request path, and the breaker is told as soon as it answers.

Without it, recovery waited for the breaker's backoff to pass, and the trial
call then ran on a channel still in its own reconnect backoff, failed, and
doubled the backoff: 1.4-8 s of ERROR decisions after a 5 s outage, 15 s and
more in the field (issue 14, item 11).

A daemon thread, running only while some circuit is open, checks each watched
target every ``interval`` seconds (jittered) with grpc.health.v1 ``Check``
(:func:`~arcguard._endpoint.probe.health_check`, the endpoint selector's own
probe) on a *fresh* channel built like the transport's. When it answers
SERVING, the connected channel is handed to the transport (which makes it the
target's channel: the next call needs no connection) and the breaker lets the
next call through as its trial (:meth:`CircuitBreaker.try_now`).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable

import grpc

from .._endpoint.probe import health_check
from ._breaker import OPEN, CircuitBreaker

__all__ = ["DEFAULT_RECOVERY_INTERVAL", "DEFAULT_RECOVERY_TIMEOUT", "RecoveryProbe"]

logger = logging.getLogger("arcguard.transport")

#: Mean seconds between two health checks of a target whose circuit is open.
DEFAULT_RECOVERY_INTERVAL = 0.1
#: Seconds one health check may take (connecting included).
DEFAULT_RECOVERY_TIMEOUT = 0.25


class RecoveryProbe:
    """Watches targets whose circuit is open until their health answers. Thread-safe.

    Parameters:
        connect: builds a fresh channel to a target (the transport's options
            and credentials).
        healthy: receives a target that answered SERVING and its connected
            channel (which it then owns), before the breaker is told.
        interval: mean seconds between checks of one target (±50 %).
        timeout: seconds one check may take.
        service: the health service name to ask about ("" is the whole server).
    """

    def __init__(
        self,
        connect: Callable[[str], grpc.Channel],
        healthy: Callable[[str, grpc.Channel], None],
        *,
        interval: float = DEFAULT_RECOVERY_INTERVAL,
        timeout: float = DEFAULT_RECOVERY_TIMEOUT,
        service: str = "",
    ) -> None:
        self._connect = connect
        self._healthy = healthy
        self._interval = interval
        self._timeout = timeout
        self._service = service
        self._rng = random.Random()  # noqa: S311 - jitter, not security
        self._lock = threading.Lock()
        self._watched: dict[str, CircuitBreaker] = {}
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._closed = False

    def watch(self, target: str, breaker: CircuitBreaker) -> None:
        """Checks ``target``'s health until its ``breaker`` is no longer open."""
        with self._lock:
            if self._closed:
                return
            self._watched[target] = breaker
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="arcguard-recovery-probe", daemon=True
                )
                self._thread.start()

    def watching(self) -> list[str]:
        """The targets being watched now."""
        with self._lock:
            return list(self._watched)

    def close(self, timeout: float = 2.0) -> None:
        """Stops watching and waits for the thread (at most ``timeout`` s)."""
        with self._lock:
            self._closed = True
            self._watched.clear()
            thread = self._thread
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._lock:
                for target in [t for t, b in self._watched.items() if b.state != OPEN]:
                    del self._watched[target]  # closed or trying: nothing to do
                watched = list(self._watched.items())
                if not watched or self._closed:
                    self._thread = None
                    return
            for target, breaker in watched:
                try:
                    self._check(target, breaker)
                except Exception:  # the thread must outlive any one bad check
                    logger.exception("recovery probe of %s failed", target)
            self._wake.wait(self._interval * self._rng.uniform(0.5, 1.5))

    def _check(self, target: str, breaker: CircuitBreaker) -> None:
        if not breaker.may_try_now():  # its last probe-led trial failed: wait
            return
        channel = self._connect(target)
        _, error = health_check(channel, timeout=self._timeout, service=self._service)
        if error is not None or self._closed or breaker.state != OPEN:
            channel.close()
            return
        self._healthy(target, channel)
        if breaker.try_now():
            logger.info("decide service %s answers health again: trying it now", target)
