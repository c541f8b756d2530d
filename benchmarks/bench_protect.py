"""Foundation figures: protect() on a browser GET, one Wasm boundary call, cold start.

Run: python -m pytest benchmarks/bench_protect.py -p no:cacheprovider -s --benchmark-only
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import pytest
from _requests import browser_scope
from _stats import per_call

from arcguard import ArcGuard, detect_bot, filter_rule
from arcguard._core import get_core

DEV = {"ARCGUARD_ENV": "development"}
RULES = [
    detect_bot(mode="LIVE", deny=["CATEGORY:HTTP_LIBRARY", "CATEGORY:SCANNER"]),
    filter_rule(
        mode="LIVE", deny=['http.request.uri.path matches "^/admin" and not ip.src in {10.0.0.0/8}']
    ),
]


@pytest.fixture(scope="module")
def guard() -> ArcGuard:
    return ArcGuard(rules=RULES, environ=DEV)


def test_protect_browser_get(benchmark, guard: ArcGuard) -> None:  # type: ignore[no-untyped-def]
    scope = browser_scope()
    assert guard.protect(scope).is_allowed()
    per_call(benchmark, lambda: guard.protect(scope))


def test_protect_bot_denied(benchmark, guard: ArcGuard) -> None:  # type: ignore[no-untyped-def]
    scope = browser_scope(ua="curl/8.4.0")
    assert guard.protect(scope).is_denied()
    per_call(benchmark, lambda: guard.protect(scope))


def test_wasm_boundary_empty_evaluation(benchmark) -> None:  # type: ignore[no-untyped-def]
    from arcguard import RequestDetails

    core = get_core()
    config = core.compile(json.dumps({"rules": []}))
    payload = RequestDetails(ip="203.0.113.7").encode()
    assert core.evaluate(config, payload) == []
    per_call(benchmark, lambda: core.evaluate_raw(config, payload))


_COLD = r"""
import time, sys
t0 = time.perf_counter()
from arcguard import ArcGuard, detect_bot, filter_rule
t1 = time.perf_counter()
g = ArcGuard(rules=[
    detect_bot(mode="LIVE", deny=["CATEGORY:HTTP_LIBRARY", "CATEGORY:SCANNER"]),
    filter_rule(mode="LIVE",
                deny=['http.request.uri.path matches "^/admin" and not ip.src in {10.0.0.0/8}']),
], environ={"ARCGUARD_ENV": "development"})
t2 = time.perf_counter()
d = g.protect({"type": "http", "method": "GET", "path": "/", "query_string": b"",
               "client": ("203.0.113.7", 1), "headers": [(b"user-agent", b"curl/8")]})
t3 = time.perf_counter()
assert d.is_denied(), d
print((t3 - t0) * 1000, (t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000)
"""


def _cold_start(cache_dir: str, pycache: str | None) -> list[float]:
    """One fresh process: [total, import, build, first decision] in ms, timed inside it."""
    env = {**os.environ, "ARCGUARD_CACHE_DIR": cache_dir}
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = pycache
    out = subprocess.run(
        [sys.executable, "-c", _COLD], env=env, check=True, capture_output=True, text=True
    ).stdout
    return [float(x) for x in out.split()]


@pytest.mark.parametrize("bytecode", ["installed", "checkout"])
@pytest.mark.parametrize("cache", ["no-cache", "warm-cache"])
def test_cold_start_import_to_first_decision(benchmark, cache: str, bytecode: str) -> None:  # type: ignore[no-untyped-def]
    """Fresh process: import arcguard, build the guard with the two rules, one protect().

    ``cache``: the precompiled Wasm module cache is disabled (the core is
    compiled, by Winch) or was filled by an earlier process.
    ``bytecode``: ``installed`` has Python's bytecode cache filled by an
    earlier process, as ``pip install`` leaves a package (it compiles the
    ``.pyc`` files); ``checkout`` runs with the environment as it is (with
    ``PYTHONDONTWRITEBYTECODE=1`` and no ``__pycache__``, every arcguard
    module is compiled from source at each start).
    """
    with tempfile.TemporaryDirectory() as d:
        cache_dir = os.path.join(d, "cache")
        if cache == "no-cache":
            cache_dir = ""  # disables the precompiled-module cache
        pycache = os.path.join(d, "pycache") if bytecode == "installed" else None
        _cold_start(cache_dir, pycache)  # fills the caches in use
        samples: list[list[float]] = []
        benchmark.pedantic(
            lambda: samples.append(_cold_start(cache_dir, pycache)), rounds=7, iterations=1
        )
    samples.sort()
    mid = samples[len(samples) // 2]
    info = {
        "median_ms": round(mid[0], 1),
        "min_ms": round(samples[0][0], 1),
        "max_ms": round(samples[-1][0], 1),
        # import / build the guard / first decision, of the median run
        "split_ms": [round(x, 1) for x in mid[1:]],
    }
    benchmark.extra_info.update(info)
    print(f"\ncold start ({cache}, {bytecode}), measured inside the process: {info}")
