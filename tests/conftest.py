"""Fixtures shared by every test package: one real redis-server per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.engine.redis_server import RedisServer, redis_server_available


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server on a free port for the whole session (stopped by pid)."""
    if not redis_server_available():
        pytest.skip("redis-server is not on PATH")
    server = RedisServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session server's URL, emptied before the test."""
    redis_server.flushall()
    return redis_server.url
