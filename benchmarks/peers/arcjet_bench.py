"""Arcjet's Python SDK on the same requests as ArcGuard, measured in a fresh process.

Runs INSIDE a virtual environment that has ``arcjet==1.4.0`` (it pins wasmtime
47.0.x, ArcGuard needs 50.x, so they cannot share one). ``benchmarks/bench_peers.py``
creates that environment and runs this script; it can also be run by hand::

    python -m venv /tmp/aj && /tmp/aj/bin/pip install arcjet==1.4.0
    /tmp/aj/bin/python benchmarks/peers/arcjet_bench.py --n 2000

Offline by construction: the Decide API base URL is ``http://127.0.0.1:<port>``
on a loopback port that nothing listens on (picked here and checked to refuse),
proxy variables are removed, OpenTelemetry is disabled. So every remote call
Arcjet makes (a Decide call when its local rules allow, a fire-and-forget Report
after a local deny) fails at once on loopback; nothing leaves the machine.

Prints one JSON object on stdout. The request builders at the top use only the
standard library: ``bench_peers.py`` imports them so both libraries see the
very same ASGI scopes.
"""

from __future__ import annotations

import time

_T_START = time.perf_counter()  # before anything heavy is imported

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402

BOT_UA = b"curl/8.5.0"
BROWSER_UA = (
    b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    b"(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
)


def client_ip(i: int) -> str:
    """A distinct, globally routable-looking IPv4 per index (no traffic is sent to it)."""
    block = i // 254
    return f"81.{2 + block // 256}.{block % 256}.{1 + i % 254}"


def bot_scope(i: int, query: bytes = b"") -> dict[str, Any]:
    """A typical curl request: GET with 3 headers, from client ``client_ip(i)``."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": "/api/items",
        "raw_path": b"/api/items",
        "query_string": query,
        "root_path": "",
        "headers": [
            (b"host", b"shop.example.com"),
            (b"user-agent", BOT_UA),
            (b"accept", b"*/*"),
        ],
        "client": (client_ip(i), 40000 + i % 20000),
        "server": ("10.0.0.5", 443),
    }


#: Browsers come from other addresses than bots: both libraries cache a bot DENY by
#: client IP, and a browser sharing an IP with a denied bot would be denied from cache.
BROWSER_IP_OFFSET = 1 << 20


def browser_scope(i: int) -> dict[str, Any]:
    """A browser page GET: 12 headers and a query string, from its own client IP."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": "/products/shoes",
        "raw_path": b"/products/shoes",
        "query_string": b"color=red&size=42&sort=price_asc&page=3",
        "root_path": "",
        "headers": [
            (b"host", b"shop.example.com"),
            (b"user-agent", BROWSER_UA),
            (b"accept", b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            (b"accept-language", b"en-US,en;q=0.9"),
            (b"accept-encoding", b"gzip, deflate, br, zstd"),
            (b"referer", b"https://shop.example.com/products"),
            (b"cookie", b"session=3f2a9c0e7b; theme=dark"),
            (b"sec-ch-ua", b'"Chromium";v="126", "Google Chrome";v="126", "Not-A.Brand";v="8"'),
            (b"sec-ch-ua-mobile", b"?0"),
            (b"sec-ch-ua-platform", b'"Windows"'),
            (b"sec-fetch-mode", b"navigate"),
            (b"upgrade-insecure-requests", b"1"),
        ],
        "client": (client_ip(BROWSER_IP_OFFSET + i), 40000 + i % 20000),
        "server": ("10.0.0.5", 443),
    }


def percentiles_us(samples_ns: list[int]) -> dict[str, float]:
    """p50/p99/mean/min/max of per-call times, in microseconds."""
    s = sorted(samples_ns)
    n = len(s)

    def pick(q: float) -> float:
        return s[min(n - 1, round(q * (n - 1)))] / 1000.0

    return {
        "n": n,
        "p50_us": round(pick(0.50), 1),
        "p99_us": round(pick(0.99), 1),
        "mean_us": round(statistics.fmean(s) / 1000.0, 1),
        "min_us": round(s[0] / 1000.0, 1),
        "max_us": round(s[-1] / 1000.0, 1),
    }


def closed_loopback_port() -> int:
    """A loopback TCP port that refuses connections (bound once, then released)."""
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError("no closed loopback port found")


def _offline_environment(base_url: str, log_level: str) -> None:
    for var in list(os.environ):
        if var.lower() in {"http_proxy", "https_proxy", "all_proxy"}:
            del os.environ[var]
    os.environ["NO_PROXY"] = "*"
    os.environ["no_proxy"] = "*"
    os.environ["OTEL_SDK_DISABLED"] = "true"
    os.environ["OTEL_TRACES_EXPORTER"] = "none"
    os.environ["OTEL_METRICS_EXPORTER"] = "none"
    os.environ["OTEL_LOGS_EXPORTER"] = "none"
    os.environ["ARCJET_BASE_URL"] = base_url  # read at import time as the default
    os.environ["ARCJET_LOG_LEVEL"] = log_level
    os.environ.pop("FLY_APP_NAME", None)


