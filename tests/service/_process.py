"""The decide service as a real ``python -m decide_service`` subprocess on a
fixed loopback port: started, signalled and stopped by its pid only, its output
in a file (a pipe nobody reads would stall a service that logs a lot)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests._servers import ROOT, wait_for_port

SERVING = health_pb2.HealthCheckResponse.SERVING


class DecideProcess:
    """``python -m decide_service --port <port> --api-key-file <keys> [extra...]``."""

    def __init__(self, port: int, key_file: str, log: Path, extra: Sequence[str] = ()) -> None:
        self.port = port
        self.key_file = key_file
        self.log = log
        self.extra = tuple(extra)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        """Starts the process and waits until its port accepts connections."""
        argv = [
            sys.executable,
            "-m",
            "decide_service",
            "--port",
            str(self.port),
            "--api-key-file",
            self.key_file,
            "--metrics-port",
            "-1",
            "--log-format",
            "json",
            "--grace",
            "3",
            *self.extra,
        ]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_for_port(self.port, self.proc)

    def wait_serving(self, timeout: float = 20.0) -> float:
        """Waits until grpc.health.v1 answers SERVING; returns the monotonic time it did."""
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.target) as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            while time.monotonic() < deadline:
                try:
                    if stub.Check(health_pb2.HealthCheckRequest(), timeout=0.2).status == SERVING:
                        return time.monotonic()
                except grpc.RpcError:
                    pass
                time.sleep(0.005)
        raise TimeoutError(f"{self.target} not SERVING after {timeout}s")

    def rss(self) -> int:
        """The process's resident set size, bytes (Linux /proc)."""
        with open(f"/proc/{self.pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 15.0) -> tuple[int, str]:
        """Waits for the process to exit; its status and its output so far."""
        assert self.proc is not None
        code = self.proc.wait(timeout)
        self.proc = None
        return code, self.output()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def close(self) -> None:
        """Kills the process if it still runs (by pid) and reaps it."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.wait()
