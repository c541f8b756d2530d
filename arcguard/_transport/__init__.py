"""How the guard reaches a decide engine (private).

* :class:`Transport` - the interface the guard uses.
* :class:`InProcessTransport` - local dev mode: the engine in this process.
* :class:`GrpcTransport` - the decide service over gRPC, with deadlines, a
  circuit breaker, an endpoint selector and a background reporter.

:func:`local_transport` and :func:`remote_transport` build them the way the
guard needs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ._base import RawResult, Transport
from ._breaker import BreakerSettings, CircuitBreaker
from ._grpc import (
    DEFAULT_TIMEOUT,
    GrpcTransport,
    GrpcTransportSettings,
    TargetSource,
    channel_options,
    is_loopback_target,
)
from ._inprocess import InProcessTransport
from ._reporter import Reporter, ReporterSettings, ReporterStats

if TYPE_CHECKING:
    from .._core import Core
    from .._signup.dns import DnsChecker

__all__ = [
    "DEFAULT_TIMEOUT",
    "BreakerSettings",
    "CircuitBreaker",
    "GrpcTransport",
    "GrpcTransportSettings",
    "InProcessTransport",
    "RawResult",
    "Reporter",
    "ReporterSettings",
    "ReporterStats",
    "TargetSource",
    "Transport",
    "channel_options",
    "is_loopback_target",
    "local_transport",
    "remote_transport",
]


def local_transport(
    *, core: Core | None = None, dns: DnsChecker | None = None
) -> InProcessTransport:
    """The local dev mode transport: the decide engine in-process with a memory store."""
    return InProcessTransport(core=core, dns=dns)


def remote_transport(
    *,
    key: str,
    endpoint: str | None,
    environ: Mapping[str, str],
    timeout: float = DEFAULT_TIMEOUT,
) -> GrpcTransport:
    """The gRPC transport for a guard with an API key.

    The endpoint is ``endpoint`` if given, else chosen by an
    :class:`~arcguard._endpoint.EndpointSelector` from ``environ`` (platform,
    candidates, discovery, probes), which the transport reports to and closes.

    Raises:
        ConfigurationError: a malformed endpoint, setting or CA file.
    """
    from .._endpoint import EndpointSelector, EndpointSettings

    settings = GrpcTransportSettings.from_env(environ, key=key, timeout=timeout)
    ep = EndpointSettings.from_environ(environ)
    if endpoint is not None:
        ep = dataclasses.replace(ep, endpoint=endpoint)
    selector = EndpointSelector(ep, environ=environ)
    selector.start()
    return GrpcTransport(settings, selector, owns_selector=True)
