"""ArcGuard side by side with Arcjet's Python SDK (arcjet 1.4.0), in one run.

Run (not part of the default test run)::

    python -m pytest benchmarks/bench_peers.py -p no:cacheprovider -s --benchmark-only

Arcjet pins wasmtime 47.0.x and ArcGuard needs 50.x, so Arcjet runs in a virtual
environment of its own, made here on first use in ``benchmarks/.venvs/arcjet-1.4.0``
(gitignored, reused when present; ``pip install arcjet==1.4.0`` from PyPI) and
measured by ``benchmarks/peers/arcjet_bench.py`` in a fresh process. Its Decide API
URL points at a closed loopback port, so nothing leaves the machine; when strace is
on PATH a short extra run is traced and every connect() must be to loopback.

ArcGuard's decisions are measured here, in-process, on the very same ASGI scopes
(the builders live in ``arcjet_bench.py``); its cold start in fresh ``python -c``
processes with an empty and with a filled ``ARCGUARD_CACHE_DIR``.

At the end one table compares both. ``ARCGUARD_PEERS_N`` sets decisions per
scenario (default 2000); ``ARCGUARD_PEERS_JSON=path`` also writes the raw figures.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PEER_SCRIPT = HERE / "peers" / "arcjet_bench.py"
ARCJET_VERSION = "1.4.0"
VENV = HERE / ".venvs" / f"arcjet-{ARCJET_VERSION}"
N = int(os.environ.get("ARCGUARD_PEERS_N", "2000"))
COLD_RUNS = 3
WARMUP = 50
_SKIPPED: dict[str, str] = {}  # why Arcjet was not measured, if it was not

_spec = importlib.util.spec_from_file_location("arcjet_bench", PEER_SCRIPT)
assert _spec is not None and _spec.loader is not None
peer = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(peer)

ARCGUARD_RULES = 'detect_bot(mode="LIVE", deny=["CATEGORY:HTTP_LIBRARY"])'

# Fresh process: import arcguard, build the guard, decide about the curl request.
_ARCGUARD_COLD = f"""
import json, sys, time
sys.path.insert(0, {str(PEER_SCRIPT.parent)!r})
from arcjet_bench import bot_scope
scope = bot_scope(0)
t0 = time.perf_counter()
import os
from arcguard import ArcGuard, detect_bot
t1 = time.perf_counter()
guard = ArcGuard(rules=[{ARCGUARD_RULES}], environ=dict(os.environ))
t2 = time.perf_counter()
d = guard.protect(scope)
t3 = time.perf_counter()
print(json.dumps({{
    "import_ms": (t1 - t0) * 1000, "construct_ms": (t2 - t1) * 1000,
    "first_decision_ms": (t3 - t2) * 1000, "import_to_first_decision_ms": (t3 - t0) * 1000,
    "denied": d.is_denied(), "error": d.is_error(),
}}))
"""


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k.lower() not in {"http_proxy", "https_proxy", "all_proxy"}
        and not k.startswith(("ARCGUARD_", "ARCJET_", "PYTEST_"))
    }
    env.update(extra)
    return env


def _run_json(cmd: list[str], env: dict[str, str], timeout: float = 600) -> dict[str, Any]:
    proc = subprocess.run(
        cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise AssertionError(f"{cmd[:3]} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    line = proc.stdout.strip().splitlines()[-1]
    return dict(json.loads(line))


def _pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def _stats_us(benchmark: Any) -> dict[str, Any]:
    data = [t * 1e6 for t in benchmark.stats.stats.data]
    return {
        "n": len(data),
        "p50_us": round(_pct(data, 0.50), 1),
        "p99_us": round(_pct(data, 0.99), 1),
        "mean_us": round(statistics.fmean(data), 1),
    }


# ----------------------------------------------------------------------------- results


@pytest.fixture(scope="module")
def results(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """Collects every figure; prints the side-by-side table when the module ends."""
    out: dict[str, Any] = {"n": N, "load_start": os.getloadavg(), "arcguard": {}, "arcjet": {}}
    yield out
    out["load_end"] = os.getloadavg()
    table = render_table(out)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("")
        for line in table.splitlines():
            reporter.write_line(line)
    else:
        print(table)
    dump = os.environ.get("ARCGUARD_PEERS_JSON")
    if dump:
        Path(dump).write_text(json.dumps(out, indent=2, default=str) + "\n")


def _ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v:,.0f} ms" if v >= 100 else f"{v:.1f} ms"


def _us(d: dict[str, Any] | None) -> str:
    if not d:
        return "n/a"
    return f"{d['p50_us']:,.0f} / {d['p99_us']:,.0f} µs"


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    vals = [r[key] for r in runs if key in r]
    return statistics.median(vals) if vals else None


def _sum_median(runs: list[dict[str, Any]]) -> float | None:
    vals = [r["construct_ms"] + r["first_decision_ms"] for r in runs if "construct_ms" in r]
    return statistics.median(vals) if vals else None


def _paths(d: dict[str, Any] | None) -> str:
    if not d:
        return "n/a"
    return ", ".join(f"{k} {v}" for k, v in sorted(d.get("paths", {}).items()))


def _arcguard_build() -> str:
    """Which ArcGuard was measured: the commit and the Wasm core's digest."""
    import hashlib

    wasm = REPO / "arcguard" / "_core" / "arcguard_core.wasm"
    digest = hashlib.sha256(wasm.read_bytes()).hexdigest()[:12] if wasm.exists() else "?"
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "arcguard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout.strip()
    size = wasm.stat().st_size if wasm.exists() else 0
    state = " with uncommitted changes in arcguard/" if dirty else ""
    return f"tree at {head or '?'}{state}, core {size:,} B sha256 {digest}"


