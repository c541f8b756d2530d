"""ArcGuard's shield side by side with Apache + ModSecurity v2 + OWASP CRS 3.3.

The peer a user would otherwise put in front of the app: Debian's ``apache2``,
``libapache2-mod-security2`` and ``modsecurity-crs`` (3.3.x), Debian's
recommended ``modsecurity.conf`` with ``SecRuleEngine On`` and request body
access, paranoia level 1, inbound anomaly threshold 5, blocking. Started here
on two loopback ports of one Apache (ModSecurity on / off; every path answered
by one static file) from ``modsecurity-apache.conf.in``, in a temporary
ServerRoot with its own pid file and logs, as ``apache2 -f conf -DFOREGROUND``
(as root it drops to ``nobody``), and stopped by pid.

Run (not part of the default test run; needs the three Debian packages)::

    apt-get install apache2 libapache2-mod-security2 modsecurity-crs
    python -m pytest benchmarks/peers/bench_modsecurity.py -p no:cacheprovider -s --benchmark-only

Same requests to both, in one run:

* detection on the CRS v4 PL1 attack set (tests/shield/data/crs), per family
  and location: each fixture's exact wire bytes on a fresh ``http.client``
  connection (httpx would normalise ``..`` in paths); ModSecurity blocked it
  when the ModSecurity port answers >= 400 and the plain port < 400 (requests
  Apache itself refuses on both ports are counted apart);
* false positives on the benign corpus (tests/shield/data/benign) as query,
  form and JSON, per source;
* latency: p50 of bench_shield.py's browser GET and 4 KB JSON POST on one
  keep-alive connection per port, ModSecurity on and off interleaved
  (``ARCGUARD_MODSEC_ROUNDS`` pairs, default 2000); ArcGuard's
  ``protect(guard.details(scope, body=...))`` of the same requests in-process.

ArcGuard is ``shield(mode="LIVE")`` at its default sensitivity. ``ARCGUARD_MODSEC_JSON=path``
also writes the raw figures.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _requests import browser_scope
from _stats import percentiles
from bench_shield import json_document, post_scope

from arcguard import ArcGuard, shield
from tests.shield._benign import ENCODINGS, benign_fixtures
from tests.shield._crs import FAMILIES, Outcome, load_fixtures, run, wire_bytes

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "modsecurity-apache.conf.in"
APACHE = "/usr/sbin/apache2"
MODULE = Path("/usr/lib/apache2/modules/mod_security2.so")
RECOMMENDED = Path("/etc/modsecurity/modsecurity.conf-recommended")
CRS_RULES = Path("/usr/share/modsecurity-crs/rules")
DEV = {"ARCGUARD_ENV": "development"}
LATENCY_ROUNDS = int(os.environ.get("ARCGUARD_MODSEC_ROUNDS", "2000"))
CPU_ROUNDS = 300  # per port, after 100 warm-up requests (counted: /proc has no finer clock)
WORKERS = 4  # concurrent fresh connections for the detection runs (Apache has 8 threads)
FIGURES: dict[str, Any] = {}


@dataclass(frozen=True)
class Apache:
    """The running peer."""

    on: int  # port with ModSecurity (SecRuleEngine On)
    off: int  # port without it (SecRuleEngine Off)
    pid: int  # the parent process

    def cpu_seconds(self) -> float:
        """User + system CPU of the parent and its live children (Linux /proc)."""
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            pid, ppid = int(stat.parent.name), int(fields[1])
            if pid == self.pid or ppid == self.pid:
                total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _debian_version(package: str) -> str:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True
    )
    return out.stdout.strip() or "?"


def _modsecurity_conf(root: Path) -> str:
    """Debian's recommended file, engine On, its paths moved under ``root``."""
    text = RECOMMENDED.read_text(encoding="utf-8")
    edits = {
        "SecRuleEngine DetectionOnly": "SecRuleEngine On",
        "SecAuditLog /var/log/apache2/modsec_audit.log": f"SecAuditLog {root}/modsec_audit.log",
        "SecTmpDir /tmp/": f"SecTmpDir {root}/tmp/",  # noqa: S108 (Debian's text)
        "SecDataDir /tmp/": f"SecDataDir {root}/data/",
        "SecUnicodeMapFile unicode.mapping": "SecUnicodeMapFile /etc/modsecurity/unicode.mapping",
    }
    for old, new in edits.items():
        if old not in text:
            raise RuntimeError(f"{RECOMMENDED}: expected {old!r}; the Debian file changed")
        text = text.replace(old, new)
    if "SecRequestBodyAccess On" not in text:
        raise RuntimeError(f"{RECOMMENDED}: request body access is not on")
    return text


