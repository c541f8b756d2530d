"""Fixtures shared by every test package: real redis-servers (one per session,
and one of a test's own to stop and restart)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.engine.redis_server import RedisServer, redis_server_available


def _running_redis() -> Iterator[RedisServer]:
    if not redis_server_available():
        pytest.skip("redis-server is not on PATH")
    server = RedisServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server on a free port for the whole session (stopped by pid)."""
    yield from _running_redis()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, which it may stop and restart."""
    yield from _running_redis()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session server's URL, emptied before the test."""
    redis_server.flushall()
    return redis_server.url


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Under ``ARCGUARD_CI=1`` (set by ``.ci/run``, which installs every server
    and package the tests use) a skipped test is a failure: a skip there means
    something is missing from ``.ci/run``, not that the test may be left out."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if os.environ.get("ARCGUARD_CI") == "1" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under ARCGUARD_CI=1 (nothing may be missing): {report.longrepr}"
