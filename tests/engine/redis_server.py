"""Starts a real redis-server on 127.0.0.1 for tests (importable by other test packages).

Example::

    from tests.engine.redis_server import RedisServer, redis_server_available

    server = RedisServer.start()          # a free port, no persistence
    url = server.url                      # redis://127.0.0.1:<port>/0
    server.stop()                         # by pid
    server.restart()                      # again on the same port
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

__all__ = ["REDIS_SERVER", "RedisServer", "free_port", "redis_server_available"]

REDIS_SERVER = "redis-server"
START_TIMEOUT = 10.0


def redis_server_available() -> bool:
    """Whether ``redis-server`` is on PATH."""
    return shutil.which(REDIS_SERVER) is not None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One redis-server process we started, stopped only by its pid."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    @classmethod
    def start(cls, port: int | None = None) -> RedisServer:
        """Starts a server on ``port`` (default: a free one) and waits for PING.

        Raises:
            RuntimeError: redis-server did not answer within START_TIMEOUT.
        """
        server = cls(port or free_port())
        server._spawn()
        return server

    def _spawn(self) -> None:
        self.proc = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}")
            if _ping(self.port):
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not answer PING on port {self.port}")

    def stop(self) -> None:
        """Stops the server (SIGTERM, then SIGKILL after 5 s) by its pid."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def restart(self) -> None:
        """Starts a fresh (empty) server on the same port."""
        self.stop()
        self._spawn()

    def flushall(self) -> None:
        """Empties every database."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(b"FLUSHALL\r\n")
            s.recv(64)
