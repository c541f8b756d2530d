"""``arcguard dev`` through the real console entry point, in a subprocess.

Every flag of ``arcguard serve`` is either honoured by ``dev`` or refused
with a message naming the flag and the ``serve`` command that does it; none
is accepted and ignored.
"""

from __future__ import annotations

import argparse
import subprocess
import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from arcguard._cli import build_parser
from tests._servers import PYTHON, free_port, run_server, spawn, stop

pytestmark = pytest.mark.integration

#: What each refused flag is given; the value does not matter, the flag does.
REFUSED: list[list[str]] = [
    ["--redis-url", "redis://127.0.0.1:6379/0"],
    ["--redis-timeout-ms", "20"],
    ["--host", "0.0.0.0"],
    ["--host", "::1"],
    ["--workers", "2"],
    ["--tls-cert", "cert.pem"],
    ["--tls-key", "key.pem"],
    ["--api-key-file", "keys.txt"],
    ["--allow-insecure"],
    ["--metrics-host", "0.0.0.0"],
    ["--max-message-size", "1000"],
    ["--log-format", "json"],
    ["--grace", "1"],
    ["--event-loop", "asyncio"],
]


def dev(*argv: str) -> subprocess.Popen[bytes]:
    return spawn([PYTHON, "-m", "arcguard", "dev", *argv])


@pytest.mark.parametrize("flag", REFUSED, ids=lambda f: f[0] + (f"={f[1]}" if f[1:] else ""))
def test_a_serve_flag_dev_cannot_honour_is_refused_naming_it(flag: list[str]) -> None:
    proc = dev("--port", str(free_port()), "--metrics-port", "-1", *flag)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        stop(proc)
        pytest.fail(f"arcguard dev {' '.join(flag)} started instead of refusing the flag")
    text = out.decode(errors="replace")
    assert proc.returncode == 2, text
    assert flag[0] in text and "arcguard serve" in text, text


def test_every_serve_flag_is_honoured_or_refused_by_dev() -> None:
    def flags(command: str) -> set[str]:
        parser = build_parser()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        return {s for a in sub.choices[command]._actions for s in a.option_strings}

    serve = flags("serve") - {"-h", "--help"}
    missing = serve - flags("dev")
    assert not missing, f"serve flags dev neither honours nor refuses: {sorted(missing)}"
    assert {f[0] for f in REFUSED} <= serve


def test_dev_honours_its_flags_and_the_ones_it_implies() -> None:
    port, metrics = free_port(), free_port()
    argv = ["--host", "127.0.0.1", "--port", str(port), "--metrics-port", str(metrics)]
    with run_server(
        [PYTHON, "-m", "arcguard", "dev", *argv, "--log-level", "DEBUG", "--no-auth"], port
    ) as proc:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=10
            )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=10) as r:
            assert r.status == 200
        assert proc.poll() is None