def _path(decision: Any) -> str:
    """Which way a decision was reached, from what Arcjet returned."""
    if decision.is_denied():
        # Local Wasm denies (and cache hits of them) carry a locally minted "lreq" id.
        return "local_deny" if str(decision.id).startswith("lreq") else "remote_deny"
    if decision.is_error():
        return "remote_error_fail_open"
    return "allow"


def _loop(aj: Any, scopes: list[dict[str, Any]]) -> dict[str, Any]:
    times: list[int] = []
    paths: dict[str, int] = {}
    clock = time.perf_counter_ns
    protect = aj.protect
    for scope in scopes:
        t0 = clock()
        d = protect(scope)
        times.append(clock() - t0)
        p = _path(d)
        paths[p] = paths.get(p, 0) + 1
    out = percentiles_us(times)
    out["paths"] = paths
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="decisions per scenario")
    ap.add_argument("--cold-only", action="store_true", help="stop after the first decision")
    ap.add_argument(
        "--deny",
        nargs="+",
        default=["CURL"],
        help="detect_bot deny list (default: the named bot CURL; see category_probe)",
    )
    ap.add_argument("--log-level", default="error", help="ARCJET_LOG_LEVEL (default error)")
    args = ap.parse_args(argv)
    if not 1 <= args.n <= 200_000:
        ap.error("--n must be in 1..200000")

    port = closed_loopback_port()
    base_url = f"http://127.0.0.1:{port}"
    _offline_environment(base_url, args.log_level)

    t_import0 = time.perf_counter()
    import arcjet
    from arcjet import Mode, arcjet_sync, detect_bot

    t_import1 = time.perf_counter()
    aj = arcjet_sync(
        key="ajkey_offline_benchmark",
        rules=[detect_bot(mode=Mode.LIVE, deny=list(args.deny))],
        base_url=base_url,
        environment="development",
    )
    t_built = time.perf_counter()
    first = aj.protect(bot_scope(0))
    t_first = time.perf_counter()

    from importlib.metadata import version

    result: dict[str, Any] = {
        "library": "arcjet",
        "version": version("arcjet"),
        "wasmtime": version("wasmtime"),
        "python": platform.python_version(),
        "base_url": base_url,
        "rules": f"detect_bot(mode=LIVE, deny={list(args.deny)!r})",
        "cold": {
            "script_to_import_ms": round((t_import0 - _T_START) * 1000, 1),
            "import_ms": round((t_import1 - t_import0) * 1000, 1),
            "construct_ms": round((t_built - t_import1) * 1000, 1),
            "first_decision_ms": round((t_first - t_built) * 1000, 1),
            "import_to_first_decision_ms": round((t_first - t_import0) * 1000, 1),
            "first_path": _path(first),
        },
    }
    _ = arcjet  # imported above so its import cost is inside the cold figure
    if args.cold_only:
        print(json.dumps(result))
        return 0

    n = args.n
    # Distinct client IPs: Arcjet caches a local DENY by IP for 60 s, so repeating one
    # IP would measure its cache, not its Wasm analysis (that is "bot_deny_cached").
    bots = [bot_scope(i) for i in range(1, n + 1)]
    browsers = [browser_scope(i) for i in range(1, n + 1)]
    same_ip = [bot_scope(0)] * n
    _loop(aj, [bot_scope(i) for i in range(n + 1, n + 51)])  # warm-up, 50 calls
    result["bot_deny"] = _loop(aj, bots)
    result["bot_deny_cached"] = _loop(aj, same_ip)
    result["browser_allow"] = _loop(aj, browsers)

    # The same curl request with a query string: Arcjet 1.4.0's local Wasm analysis
    # rejects it ("unable deserialize request from json"), so it goes to the Decide API.
    with_query = [bot_scope(i, b"page=2") for i in range(2 * n + 100, 2 * n + 100 + min(n, 200))]
    result["bot_deny_with_query"] = _loop(aj, with_query)

    # The category form of the rule: detect_bot() turns "CATEGORY:TOOL" into a
    # (str, Enum) member and the local path passes str(member) ("BotCategory.TOOL" on
    # Python 3.11) to the Wasm, which matches nothing, so curl is not denied locally.
    aj_cat = arcjet_sync(
        key="ajkey_offline_benchmark",
        rules=[detect_bot(mode=Mode.LIVE, deny=["CATEGORY:TOOL"])],
        base_url=base_url,
        environment="development",
    )
    cat_rule = aj_cat._rules[0]
    result["category_probe"] = {
        "rule": "detect_bot(mode=LIVE, deny=['CATEGORY:TOOL'])",
        "entities_sent_to_wasm": [str(e) for e in (cat_rule.deny or ())],
        "path": _loop(aj_cat, [bot_scope(i) for i in range(3 * n + 400, 3 * n + 420)])["paths"],
    }
    print(json.dumps(result))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
