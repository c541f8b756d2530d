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
import time
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

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
_BUCKET_NAMES = (*(repr(b) for b in LATENCY_BUCKETS), "+Inf")
_CODE_NAMES = ("ALLOW", "DENY", "NEEDS_REMOTE", "NOT_RUN", "ERROR")


class _CallCounts:
    """The per-call series, counted in plain Python and turned into metric
    families only when scraped (a custom collector).

    prometheus_client's ``Counter.inc`` and ``Histogram.observe`` take a lock
    each; three of them cost more per Decide call than writing the answer.
    Only the event loop's thread writes these counts (every call is handled
    there); the scrape thread reads them, copying each list in one step so a
    histogram's buckets and count always agree.
    """

    def __init__(self) -> None:
        self.decisions = [0, 0]  # ALLOW, DENY
        self.reported = [0, 0]
        self.rules: dict[tuple[str, int], list[int]] = {}
        # Per-bucket (not cumulative) counts, +Inf last, then the sum.
        self.latency: list[float] = [0] * (len(LATENCY_BUCKETS) + 1) + [0.0]
        self.created = time.time()

    def describe(self) -> list[Metric]:
        return list(self._families([0, 0], [0, 0], {}, [0] * (len(LATENCY_BUCKETS) + 2)))

    def collect(self) -> Iterator[Metric]:
        rules = {k: v[0] for k, v in list(self.rules.items())}
        return self._families(list(self.decisions), list(self.reported), rules, list(self.latency))

    def _families(
        self,
        decisions: list[int],
        reported: list[int],
        rules: dict[tuple[str, int], int],
        latency: list[float],
    ) -> Iterator[Metric]:
        d = CounterMetricFamily(
            "arcguard_decisions", "Decide answers by conclusion", labels=["conclusion"]
        )
        d.add_metric(["ALLOW"], decisions[0], created=self.created)
        d.add_metric(["DENY"], decisions[1], created=self.created)
        yield d
        r = CounterMetricFamily(
            "arcguard_rule_results", "Per-rule outcomes of Decide calls", labels=["kind", "code"]
        )
        for (kind, code), n in sorted(rules.items()):
            name = _CODE_NAMES[code] if 0 <= code < len(_CODE_NAMES) else str(code)
            r.add_metric([kind, name], n, created=self.created)
        yield r
        buckets: list[tuple[str, float]] = []
        total = 0.0
        for bound, count in zip(_BUCKET_NAMES, latency[:-1], strict=True):
            total += count
            buckets.append((bound, total))
        yield HistogramMetricFamily(
            "arcguard_decide_seconds",
            "Decide latency in the server",
            buckets=buckets,
            sum_value=latency[-1],
        )
        rep = CounterMetricFamily(
            "arcguard_reported_decisions",
            "Locally made decisions received by Report",
            labels=["conclusion"],
        )
        rep.add_metric(["ALLOW"], reported[0], created=self.created)
        rep.add_metric(["DENY"], reported[1], created=self.created)
        yield rep


class Metrics:
    """The service's metrics. The per-call series are plain counts exported by
    a collector (:class:`_CallCounts`); the rare ones (errors, store health)
    are prometheus_client metrics."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self._counts = _CallCounts()
        r.register(self._counts)
        self.errors = Counter(
            "arcguard_errors",
            "Calls answered with an error status",
            ["method", "code"],
            registry=r,
        )
        self.store_up = Gauge("arcguard_store_up", "1 while the store answers pings", registry=r)
        self._decisions = self._counts.decisions
        self._reported = self._counts.reported
        self._rules = self._counts.rules
        self._latency = self._counts.latency

    def observe_latency(self, seconds: float) -> None:
        """Counts one Decide call's time in the server."""
        lat = self._latency
        lat[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        lat[-1] += seconds

    def observe_decision(self, denied: bool, kinds: Sequence[str], codes: Sequence[int]) -> None:
        """Counts one Decide answer and its per-rule outcomes."""
        self._decisions[denied] += 1
        rules = self._rules
        for key in zip(kinds, codes, strict=False):
            n = rules.get(key)
            if n is None:
                rules[key] = [1]
            else:
                n[0] += 1

    def observe_report(
        self, kinds: Sequence[str], codes: Sequence[int], live: Sequence[bool]
    ) -> None:
        """Counts one reported decision (DENY if a LIVE rule denied)."""
        denied = any(c == 1 and lv for c, lv in zip(codes, live, strict=False))
        self._reported[denied] += 1

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