def render_table(r: dict[str, Any]) -> str:
    """The side-by-side table, as Markdown."""
    ag, aj = r["arcguard"], r["arcjet"]
    full = aj.get("full", {})
    aj_cold = aj.get("cold_runs", [])
    nocache, warm = ag.get("cold_no_cache", []), ag.get("cold_warm_cache", [])
    aj_label = f"Arcjet {full.get('version', ARCJET_VERSION)}"
    if _SKIPPED.get("arcjet"):
        aj_label += f" (skipped: {_SKIPPED['arcjet']})"
    rows = [
        ("Rules", f"`{ARCGUARD_RULES}`", f"`{full.get('rules', 'n/a')}`"),
        (
            f"Import → first decision, no compile cache (median of {COLD_RUNS})",
            _ms(_median(nocache, "import_to_first_decision_ms")),
            _ms(_median(aj_cold, "import_to_first_decision_ms")),
        ),
        (
            f"Import → first decision, warm compile cache (median of {COLD_RUNS})",
            _ms(_median(warm, "import_to_first_decision_ms")),
            "no cache (compiles every process)",
        ),
        (
            "  of which: import",
            f"{_ms(_median(nocache, 'import_ms'))} / {_ms(_median(warm, 'import_ms'))}",
            _ms(_median(aj_cold, "import_ms")),
        ),
        (
            "  of which: build the guard + first decision",
            f"{_ms(_sum_median(nocache))} / {_ms(_sum_median(warm))}",
            _ms(_sum_median(aj_cold)),
        ),
        (
            "Process wall, python start → exit (median; ArcGuard: no cache / warm cache)",
            f"{_ms(ag.get('cold_process_ms'))} / {_ms(ag.get('warm_process_ms'))}",
            _ms(aj.get("cold_process_ms")),
        ),
        (
            "Bot deny (curl, new client IP each), p50 / p99",
            _us(ag.get("bot_deny")),
            _us(full.get("bot_deny")),
        ),
        (
            "Bot deny (curl, same client IP), p50 / p99",
            _us(ag.get("bot_deny_same_ip")),
            _us(full.get("bot_deny_cached")),
        ),
        (
            "Browser GET allow (12 headers, query), p50 / p99",
            _us(ag.get("browser_allow")),
            _us(full.get("browser_allow")),
        ),
        ("  path taken: bot deny", _paths(ag.get("bot_deny")), _paths(full.get("bot_deny"))),
        (
            "  path taken: bot deny, same IP",
            _paths(ag.get("bot_deny_same_ip")),
            _paths(full.get("bot_deny_cached")),
        ),
        (
            "  path taken: browser allow",
            _paths(ag.get("browser_allow")),
            _paths(full.get("browser_allow")),
        ),
        (
            "Curl with a query string (`?page=2`), p50 / p99",
            _us(ag.get("bot_deny_with_query")),
            _us(full.get("bot_deny_with_query")),
        ),
        (
            "  path taken",
            _paths(ag.get("bot_deny_with_query")),
            _paths(full.get("bot_deny_with_query")),
        ),
    ]
    lines = [
        f"| {N} decisions per scenario | ArcGuard | {aj_label} |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    ls, le = r.get("load_start"), r.get("load_end")
    fmt = lambda la: "/".join(f"{x:.2f}" for x in la) if la else "?"  # noqa: E731
    lines.append("")
    lines.append(
        f"Load average (1/5/15 min) at start {fmt(ls)}, at end {fmt(le)}; "
        f"{os.cpu_count()} CPUs; Python {sys.version.split()[0]}."
    )
    lines.append(f"ArcGuard: {_arcguard_build()}.")
    if "cache_files" in ag:
        lines.append(
            f"ArcGuard compile cache (ARCGUARD_CACHE_DIR): {ag['cache_files']} file(s) "
            'after the first process; "no cache" runs each start in an empty directory.'
        )
    probe = full.get("category_probe")
    if probe:
        lines.append(
            f"Arcjet with {probe['rule']}: entities sent to its Wasm "
            f"{probe['entities_sent_to_wasm']}, curl path: {probe['path']}."
        )
    if aj.get("network_check"):
        lines.append(f"Arcjet network check: {aj['network_check']}.")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- Arcjet


def _venv_python() -> Path:
    return VENV / "bin" / "python"


def _venv_has_arcjet() -> bool:
    py = _venv_python()
    if not py.exists():
        return False
    probe = subprocess.run(
        [str(py), "-c", "import importlib.metadata as m, arcjet; print(m.version('arcjet'))"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return probe.returncode == 0 and probe.stdout.strip() == ARCJET_VERSION


@pytest.fixture(scope="session")
def arcjet_python() -> Path:
    """The Python of a virtualenv with arcjet==1.4.0 (made and filled on first use)."""
    if _venv_has_arcjet():
        return _venv_python()
    VENV.parent.mkdir(parents=True, exist_ok=True)
    made = subprocess.run(
        [sys.executable, "-m", "venv", "--clear", str(VENV)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if made.returncode != 0:
        _SKIPPED["arcjet"] = f"cannot create a venv for arcjet: {made.stderr.strip()[-300:]}"
        pytest.skip(_SKIPPED["arcjet"])
    pip = subprocess.run(
        [
            str(_venv_python()),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--quiet",
            f"arcjet=={ARCJET_VERSION}",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env=_clean_env(),
    )
    if pip.returncode != 0 or not _venv_has_arcjet():
        shutil.rmtree(VENV, ignore_errors=True)
        tail = (pip.stderr or pip.stdout).strip().splitlines()[-1:] or ["?"]
        _SKIPPED["arcjet"] = f"pip cannot install arcjet=={ARCJET_VERSION} (no network?): {tail[0]}"
        pytest.skip(_SKIPPED["arcjet"])
    return _venv_python()


_CONNECT = re.compile(r"connect\(\d+, \{sa_family=(AF_\w+)(.*?)\}")


def _check_offline(py: Path) -> str:
    """Traces a short Arcjet run: every connect() must be to loopback or a Unix socket."""
    strace = shutil.which("strace")
    if strace is None:
        return "not traced (no strace on PATH)"
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "trace"
        proc = subprocess.run(
            [
                strace,
                "-f",
                "-qq",
                "-e",
                "trace=connect",
                "-o",
                str(log),
                str(py),
                str(PEER_SCRIPT),
                "--n",
                "20",
            ],
            env=_clean_env(),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if proc.returncode != 0 or not log.exists():
            return f"not traced (strace exited {proc.returncode})"
        calls = _CONNECT.findall(log.read_text())
    outside = [
        (fam, rest)
        for fam, rest in calls
        if fam in {"AF_INET", "AF_INET6"} and '"127.0.0.1"' not in rest and '"::1"' not in rest
    ]
    assert not outside, f"arcjet tried to reach beyond loopback: {outside[:5]}"
    inet = sum(1 for fam, _ in calls if fam in {"AF_INET", "AF_INET6"})
    return f"strace of a --n 20 run (151 decisions): {inet} TCP connect() calls, all to 127.0.0.1"


def test_arcjet_cold_start(benchmark: Any, arcjet_python: Path, results: dict[str, Any]) -> None:
    """Fresh process: import arcjet → first decision (curl, local Wasm)."""
    runs: list[dict[str, Any]] = []

    def one() -> None:
        runs.append(
            _run_json([str(arcjet_python), str(PEER_SCRIPT), "--cold-only"], _clean_env())["cold"]
        )

    benchmark.pedantic(one, rounds=COLD_RUNS, iterations=1)
    results["arcjet"]["cold_runs"] = runs
    results["arcjet"]["cold_process_ms"] = benchmark.stats.stats.median * 1000
    benchmark.extra_info.update(runs[-1])
    assert all(r["first_path"] == "local_deny" for r in runs), runs


def test_arcjet_decisions(benchmark: Any, arcjet_python: Path, results: dict[str, Any]) -> None:
    """Arcjet's N decisions per scenario, measured inside its own process."""
    results["arcjet"]["network_check"] = _check_offline(arcjet_python)
    full: dict[str, Any] = {}

    def run() -> None:
        full.update(_run_json([str(arcjet_python), str(PEER_SCRIPT), "--n", str(N)], _clean_env()))

    benchmark.pedantic(run, rounds=1, iterations=1)
    results["arcjet"]["full"] = full
    for k in ("bot_deny", "browser_allow"):
        benchmark.extra_info[k] = {x: full[k][x] for x in ("p50_us", "p99_us")}
    assert full["bot_deny"]["paths"] == {"local_deny": N}, full["bot_deny"]


# ----------------------------------------------------------------------------- ArcGuard


def _arcguard_cold(cache_dir: str) -> dict[str, Any]:
    env = _clean_env(
        ARCGUARD_ENV="development",
        ARCGUARD_CACHE_DIR=cache_dir,
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
    )
    return _run_json([sys.executable, "-c", _ARCGUARD_COLD], env)


def test_arcguard_cold_start_no_cache(benchmark: Any, results: dict[str, Any]) -> None:
    """Fresh process, empty compile cache: import arcguard → first decision."""
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        dirs = iter(range(COLD_RUNS))

        def setup() -> tuple[tuple[str], dict[str, Any]]:
            d = Path(tmp) / f"empty{next(dirs)}"
            d.mkdir()
            return (str(d),), {}

        benchmark.pedantic(
            lambda d: runs.append(_arcguard_cold(d)), setup=setup, rounds=COLD_RUNS, iterations=1
        )
    results["arcguard"]["cold_no_cache"] = runs
    results["arcguard"]["cold_process_ms"] = benchmark.stats.stats.median * 1000
    benchmark.extra_info.update(runs[-1])


def test_arcguard_cold_start_warm_cache(benchmark: Any, results: dict[str, Any]) -> None:
    """Fresh process, compile cache already filled: import arcguard → first decision."""
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        _arcguard_cold(tmp)  # fills the cache
        filled = sum(1 for p in Path(tmp).rglob("*") if p.is_file())
        benchmark.pedantic(lambda: runs.append(_arcguard_cold(tmp)), rounds=COLD_RUNS, iterations=1)
    results["arcguard"]["cold_warm_cache"] = runs
    results["arcguard"]["cache_files"] = filled
    results["arcguard"]["warm_process_ms"] = benchmark.stats.stats.median * 1000
    benchmark.extra_info.update(runs[-1])


@pytest.fixture(scope="module")
def guard() -> Any:
    from arcguard import ArcGuard, detect_bot

    g = ArcGuard(
        rules=[detect_bot(mode="LIVE", deny=["CATEGORY:HTTP_LIBRARY"])],
        environ={"ARCGUARD_ENV": "development"},
    )
    for i in range(WARMUP):  # the same 50-call warm-up as the Arcjet script
        g.protect(peer.bot_scope(N + 1 + i))
    return g


def _path(decision: Any) -> str:
    if decision.is_denied():
        return "local_deny"
    if decision.is_error():
        return "error"
    return "allow"


def _measure(benchmark: Any, guard: Any, scopes: list[dict[str, Any]]) -> dict[str, Any]:
    """One round per scope, in order; per-call times from pytest-benchmark's raw data."""
    it = iter(scopes)
    decisions: list[Any] = []
    protect = guard.protect

    def setup() -> tuple[tuple[dict[str, Any]], dict[str, Any]]:
        return (next(it),), {}

    def call(scope: dict[str, Any]) -> None:
        decisions.append(protect(scope))

    benchmark.pedantic(call, setup=setup, rounds=len(scopes), iterations=1)
    out = _stats_us(benchmark)
    paths: dict[str, int] = {}
    for d in decisions:
        p = _path(d)
        paths[p] = paths.get(p, 0) + 1
    out["paths"] = paths
    benchmark.extra_info.update(out)
    return out


def test_arcguard_bot_deny(benchmark: Any, guard: Any, results: dict[str, Any]) -> None:
    """Curl from a new client IP each time (the Arcjet script's requests)."""
    out = _measure(benchmark, guard, [peer.bot_scope(i) for i in range(1, N + 1)])
    results["arcguard"]["bot_deny"] = out


def test_arcguard_bot_deny_same_ip(benchmark: Any, guard: Any, results: dict[str, Any]) -> None:
    """Curl, always from one client IP."""
    out = _measure(benchmark, guard, [peer.bot_scope(0)] * N)
    results["arcguard"]["bot_deny_same_ip"] = out


def test_arcguard_browser_allow(benchmark: Any, guard: Any, results: dict[str, Any]) -> None:
    """A browser GET with 12 headers and a query string, new client IP each time."""
    out = _measure(benchmark, guard, [peer.browser_scope(i) for i in range(1, N + 1)])
    results["arcguard"]["browser_allow"] = out
    assert out["paths"] == {"allow": N}, out


def test_arcguard_bot_deny_with_query(benchmark: Any, guard: Any, results: dict[str, Any]) -> None:
    """Curl with ``?page=2`` (Arcjet's local analysis fails on a query string)."""
    base = 2 * N + 100
    scopes = [peer.bot_scope(i, b"page=2") for i in range(base, base + min(N, 200))]
    results["arcguard"]["bot_deny_with_query"] = _measure(benchmark, guard, scopes)
