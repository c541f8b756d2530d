"""Fixtures of the decide-service tests: the real server in a background event
loop thread (``create_server`` on port 0), SDK transports pointed at it, and a
real redis-server (tests/conftest.py)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest

from arcguard._transport import GrpcTransport, GrpcTransportSettings
from decide_service import DecideApp, Settings, app_for, create_server, shutdown
from tests._servers import free_port

from ._process import DecideProcess

T = TypeVar("T")

KEY = "ak_test_1"
OTHER_KEY = "ak_test_2"
#: Deadline of test transports: generous, the machine may be loaded.
TEST_TIMEOUT = 3.0


class LoopThread:
    """An asyncio event loop running in a daemon thread; closed cleanly by :meth:`close`."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Runs a coroutine on the loop and waits for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        async def _drain() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(_drain())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()


class RunningService:
    """A decide server started by ``create_server`` in a :class:`LoopThread`."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        self.loop = LoopThread()
        self.settings = settings
        try:
            self.server, self.port = self.loop.run(create_server(settings, **kwargs))
        except BaseException:
            self.loop.close()
            raise
        self.app: DecideApp = app_for(self.server)
        self.stopped = False

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def transport(self, key: str | None = KEY, **options: Any) -> GrpcTransport:
        """A gRPC transport to this server (caller closes)."""
        options.setdefault("timeout", TEST_TIMEOUT)
        return GrpcTransport(GrpcTransportSettings(key=key, **options), self.target)

    def channel(self) -> grpc.Channel:
        """A plain sync channel to this server (caller closes)."""
        return grpc.insecure_channel(self.target)

    def stop(self, grace: float | None = 1.0) -> None:
        """Graceful shutdown, then the loop is closed."""
        if self.stopped:
            return
        self.stopped = True
        try:
            self.loop.run(shutdown(self.server, grace))
        finally:
            self.loop.close()


def service_settings(**overrides: Any) -> Settings:
    """Test settings: port 0, metrics on port 0, two keys, quick health checks."""
    base: dict[str, Any] = {
        "port": 0,
        "metrics_port": 0,
        "api_keys": (KEY, OTHER_KEY),
        "health_interval": 0.2,
        "grace": 1.0,
    }
    base.update(overrides)
    return Settings(**base)


@pytest.fixture(scope="module")
def service() -> Iterator[RunningService]:
    """A memory-store service for the whole module (tests use distinct client IPs)."""
    svc = RunningService(service_settings())
    try:
        yield svc
    finally:
        svc.stop()


@pytest.fixture
def transport(service: RunningService) -> Iterator[GrpcTransport]:
    """An authenticated transport to the module's service."""
    t = service.transport()
    try:
        yield t
    finally:
        t.close()


@pytest.fixture
def key_file(tmp_path: Path) -> str:
    """A key file accepting :data:`KEY`."""
    p = tmp_path / "keys"
    p.write_text(f"{KEY}\n")
    return str(p)


@pytest.fixture
def decide_process(tmp_path: Path, key_file: str) -> Iterator[DecideProcess]:
    """A running ``python -m decide_service`` subprocess of this test's own."""
    proc = DecideProcess(free_port(), key_file, tmp_path / "service.log")
    proc.start()
    try:
        yield proc
    finally:
        proc.close()
