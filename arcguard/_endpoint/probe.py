"""Latency probes: grpc.health.v1 ``Check`` round trips to each candidate, and ranking.

The one module of endpoint selection that touches grpc. Candidates are probed
concurrently, one thread each (bounded by *max_workers*); each thread opens its
own channel, waits for it to connect (not counted: the transport keeps its
channel open, so steady-state round trips are what matter), then times
*samples* ``Check`` calls one after the other, each with *timeout*. The channel
is always closed. Probes carry no API key, and gRPC's HTTP proxy support is
turned off so that a probe measures the path to the endpoint itself.

A candidate is healthy when every sample answered ``SERVING``. Any failure (an
RPC error, a timeout, ``NOT_SERVING`` from a server that is draining) makes it
unhealthy; the error names the first failure.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from .address import Candidate
from .settings import DEFAULT_PROBE_SAMPLES, DEFAULT_PROBE_TIMEOUT

__all__ = [
    "DEFAULT_MAX_WORKERS",
    "ProbeResult",
    "health_check",
    "probe",
    "probe_one",
    "rank",
]

#: Most candidates probed at the same time.
DEFAULT_MAX_WORKERS = 16

_CHANNEL_OPTIONS = (
    ("grpc.enable_http_proxy", 0),
    ("grpc.enable_retries", 0),
    # A fresh channel per probe: do not share a subchannel with the transport,
    # whose connection state would otherwise colour the measurement.
    ("grpc.use_local_subchannel_pool", 1),
)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The outcome of probing one candidate.

    Attributes:
        candidate: the candidate probed.
        samples_ms: the round trips that succeeded, in milliseconds, in order.
        median_ms: their median, or None when none succeeded.
        error: None when healthy, else why not (the first failure).
    """

    candidate: Candidate
    samples_ms: tuple[float, ...]
    median_ms: float | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when every sample answered SERVING."""
        return self.error is None and self.median_ms is not None


def _describe(exc: grpc.RpcError) -> str:
    code = exc.code() if isinstance(exc, grpc.Call) else None
    details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
    name = code.name if code is not None else "UNKNOWN"
    return f"{name}: {details}" if details else name


def health_check(
    channel: grpc.Channel,
    *,
    samples: int = 1,
    timeout: float = DEFAULT_PROBE_TIMEOUT,
    service: str = "",
) -> tuple[tuple[float, ...], str | None]:
    """Times ``samples`` grpc.health.v1 ``Check`` calls on a channel; never raises
    for network trouble, and leaves the channel open.

    The channel is given ``timeout`` to connect first (not counted). Returns
    the round trips that answered ``SERVING``, in milliseconds, and the first
    failure (None when every sample answered SERVING). The endpoint
    selector's probes and the transport's recovery probe both use it.
    """
    ready = grpc.channel_ready_future(channel)
    try:
        ready.result(timeout=timeout)
    except grpc.FutureTimeoutError:
        ready.cancel()
        return (), f"not connected within {timeout * 1000:.0f} ms"
    stub = health_pb2_grpc.HealthStub(channel)
    request = health_pb2.HealthCheckRequest(service=service)
    taken: list[float] = []
    error: str | None = None
    for _ in range(samples):
        started = time.perf_counter()
        try:
            response = stub.Check(request, timeout=timeout)
        except grpc.RpcError as exc:
            error = error or _describe(exc)
            continue
        elapsed = (time.perf_counter() - started) * 1000.0
        if response.status != health_pb2.HealthCheckResponse.SERVING:
            status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
            error = error or f"health status {status}"
            continue
        taken.append(elapsed)
    return tuple(taken), error


def probe_one(
    candidate: Candidate,
    *,
    samples: int = DEFAULT_PROBE_SAMPLES,
    timeout: float = DEFAULT_PROBE_TIMEOUT,
    credentials: grpc.ChannelCredentials | None = None,
    service: str = "",
) -> ProbeResult:
    """Probe one candidate on a channel of its own; never raises for network trouble.

    Parameters:
        candidate: the endpoint to probe.
        samples: timed health checks to make.
        timeout: seconds for connecting, and for each check.
        credentials: TLS credentials; None probes in plaintext.
        service: the health service name to ask about ("" is the whole server).

    Returns:
        A :class:`ProbeResult`.
    """
    if credentials is None:
        channel = grpc.insecure_channel(candidate.target, options=_CHANNEL_OPTIONS)
    else:
        channel = grpc.secure_channel(candidate.target, credentials, options=_CHANNEL_OPTIONS)
    try:
        taken, error = health_check(channel, samples=samples, timeout=timeout, service=service)
    finally:
        channel.close()
    median = statistics.median(taken) if taken else None
    return ProbeResult(candidate, taken, median, error)


def probe(
    candidates: Sequence[Candidate],
    *,
    samples: int = DEFAULT_PROBE_SAMPLES,
    timeout: float = DEFAULT_PROBE_TIMEOUT,
    credentials: grpc.ChannelCredentials | None = None,
    service: str = "",
    max_workers: int = DEFAULT_MAX_WORKERS,
) -> list[ProbeResult]:
    """Probe every candidate concurrently.

    The whole call takes at most about ``(samples + 1) * timeout`` when there
    are no more candidates than *max_workers*.

    Parameters:
        candidates: the endpoints to probe.
        samples: timed health checks per candidate (at least 1).
        timeout: seconds for connecting, and for each check.
        credentials: TLS credentials; None probes in plaintext.
        service: the health service name to ask about.
        max_workers: most candidates probed at once.

    Returns:
        One :class:`ProbeResult` per candidate, in the order given (use
        :func:`rank` to order them).

    Raises:
        ValueError: *samples* or *max_workers* is below 1, or *timeout* is not positive.

    Example::

        results = probe([Candidate("127.0.0.1", 50051)], samples=3, timeout=0.25)
    """
    if samples < 1 or max_workers < 1:
        raise ValueError("samples and max_workers must be at least 1")
    if not timeout > 0:
        raise ValueError("timeout must be positive")
    if not candidates:
        return []
    workers = min(max_workers, len(candidates))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="arcguard-probe") as pool:
        futures = [
            pool.submit(
                probe_one,
                candidate,
                samples=samples,
                timeout=timeout,
                credentials=credentials,
                service=service,
            )
            for candidate in candidates
        ]
        return [future.result() for future in futures]


def rank(results: Sequence[ProbeResult]) -> list[ProbeResult]:
    """Order probe results best first.

    Healthy results come first, by median round trip; equal medians keep the
    order given (the SRV order, when the candidates came from DNS). Unhealthy
    results follow, in the order given.

    Example::

        >>> a, b = Candidate("a", 1), Candidate("b", 1)
        >>> results = [ProbeResult(a, (9.0,), 9.0), ProbeResult(b, (2.0,), 2.0)]
        >>> [r.candidate.host for r in rank(results)]
        ['b', 'a']
    """
    indexed = list(enumerate(results))
    healthy = sorted(
        (pair for pair in indexed if pair[1].ok),
        key=lambda pair: (pair[1].median_ms, pair[0]),
    )
    failed = [pair for pair in indexed if not pair[1].ok]
    return [result for _, result in healthy + failed]
