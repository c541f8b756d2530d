"""The wall-clock bound of Wasm calls: a thread that advances wasmtime's epoch.

With epoch interruption on, compiled code checks at function entries and loop
back-edges whether its engine's epoch has reached the store's deadline, which
each call sets a number of ticks ahead. This thread advances the epoch of
every live engine once per :data:`TICK`; it is started by the first decision
of each process (a gunicorn ``--preload`` master that only compiles rules
forks with no extra thread) and again in a forked child that decides.

A late tick (the thread descheduled on a loaded machine) only lengthens the
bound; it never shortens it.
"""

from __future__ import annotations

import math
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["TICK", "Ticker", "ticks_for"]

#: Seconds between epoch increments.
TICK = 0.01


def ticks_for(seconds: float) -> int:
    """The deadline, in ticks past the current epoch, that lets a call run at
    least ``seconds``: the current tick may end at once, hence one more."""
    return math.ceil(seconds / TICK) + 1


class Ticker:
    """Advances the epoch of the engines added to it, from one daemon thread."""

    def __init__(self, increment: Callable[[Any], None]) -> None:
        self._increment = increment
        self._engines: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()
        #: True while this process's thread runs; read on every decision.
        self.running = False
        os.register_at_fork(after_in_child=self._forked)

    def add(self, engine: Any) -> None:
        """Ticks ``engine`` (an object with a ``ptr`` to a wasm_engine_t) while it lives."""
        with self._lock:
            self._engines.add(engine)

    def start(self) -> None:
        """Starts this process's thread unless it runs."""
        with self._lock:
            if self.running:
                return
            t = threading.Thread(target=self._run, name="arcguard-core-epoch", daemon=True)
            t.start()
            self.running = True

    def _run(self) -> None:
        increment, engines, lock = self._increment, self._engines, self._lock
        while True:
            time.sleep(TICK)
            with lock:  # strong references: no engine is freed while it is ticked
                alive = list(engines)
            for engine in alive:
                if engine.ptr:
                    increment(engine.ptr)

    def _forked(self) -> None:
        # The thread did not survive the fork; the child's first decision starts one.
        self._lock = threading.Lock()
        self.running = False