@pytest.fixture(scope="module")
def apache() -> Iterator[Apache]:
    """One Apache: a port with ModSecurity on, one with it off."""
    missing = [str(p) for p in (Path(APACHE), MODULE, RECOMMENDED, CRS_RULES) if not p.exists()]
    if missing:
        pytest.skip(
            "needs apache2, libapache2-mod-security2 and modsecurity-crs: missing "
            + ", ".join(missing)
        )
    root = Path(tempfile.mkdtemp(prefix="arcguard-modsec-"))
    for sub in ("htdocs", "tmp", "data"):
        (root / sub).mkdir()
    (root / "htdocs" / "index.html").write_text("<!doctype html><p>ok</p>\n")
    (root / "modsecurity.conf").write_text(_modsecurity_conf(root))
    on, off = _free_port(), _free_port()
    user = "User nobody\nGroup nogroup" if os.geteuid() == 0 else ""
    conf = TEMPLATE.read_text(encoding="utf-8")
    for key, value in {"ROOT": str(root), "PORT_ON": str(on), "PORT_OFF": str(off)}.items():
        conf = conf.replace(f"@{key}@", value)
    conf = conf.replace("@USER@", user)
    (root / "apache.conf").write_text(conf)
    # Apache's children run as nobody when started as root: they read the root
    # and write ModSecurity's tmp and data directories.
    os.chmod(root, 0o755)  # noqa: S103
    for sub in ("tmp", "data"):
        os.chmod(root / sub, 0o1777)  # noqa: S103
    log = (root / "stdout.log").open("wb")
    proc = subprocess.Popen(
        [APACHE, "-f", str(root / "apache.conf"), "-DFOREGROUND"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    "apache2 exited: " + (root / "stdout.log").read_text(errors="replace")
                )
            try:
                socket.create_connection(("127.0.0.1", off), timeout=1).close()
                socket.create_connection(("127.0.0.1", on), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        FIGURES["versions"] = {
            p: _debian_version(p)
            for p in ("apache2", "libapache2-mod-security2", "modsecurity-crs")
        }
        yield Apache(on, off, proc.pid)
    finally:
        proc.terminate()  # SIGTERM to the parent: it stops its children
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def send(port: int, raw: bytes, method: str) -> int:
    """Sends ``raw`` as is on a fresh http.client connection; the status (0: no answer)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.connect()
        assert conn.sock is not None
        conn.sock.sendall(raw)
        resp = http.client.HTTPResponse(conn.sock, method=method)
        resp.begin()
        resp.read()
        return int(resp.status)
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        conn.close()


def modsecurity(apache: Apache, fixtures: Sequence[Mapping[str, Any]]) -> list[Outcome]:
    """Each fixture to both ports; ``denied`` when only ModSecurity refused it."""
    on, off = apache.on, apache.off

    def one(f: Mapping[str, Any]) -> Outcome:
        raw = wire_bytes(f)
        s_on, s_off = send(on, raw, f["method"]), send(off, raw, f["method"])
        refused = not (0 < s_off < 400)
        return Outcome(
            f, 400 <= s_on and not refused, refused, {"on": s_on, "off": s_off, "refused": refused}
        )

    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(one, fixtures))


def _rates(outcomes: Sequence[Outcome], key: str) -> dict[str, tuple[int, int, int]]:
    rows: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for o in outcomes:
        for k in (str(o.fixture["crs"][key]), "all"):
            rows[k][0] += 1
            rows[k][1] += o.denied
            rows[k][2] += o.error
    return {k: (n, d, e) for k, (n, d, e) in rows.items()}


def side_by_side(ours: Sequence[Outcome], peer: Sequence[Outcome], key: str, title: str) -> str:
    a, b = _rates(ours, key), _rates(peer, key)
    lines = [
        title,
        f"  {'':<22} {'requests':>8} {'ArcGuard':>9} {'ModSecurity':>12} {'refused':>8}",
    ]
    for k in [*sorted(k for k in a if k != "all"), "all"]:
        name = f"{k} {FAMILIES[k]}" if k in FAMILIES else k
        n, d, _ = a[k]
        pn, pd, pe = b.get(k, (0, 0, 0))
        lines.append(
            f"  {name:<22} {n:>8} {100 * d / n:>8.1f}% {100 * pd / max(pn, 1):>11.1f}% {pe:>8}"
        )
    return "\n".join(lines)


@pytest.fixture(scope="module")
def guard() -> Iterator[ArcGuard]:
    g = ArcGuard(rules=[shield(mode="LIVE")], environ=DEV)
    yield g
    g.close()


def test_crs_detection_side_by_side(benchmark: Any, apache: Apache, guard: ArcGuard) -> None:
    fixtures = load_fixtures("attacks")
    ours = run(guard, fixtures)
    peer: list[Outcome] = []
    t = time.perf_counter()
    benchmark.pedantic(lambda: peer.extend(modsecurity(apache, fixtures)), rounds=1, iterations=1)
    seconds = time.perf_counter() - t
    FIGURES["crs"] = {"family": (ours, peer)}
    print(f"\n{len(fixtures)} CRS requests to Apache twice in {seconds:.0f} s")
    print(side_by_side(ours, peer, "family", "CRS v4 PL1 attacks: denied, per family"))
    print(side_by_side(ours, peer, "location", "CRS v4 PL1 attacks: denied, per location"))


def test_benign_false_positives_side_by_side(
    benchmark: Any, apache: Apache, guard: ArcGuard
) -> None:
    fixtures = list(benign_fixtures())
    ours = run(guard, fixtures, net=95)
    peer: list[Outcome] = []
    benchmark.pedantic(lambda: peer.extend(modsecurity(apache, fixtures)), rounds=1, iterations=1)
    FIGURES["benign"] = (ours, peer)
    print("\n" + side_by_side(ours, peer, "family", "benign corpus: false positives, per source"))
    print(side_by_side(ours, peer, "location", "benign corpus: false positives, per encoding"))


def _scope_fixture(scope: Mapping[str, Any], body: bytes = b"") -> dict[str, Any]:
    """An ASGI scope (and body) as a fixture, to send its wire bytes to Apache."""
    return {
        "method": scope["method"],
        "path": scope["path"],
        "query": scope["query_string"].decode("latin-1"),
        "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
        "body": body.decode("utf-8"),
    }


def _latency_requests() -> dict[str, tuple[dict[str, Any], bytes]]:
    """bench_shield.py's browser GET and 4 KB JSON POST: (ASGI scope, body)."""
    body = json_document(4096)
    return {"browser GET": (browser_scope(), b""), "4 KB JSON POST": (post_scope(body), body)}


def keep_alive_samples(
    ports: Sequence[int],
    raw: bytes,
    method: str,
    benchmark: Any | None = None,
    rounds: int = LATENCY_ROUNDS,
) -> dict[int, list[float]]:
    """Seconds per request on one keep-alive connection per port, the ports
    interleaved request by request (so load from other work hits both alike)."""
    conns = {p: http.client.HTTPConnection("127.0.0.1", p, timeout=15) for p in ports}
    samples: dict[int, list[float]] = {p: [] for p in ports}
    for c in conns.values():
        c.connect()

    def pair() -> None:
        for port, conn in conns.items():
            assert conn.sock is not None
            t = time.perf_counter()
            conn.sock.sendall(raw)
            resp = http.client.HTTPResponse(conn.sock, method=method)
            resp.begin()
            resp.read()
            samples[port].append(time.perf_counter() - t)
            assert resp.status == 200, (port, resp.status)

    try:
        for _ in range(100):
            pair()
        for xs in samples.values():
            xs.clear()
        if benchmark is not None:
            benchmark.pedantic(pair, rounds=rounds, iterations=1)
        else:
            for _ in range(rounds):
                pair()
    finally:
        for c in conns.values():
            c.close()
    return samples


def test_added_latency_side_by_side(benchmark: Any, apache: Apache, guard: ArcGuard) -> None:
    on, off = apache.on, apache.off
    rows = {}
    for i, (name, (scope, body)) in enumerate(_latency_requests().items()):
        raw = wire_bytes(_scope_fixture(scope, body))  # keep-alive: no Connection: close
        samples = keep_alive_samples((on, off), raw, scope["method"], benchmark if i == 0 else None)
        # Apache's CPU per request on each port alone: what load on the machine does not change.
        cpu = {}
        for port in (on, off):
            before = apache.cpu_seconds()
            keep_alive_samples((port,), raw, scope["method"], rounds=CPU_ROUNDS)
            cpu[port] = (apache.cpu_seconds() - before) / (CPU_ROUNDS + 100)
        # ArcGuard in-process, as bench_shield.py measures it (what the middleware does).
        assert guard.protect(guard.details(scope, body=body)).conclusion.value == "ALLOW"
        ours = []
        for _ in range(LATENCY_ROUNDS):
            t = time.perf_counter()
            guard.protect(guard.details(scope, body=body))
            ours.append(time.perf_counter() - t)
        p_on, p_off = percentiles(samples[on]), percentiles(samples[off])
        rows[name] = {
            "apache_modsec_on_p50_us": p_on["p50_us"],
            "apache_modsec_off_p50_us": p_off["p50_us"],
            "modsec_added_p50_us": round(p_on["p50_us"] - p_off["p50_us"], 1),
            "apache_cpu_on_us": round(cpu[on] * 1e6),
            "apache_cpu_off_us": round(cpu[off] * 1e6),
            "modsec_added_cpu_us": round((cpu[on] - cpu[off]) * 1e6),
            "arcguard_protect_p50_us": percentiles(ours)["p50_us"],
        }
    FIGURES["latency"] = rows
    print("\nlatency per request, p50 (keep-alive; ModSecurity on vs off on one Apache)")
    print(
        f"  {'':<16} {'Apache+ModSec':>14} {'Apache':>9} {'ModSec adds':>12} "
        f"{'(CPU adds)':>11} {'ArcGuard':>9}"
    )
    for name, r in rows.items():
        print(
            f"  {name:<16} {r['apache_modsec_on_p50_us']:>12.0f}us "
            f"{r['apache_modsec_off_p50_us']:>7.0f}us {r['modsec_added_p50_us']:>10.0f}us "
            f"{r['modsec_added_cpu_us']:>9.0f}us {r['arcguard_protect_p50_us']:>7.1f}us"
        )


def test_one_table(benchmark: Any) -> None:
    """Everything above in one table (the figure for benchmarks/README.md)."""
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    if "crs" not in FIGURES or "benign" not in FIGURES or "latency" not in FIGURES:
        pytest.skip("an earlier test of this module did not run")
    ours, peer = FIGURES["crs"]["family"]
    b_ours, b_peer = FIGURES["benign"]
    fam_a, fam_b = _rates(ours, "family"), _rates(peer, "family")
    ben_a, ben_b = _rates(b_ours, "family"), _rates(b_peer, "family")
    enc_a, enc_b = _rates(b_ours, "location"), _rates(b_peer, "location")
    v = FIGURES["versions"]
    print(
        f"\nArcGuard shield(mode='LIVE') vs Apache {v['apache2']} + ModSecurity "
        f"{v['libapache2-mod-security2']} + CRS {v['modsecurity-crs']} (PL1, threshold 5)"
    )
    print(f"| {'':<34} | ArcGuard | ModSecurity |")
    print("| --- | --- | --- |")

    def row(label: str, a: tuple[int, int, int], b: tuple[int, int, int]) -> str:
        return f"| {label:<34} | {100 * a[1] / a[0]:.1f}% | {100 * b[1] / max(b[0], 1):.1f}% |"

    print(row(f"CRS v4 PL1 attacks ({fam_a['all'][0]})", fam_a["all"], fam_b["all"]))
    for k in sorted(k for k in fam_a if k != "all"):
        print(row(f"  {k} {FAMILIES[k]}", fam_a[k], fam_b[k]))
    print(row(f"benign FP ({ben_a['all'][0]} requests)", ben_a["all"], ben_b["all"]))
    for enc in ENCODINGS:
        print(row(f"  as {enc}", enc_a[enc], enc_b[enc]))
    for k in sorted(k for k in ben_a if k != "all"):
        print(row(f"  {k}", ben_a[k], ben_b[k]))
    for name, r in FIGURES["latency"].items():
        print(
            f"| {name} p50 (ArcGuard protect / ModSecurity added) | "
            f"{r['arcguard_protect_p50_us']:.1f} us | {r['modsec_added_p50_us']:.0f} us |"
        )
        print(f"| {name}, CPU ModSecurity adds | | {r['modsec_added_cpu_us']:.0f} us |")
    refused = fam_b["all"][2]
    print(f"(Apache itself refused {refused} CRS requests on both ports; not counted as blocked)")
    out = os.environ.get("ARCGUARD_MODSEC_JSON")
    if out:
        raw = {
            "versions": v,
            "crs": {k: list(x) for k, x in fam_b.items()},
            "crs_arcguard": {k: list(x) for k, x in fam_a.items()},
            "benign": {k: list(x) for k, x in ben_b.items()},
            "benign_arcguard": {k: list(x) for k, x in ben_a.items()},
            "latency": FIGURES["latency"],
        }
        Path(out).write_text(json.dumps(raw, indent=2))
