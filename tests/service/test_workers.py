"""``--workers N``: several service processes on one port, refused with the memory store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from arcguard import fixed_window
from arcguard._exceptions import ConfigurationError
from arcguard._request import RequestDetails
from arcguard._transport import GrpcTransport, GrpcTransportSettings
from decide_service import Settings, server_options
from tests._servers import ROOT, free_port, spawn, wait_for_port
from tests.engine.redis_server import RedisServer

from .conftest import KEY, TEST_TIMEOUT


def test_workers_with_the_memory_store_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="needs --redis-url"):
        Settings(api_keys=("k",), workers=2)


def test_workers_need_a_fixed_port_and_a_sane_count() -> None:
    with pytest.raises(ConfigurationError, match="fixed --port"):
        Settings(api_keys=("k",), workers=2, port=0, redis_url="redis://127.0.0.1:6379/0")
    with pytest.raises(ConfigurationError, match="workers must be"):
        Settings(api_keys=("k",), workers=0)


def test_port_sharing_is_on_only_with_workers() -> None:
    one = dict(server_options(Settings(api_keys=("k",))))
    two = dict(
        server_options(Settings(api_keys=("k",), workers=2, redis_url="redis://127.0.0.1:1/0"))
    )
    assert (one["grpc.so_reuseport"], two["grpc.so_reuseport"]) == (0, 1)


def test_memory_store_workers_flag_exits_2_with_the_reason(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text(KEY + "\n")
    out = subprocess.run(
        [sys.executable, "-m", "decide_service", "--api-key-file", str(keys), "--workers", "2"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "needs --redis-url" in out.stderr


def test_two_workers_share_one_port_and_the_redis_counters(
    tmp_path: Path, redis_server: RedisServer, redis_url: str
) -> None:
    keys = tmp_path / "keys"
    keys.write_text(KEY + "\n")
    port = free_port()
    proc = spawn(
        [
            sys.executable,
            "-m",
            "decide_service",
            "--port",
            str(port),
            "--api-key-file",
            str(keys),
            "--metrics-port",
            "-1",
            "--redis-url",
            redis_url,
            "--workers",
            "2",
        ],
    )
    transports: list[GrpcTransport] = []
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            lines.append(raw.decode(errors="replace"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_for_port(port, proc)
        # Both workers serving before anything else (on a loaded machine the
        # second may still be importing when the first accepts connections).
        deadline = time.monotonic() + 60
        while sum("listening on" in line for line in lines) < 2:
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.05)
        rules = (fixed_window(window="1h", max=3),)
        # Whichever worker the kernel hands a connection to, the count is Redis's.
        codes = []
        for _ in range(6):
            t = GrpcTransport(
                GrpcTransportSettings(key=KEY, timeout=TEST_TIMEOUT), f"127.0.0.1:{port}"
            )
            transports.append(t)
            codes.append(t.decide(RequestDetails(ip="198.51.100.7"), rules).results[0].code)
        assert codes == [0, 0, 0, 1, 1, 1]
    finally:
        for t in transports:
            t.close()
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        reader.join(10)
        out = "".join(lines)
        if proc.stdout:
            proc.stdout.close()
    assert code == 0, out
    assert out.count("stopped") == 2, out
