"""Prometheus metrics of the decide service, in a registry of its own (so that
several servers in one process, as in tests, do not collide), served over HTTP
by prometheus_client.

Metrics::

    arcguard_decisions_total{conclusion}             Decide answers: ALLOW / DENY
    arcguard_rule_results_total{kind,code}           per-rule outcomes of Decide calls
    arcguard_decide_seconds                          Decide latency histogram (server side)
    arcguard_reported_decisions_total{conclusion}    decisions received by Report
    arcguard_errors_total{method,code}               calls answered with an error status
    arcguard_store_up                                1 while the store answers pings
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

__all__ = ["LATENCY_BUCKETS", "Metrics", "MetricsHTTPServer"]

#: Seconds; decisions take tens of microseconds to a few milliseconds.
LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    1.0,
)
_CODE_NAMES = ("ALLOW", "DENY", "NEEDS_REMOTE", "NOT_RUN", "ERROR")


class Metrics:
    """The service's metrics. Child series are resolved once and cached
    (``labels()`` takes a lock and builds a key on every call)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.decisions = Counter(
            "arcguard_decisions", "Decide answers by conclusion", ["conclusion"], registry=r
        )
        self.rule_results = Counter(
            "arcguard_rule_results",
            "Per-rule outcomes of Decide calls",
            ["kind", "code"],
            registry=r,
        )
        self.latency = Histogram(
            "arcguard_decide_seconds",
            "Decide latency in the server",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.reported = Counter(
            "arcguard_reported_decisions",
            "Locally made decisions received by Report",
            ["conclusion"],
            registry=r,
        )
        self.errors = Counter(
            "arcguard_errors",
            "Calls answered with an error status",
            ["method", "code"],
            registry=r,
        )
        self.store_up = Gauge("arcguard_store_up", "1 while the store answers pings", registry=r)
        self._allow = self.decisions.labels("ALLOW")
        self._deny = self.decisions.labels("DENY")
        self._rep_allow = self.reported.labels("ALLOW")
        self._rep_deny = self.reported.labels("DENY")
        self._rule: dict[tuple[str, int], Any] = {}
        self.observe_latency = self.latency.observe

    def _rule_child(self, kind: str, code: int) -> Any:
        key = (kind, code)
        child = self._rule.get(key)
        if child is None:
            name = _CODE_NAMES[code] if 0 <= code < len(_CODE_NAMES) else str(code)
            child = self._rule[key] = self.rule_results.labels(kind, name)
        return child

    def observe_decision(self, denied: bool, kinds: Sequence[str], codes: Sequence[int]) -> None:
        """Counts one Decide answer and its per-rule outcomes."""
        (self._deny if denied else self._allow).inc()
        for kind, code in zip(kinds, codes, strict=False):
            self._rule_child(kind, code).inc()

    def observe_report(
        self, kinds: Sequence[str], codes: Sequence[int], live: Sequence[bool]
    ) -> None:
        """Counts one reported decision (DENY if a LIVE rule denied)."""
        denied = any(c == 1 and lv for c, lv in zip(codes, live, strict=False))
        (self._rep_deny if denied else self._rep_allow).inc()

    def observe_error(self, method: str, code: str) -> None:
        """Counts a call answered with an error status."""
        self.errors.labels(method, code).inc()


class MetricsHTTPServer:
    """The Prometheus scrape endpoint on its own thread.

    Parameters:
        metrics: whose registry is served.
        host / port: where to listen (port 0: any; see :attr:`port`).
    """

    def __init__(self, metrics: Metrics, host: str, port: int) -> None:
        server, thread = start_http_server(port, addr=host, registry=metrics.registry)
        self._server: WSGIServer = server
        self._thread: threading.Thread = thread
        self.port: int = server.server_port

    def close(self) -> None:
        """Stops serving and closes the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
