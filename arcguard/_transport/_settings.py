"""How the SDK talks to the decide service: :class:`GrpcTransportSettings`
(every option with its default, read from ``ARCGUARD_*`` in one place) and
the gRPC channel arguments built from it.

Keepalive (grpc/doc/keepalive.md, gRFC A8 client-side keepalive)
    ``grpc.keepalive_time_ms`` 30 s: ping an idle connection so that a dead
    peer or a NAT/LB idle timeout is noticed before a request needs it;
    ``grpc.keepalive_timeout_ms`` 10 s: drop the connection when a ping is not
    answered; ``grpc.keepalive_permit_without_calls`` 1 and
    ``grpc.http2.max_pings_without_data`` 0: keep pinging between requests
    (the decide service sets ``grpc.http2.min_recv_ping_interval_without_data_ms``
    below 30 s and permits pings without calls, so it does not answer these
    pings with GOAWAY "too_many_pings").

Reconnect backoff
    100 ms to 1 s (gRPC's default starts at 1 s and grows to 120 s), and each
    channel has its own subchannel pool, so that a fresh channel really
    connects afresh (see :mod:`._grpc`, "Circuit breaker and recovery").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._exceptions import ConfigurationError
from ._breaker import BreakerSettings
from ._recovery import DEFAULT_RECOVERY_INTERVAL
from ._reporter import ReporterSettings

__all__ = [
    "DEFAULT_KEEPALIVE_TIME",
    "DEFAULT_KEEPALIVE_TIMEOUT",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_REPORT_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "GrpcTransportSettings",
    "channel_options",
]

#: Seconds a Decide call may take.
DEFAULT_TIMEOUT = 0.020
#: Seconds a Report call may take (off the request path).
DEFAULT_REPORT_TIMEOUT = 2.0
#: Seconds between keepalive pings on an idle connection.
DEFAULT_KEEPALIVE_TIME = 30.0
#: Seconds a keepalive ping may go unanswered before the connection is dropped.
DEFAULT_KEEPALIVE_TIMEOUT = 10.0
#: Largest message sent or received, bytes.
DEFAULT_MAX_MESSAGE_SIZE = 4 * 1024 * 1024


def _env_float(environ: Mapping[str, str], name: str, default: float, scale: float = 1.0) -> float:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw) * scale
    except ValueError:
        raise ConfigurationError(f"{name}: expected a number, got {raw!r}") from None


@dataclass(frozen=True, slots=True)
class GrpcTransportSettings:
    """How the SDK talks to the decide service.

    Attributes:
        key: the API key, sent as ``authorization: Bearer <key>``; None sends none.
        timeout: seconds a Decide call may take (the deadline).
        report_timeout: seconds a Report call may take.
        tls: True for TLS, False for plaintext, None for "plaintext only to
            loopback targets, TLS otherwise".
        root_certificates: PEM roots to verify the service (None: the system's).
        server_name: TLS name to verify instead of the target's host (tests).
        keepalive_time / keepalive_timeout: see the module docstring.
        max_message_size: largest message sent or received, bytes.
        typed_reasons: ask the service to fill typed reasons too.
        breaker: the circuit-breaker options.
        recovery_interval: mean seconds between health checks of a target
            whose circuit is open (see the module docstring).
        reporter: the background reporter's options.

    Raises:
        ConfigurationError: on an out-of-range value.
    """

    key: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    report_timeout: float = DEFAULT_REPORT_TIMEOUT
    tls: bool | None = None
    root_certificates: bytes | None = None
    server_name: str | None = None
    keepalive_time: float = DEFAULT_KEEPALIVE_TIME
    keepalive_timeout: float = DEFAULT_KEEPALIVE_TIMEOUT
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    typed_reasons: bool = False
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    recovery_interval: float = DEFAULT_RECOVERY_INTERVAL
    reporter: ReporterSettings = field(default_factory=ReporterSettings)

    def __post_init__(self) -> None:
        if not 0 < self.timeout <= 60 or not 0 < self.report_timeout <= 60:
            raise ConfigurationError("timeout and report_timeout must be in (0, 60] seconds")
        if not 0 < self.recovery_interval <= 60:
            raise ConfigurationError("recovery_interval must be in (0, 60] seconds")
        if self.keepalive_time < 1 or self.keepalive_timeout <= 0:
            raise ConfigurationError("keepalive_time must be >= 1 s, keepalive_timeout > 0")
        if self.max_message_size < 1024:
            raise ConfigurationError("max_message_size must be at least 1024 bytes")
        if self.key is not None and (not self.key or any(c in self.key for c in "\r\n")):
            raise ConfigurationError("the API key must be a non-empty single line")

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], *, key: str | None = None, timeout: float | None = None
    ) -> GrpcTransportSettings:
        """Settings from ``ARCGUARD_*`` variables; explicit arguments win.

        ``ARCGUARD_KEY``, ``ARCGUARD_TIMEOUT_MS``, ``ARCGUARD_TLS`` (``1``/``0``),
        ``ARCGUARD_CA_FILE`` (PEM roots), ``ARCGUARD_TLS_SERVER_NAME``.

        Raises:
            ConfigurationError: on a malformed value or an unreadable CA file.
        """
        tls_raw = environ.get("ARCGUARD_TLS", "").strip().lower()
        tls: bool | None
        if tls_raw in ("", "auto"):
            tls = None
        elif tls_raw in ("1", "true", "yes", "on"):
            tls = True
        elif tls_raw in ("0", "false", "no", "off"):
            tls = False
        else:
            raise ConfigurationError(f"ARCGUARD_TLS: expected 1, 0 or auto, got {tls_raw!r}")
        roots = None
        ca = environ.get("ARCGUARD_CA_FILE")
        if ca:
            try:
                with open(ca, "rb") as f:
                    roots = f.read()
            except OSError as exc:
                raise ConfigurationError(f"ARCGUARD_CA_FILE: cannot read {ca}: {exc}") from exc
        return cls(
            key=key if key is not None else (environ.get("ARCGUARD_KEY") or None),
            timeout=timeout
            if timeout is not None
            else _env_float(environ, "ARCGUARD_TIMEOUT_MS", DEFAULT_TIMEOUT, 0.001),
            tls=tls,
            root_certificates=roots,
            server_name=environ.get("ARCGUARD_TLS_SERVER_NAME") or None,
        )


def channel_options(settings: GrpcTransportSettings) -> list[tuple[str, Any]]:
    """The channel arguments the transport uses (see the module docstring)."""
    opts: list[tuple[str, Any]] = [
        ("grpc.keepalive_time_ms", int(settings.keepalive_time * 1000)),
        ("grpc.keepalive_timeout_ms", int(settings.keepalive_timeout * 1000)),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.max_send_message_length", settings.max_message_size),
        ("grpc.max_receive_message_length", settings.max_message_size),
        # Reconnect quickly after the service restarts (default starts at 1 s
        # and grows to 120 s, far beyond the breaker's own backoff).
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1000),
        # A channel's connection (and its backoff) is its own: see the module docstring.
        ("grpc.use_local_subchannel_pool", 1),
    ]
    if settings.server_name:
        opts.append(("grpc.ssl_target_name_override", settings.server_name))
    return opts
