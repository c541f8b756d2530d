"""Percentiles for pytest-benchmark runs of single calls."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def percentiles(samples_s: list[float]) -> dict[str, float]:
    """p50/p90/p99/max in microseconds of per-call samples in seconds."""
    xs = sorted(samples_s)
    q = statistics.quantiles(xs, n=100, method="inclusive")
    return {
        "p50_us": round(q[49] * 1e6, 2),
        "p90_us": round(q[89] * 1e6, 2),
        "p99_us": round(q[98] * 1e6, 2),
        "max_us": round(xs[-1] * 1e6, 2),
        "n": len(xs),
    }


def per_call(benchmark: Any, fn: Callable[[], object], rounds: int = 20_000) -> dict[str, float]:
    """Runs ``fn`` once per round under pytest-benchmark and records percentiles.

    pytest-benchmark's own statistics (min/median/mean) stay in its table; the
    p99 the issues ask for is computed from the same per-round samples and put
    in ``extra_info`` (and printed).
    """
    for _ in range(500):  # warm up caches, instances, branch predictors
        fn()
    benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=0)
    stats = percentiles(list(benchmark.stats.stats.data))
    benchmark.extra_info.update(stats)
    print(f"\n{benchmark.name}: {stats}")
    return stats


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t
