"""The decide service's settings: one frozen object, every option with its default.

Read from, in increasing precedence: the defaults below, the environment
(a ``Mapping[str, str]`` passed in, read from ``os.environ`` only by the
runner), and command-line flags. Every value is checked when the object is
built, so a misconfigured service refuses to start with a clear message.

=============================  ==========================  ===========================
flag                           environment                 meaning
=============================  ==========================  ===========================
``--host``                     ``ARCGUARD_HOST``           listen address (127.0.0.1)
``--port``                     ``ARCGUARD_PORT``           gRPC port (7443; 0 = any)
``--metrics-host``             ``ARCGUARD_METRICS_HOST``   metrics listen address
``--metrics-port``             ``ARCGUARD_METRICS_PORT``   Prometheus port (9464; -1 off)
``--redis-url``                ``ARCGUARD_REDIS_URL``      shared store (default memory)
``--api-key-file``             ``ARCGUARD_API_KEY_FILE``   file of API keys, one a line
(none: secrets stay off argv)  ``ARCGUARD_API_KEYS``       comma-separated API keys
``--no-auth``                  ``ARCGUARD_NO_AUTH``        no key required (loopback only)
``--tls-cert``/``--tls-key``   ``ARCGUARD_TLS_CERT``/...   PEM server certificate and key
``--allow-insecure``           ``ARCGUARD_ALLOW_INSECURE`` plaintext on a non-loopback host
``--max-message-size``         ``ARCGUARD_MAX_MESSAGE_SIZE`` largest request, bytes
``--log-format``               ``ARCGUARD_LOG_FORMAT``     ``text`` or ``json``
``--log-level``                ``ARCGUARD_LOG_LEVEL``      ``INFO``, ``DEBUG``...
``--grace``                    ``ARCGUARD_GRACE``          seconds to drain on shutdown
``--workers``                  ``ARCGUARD_WORKERS``        server processes on one port
``--event-loop``               ``ARCGUARD_EVENT_LOOP``     ``auto``, ``uvloop``, ``asyncio``
``--dns-server`` (repeatable)  ``ARCGUARD_DNS_SERVERS``    resolvers of the DNS checks (system)
``--dns-timeout``              ``ARCGUARD_DNS_TIMEOUT``    seconds one DNS check may take (1)
=============================  ==========================  ===========================
"""

from __future__ import annotations

import argparse
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from arcguard._endpoint.address import is_loopback_host
from arcguard._exceptions import ConfigurationError
from arcguard._rules import (
    DEFAULT_SHIELD_BLOCK_FOR,
    DEFAULT_SHIELD_THRESHOLD,
    DEFAULT_SHIELD_WINDOW,
)
from arcguard._signup.dns import DEFAULT_DNS_TIMEOUT, DnsSettings

__all__ = [
    "DEFAULT_EVENT_LOOP",
    "DEFAULT_GRACE",
    "DEFAULT_HEALTH_INTERVAL",
    "DEFAULT_HOST",
    "DEFAULT_MAX_BODY",
    "DEFAULT_MAX_EXTRAS",
    "DEFAULT_MAX_HEADERS",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_MAX_REPORT_BATCH",
    "DEFAULT_MAX_RULES",
    "DEFAULT_METRICS_PORT",
    "DEFAULT_PORT",
    "DEFAULT_RULE_CACHE_BYTES",
    "DEFAULT_RULE_CACHE_SIZE",
    "EVENT_LOOPS",
    "MAX_WORKERS",
    "Settings",
    "add_dev_arguments",
    "add_serve_arguments",
    "is_loopback_host",
    "settings_from_args",
    "uvloop_available",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7443
DEFAULT_METRICS_PORT = 9464
#: Seconds one Redis command may take.
DEFAULT_REDIS_TIMEOUT = 0.05
#: Largest gRPC message accepted or sent, bytes.
DEFAULT_MAX_MESSAGE_SIZE = 4 * 1024 * 1024
#: Most headers in one request (the SDK keeps at most 128).
DEFAULT_MAX_HEADERS = 128
#: Largest body slice, bytes (the shield inspects 64 KiB by default).
DEFAULT_MAX_BODY = 1024 * 1024
#: Most rules in one rule set.
DEFAULT_MAX_RULES = 64
#: Most extras (protect() keyword arguments) in one request.
DEFAULT_MAX_EXTRAS = 64
#: Most decisions in one Report call.
DEFAULT_MAX_REPORT_BATCH = 1000
#: Parsed rule sets kept (keyed by their serialized bytes).
DEFAULT_RULE_CACHE_SIZE = 1024
#: Bytes of rule sets the parsed-rule cache may hold (a typical set is < 1 KB).
DEFAULT_RULE_CACHE_BYTES = 16 * 1024 * 1024
#: Seconds between store health checks.
DEFAULT_HEALTH_INTERVAL = 1.0
#: Seconds in-flight calls may take to finish on shutdown.
DEFAULT_GRACE = 5.0
#: Most server processes ``--workers`` may start.
MAX_WORKERS = 64
#: The event loops the runner can use: ``auto`` is uvloop when it is
#: installed (``pip install arcguard[service]``), asyncio's own otherwise.
EVENT_LOOPS = ("auto", "uvloop", "asyncio")
DEFAULT_EVENT_LOOP = "auto"

_LOG_FORMATS = ("text", "json")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the decide service can be told.

    Attributes:
        host / port: where gRPC listens (port 0: any free port, reported back).
        metrics_host / metrics_port: the Prometheus HTTP endpoint (None: off;
            0: any free port).
        redis_url: the shared store; None keeps state in this process's memory.
        redis_timeout: seconds one Redis command may take (a slower one makes
            that rule's result ERROR); keep it under the SDK's Decide deadline.
        api_keys: keys accepted in ``authorization: Bearer <key>``.
        no_auth: accept calls without a key (refused unless ``host`` is loopback).
        tls_cert / tls_key: PEM files; both or neither.
        allow_insecure: plaintext on a non-loopback host (e.g. behind a mesh).
        max_message_size / max_headers / max_body / max_rules / max_extras /
            max_report_batch: request limits (larger requests get INVALID_ARGUMENT).
        rule_cache_size / rule_cache_bytes: parsed rule sets kept, and the
            bytes they may weigh together (a larger set is parsed every time).
        shield_threshold / shield_window / shield_block_for: escalation options
            used when a request leaves them unset (zero).
        log_format / log_level: logging (``text`` or ``json`` lines).
        grace: seconds in-flight calls may take on shutdown.
        health_interval: seconds between store health checks.
        dev: local dev mode (no key, memory store, text logs).
        workers: server processes sharing the port (``SO_REUSEPORT``; the
            kernel spreads connections over them). More than one needs the
            Redis store (with the memory store each process would count on
            its own) and a fixed port; worker ``i`` serves metrics on
            ``metrics_port + i``.
        event_loop: the runner's event loop: ``uvloop`` (needs the package),
            ``asyncio``, or ``auto`` (uvloop if installed). gRPC's per-call
            work runs on the loop's thread, and uvloop's is the cheaper loop.
        dns_servers / dns_timeout: the resolvers (``host[:port]``; empty: the
            system's) and the bound of one DNS check (validate_email's MX
            check, bot reverse DNS); a check that runs out of time is UNKNOWN.

    Raises:
        ConfigurationError: an option is out of range, or the combination is
            unsafe (no keys without ``no_auth``, ``no_auth`` or plaintext on a
            non-loopback host without ``allow_insecure``).

    Example::

        settings = Settings(port=0, api_keys=("ak_test",), metrics_port=0)
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    metrics_host: str = DEFAULT_HOST
    metrics_port: int | None = DEFAULT_METRICS_PORT
    redis_url: str | None = None
    redis_timeout: float = DEFAULT_REDIS_TIMEOUT
    api_keys: tuple[str, ...] = ()
    no_auth: bool = False
    tls_cert: str | None = None
    tls_key: str | None = None
    allow_insecure: bool = False
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    max_headers: int = DEFAULT_MAX_HEADERS
    max_body: int = DEFAULT_MAX_BODY
    max_rules: int = DEFAULT_MAX_RULES
    max_extras: int = DEFAULT_MAX_EXTRAS
    max_report_batch: int = DEFAULT_MAX_REPORT_BATCH
    rule_cache_size: int = DEFAULT_RULE_CACHE_SIZE
    rule_cache_bytes: int = DEFAULT_RULE_CACHE_BYTES
    shield_threshold: int = DEFAULT_SHIELD_THRESHOLD
    shield_window: float = DEFAULT_SHIELD_WINDOW
    shield_block_for: float = DEFAULT_SHIELD_BLOCK_FOR
    log_format: str = "text"
    log_level: str = "INFO"
    grace: float = DEFAULT_GRACE
    health_interval: float = DEFAULT_HEALTH_INTERVAL
    dev: bool = False
    workers: int = 1
    event_loop: str = DEFAULT_EVENT_LOOP
    dns_servers: tuple[str, ...] = ()
    dns_timeout: float = DEFAULT_DNS_TIMEOUT

    def __post_init__(self) -> None:
        self.dns_settings()  # checks the DNS options
        if not 0 < self.redis_timeout <= 60:
            raise ConfigurationError(
                f"redis timeout must be in (0, 60] seconds, got {self.redis_timeout}"
            )
        if not 0 <= self.port <= 65535:
            raise ConfigurationError(f"port must be in 0..65535, got {self.port}")
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise ConfigurationError(f"metrics port must be in 0..65535, got {self.metrics_port}")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigurationError("give both --tls-cert and --tls-key, or neither")
        loopback = is_loopback_host(self.host)
        if self.tls_cert is None and not loopback and not self.allow_insecure:
            raise ConfigurationError(
                f"refusing plaintext gRPC on non-loopback host {self.host!r}: give "
                "--tls-cert/--tls-key, or --allow-insecure if a proxy or mesh encrypts"
            )
        if self.no_auth and not loopback and not self.allow_insecure:
            raise ConfigurationError(
                f"--no-auth is only allowed on a loopback host, not {self.host!r}"
            )
        if not self.api_keys and not self.no_auth:
            raise ConfigurationError(
                "no API keys: give --api-key-file or ARCGUARD_API_KEYS (or --no-auth / "
                "`arcguard dev` on loopback)"
            )
        for k in self.api_keys:
            if not k or k != k.strip() or any(ord(c) < 0x21 or ord(c) > 0x7E for c in k):
                raise ConfigurationError("API keys must be non-empty printable ASCII, no spaces")
        if self.log_format not in _LOG_FORMATS:
            raise ConfigurationError(f"log format must be text or json, got {self.log_format!r}")
        if self.log_level.upper() not in _LOG_LEVELS:
            raise ConfigurationError(f"log level must be one of {', '.join(_LOG_LEVELS)}")
        for name in (
            "max_message_size",
            "max_headers",
            "max_rules",
            "max_extras",
            "max_report_batch",
            "rule_cache_size",
            "rule_cache_bytes",
            "shield_threshold",
        ):
            if getattr(self, name) < 1:
                raise ConfigurationError(f"{name} must be >= 1")
        if self.max_body < 0:
            raise ConfigurationError("max_body must be >= 0")
        if self.grace < 0 or self.health_interval <= 0:
            raise ConfigurationError("grace must be >= 0 and health_interval > 0")
        if self.shield_window <= 0 or self.shield_block_for <= 0:
            raise ConfigurationError("shield window and block_for must be > 0")
        if self.event_loop not in EVENT_LOOPS:
            raise ConfigurationError(
                f"event loop must be one of {', '.join(EVENT_LOOPS)}, got {self.event_loop!r}"
            )
        if self.event_loop == "uvloop" and not uvloop_available():
            raise ConfigurationError(
                "--event-loop uvloop: uvloop is not installed (pip install 'arcguard[service]')"
            )
        if not 1 <= self.workers <= MAX_WORKERS:
            raise ConfigurationError(f"workers must be in 1..{MAX_WORKERS}, got {self.workers}")
        if self.workers > 1:
            if not self.redis_url:
                raise ConfigurationError(
                    "--workers above 1 needs --redis-url: with the memory store every "
                    "process would keep its own rate-limit and shield counters"
                )
            if self.port == 0:
                raise ConfigurationError("--workers above 1 needs a fixed --port, not 0")
            if self.metrics_port is not None and self.metrics_port + self.workers - 1 > 65535:
                raise ConfigurationError("metrics ports metrics_port..+workers-1 exceed 65535")

    @property
    def address(self) -> str:
        """The gRPC listen address, ``host:port`` (IPv6 bracketed)."""
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"{host}:{self.port}"

    def dns_settings(self) -> DnsSettings:
        """The DNS checks' settings.

        Raises:
            ConfigurationError: a malformed server or timeout.
        """
        return DnsSettings(self.dns_servers, timeout=self.dns_timeout)

    @property
    def auth_required(self) -> bool:
        """Whether calls need an API key."""
        return not self.no_auth

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> Settings:
        """Settings from ``ARCGUARD_*`` variables; keyword ``overrides`` win.

        Raises:
            ConfigurationError: a malformed value, an unreadable key file, or an
                unsafe combination (see the class).
        """
        return cls(**{**_env_values(environ), **overrides})

    @classmethod
    def dev_defaults(cls, **overrides: Any) -> Settings:
        """Local dev mode: loopback, no key, memory store, text logs."""
        base: dict[str, Any] = {
            "host": DEFAULT_HOST,
            "no_auth": True,
            "redis_url": None,
            "log_format": "text",
            "dev": True,
        }
        return cls(**{**base, **overrides})

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` (checked again)."""
        return replace(self, **changes)


def uvloop_available() -> bool:
    """Whether uvloop can be imported (without importing it)."""
    return importlib.util.find_spec("uvloop") is not None


def _bool(name: str, raw: str) -> bool:
    v = raw.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off", ""):
        return False
    raise ConfigurationError(f"{name}: expected a boolean, got {raw!r}")


def _number(name: str, raw: str, kind: type[int] | type[float]) -> Any:
    try:
        return kind(raw)
    except ValueError:
        raise ConfigurationError(f"{name}: expected a number, got {raw!r}") from None


def read_key_file(path: str) -> tuple[str, ...]:
    """API keys from a file, one a line; blank lines and ``#`` comments skipped.

    Raises:
        ConfigurationError: the file cannot be read.
    """
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise ConfigurationError(f"cannot read API key file {path}: {exc}") from exc
    return tuple(s.strip() for s in lines if s.strip() and not s.lstrip().startswith("#"))


_ENV: dict[str, tuple[str, Any]] = {
    "ARCGUARD_HOST": ("host", str),
    "ARCGUARD_PORT": ("port", int),
    "ARCGUARD_METRICS_HOST": ("metrics_host", str),
    "ARCGUARD_METRICS_PORT": ("metrics_port", int),
    "ARCGUARD_REDIS_URL": ("redis_url", str),
    "ARCGUARD_REDIS_TIMEOUT_MS": ("redis_timeout_ms", float),
    "ARCGUARD_TLS_CERT": ("tls_cert", str),
    "ARCGUARD_TLS_KEY": ("tls_key", str),
    "ARCGUARD_ALLOW_INSECURE": ("allow_insecure", bool),
    "ARCGUARD_NO_AUTH": ("no_auth", bool),
    "ARCGUARD_MAX_MESSAGE_SIZE": ("max_message_size", int),
    "ARCGUARD_LOG_FORMAT": ("log_format", str),
    "ARCGUARD_LOG_LEVEL": ("log_level", str),
    "ARCGUARD_GRACE": ("grace", float),
    "ARCGUARD_WORKERS": ("workers", int),
    "ARCGUARD_EVENT_LOOP": ("event_loop", str),
    "ARCGUARD_DNS_TIMEOUT": ("dns_timeout", float),
}


def _milliseconds(values: dict[str, Any]) -> None:
    """Flags and variables say milliseconds; the settings hold seconds."""
    ms = values.pop("redis_timeout_ms", None)
    if ms is not None:
        values["redis_timeout"] = ms / 1000.0


def _env_values(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for var, (name, kind) in _ENV.items():
        raw = environ.get(var)
        if raw is None or raw == "":
            continue
        if kind is bool:
            out[name] = _bool(var, raw)
        elif kind is str:
            out[name] = raw
        else:
            out[name] = _number(var, raw, kind)
    if out.get("metrics_port", 0) < 0:
        out["metrics_port"] = None
    _milliseconds(out)
    keys: list[str] = []
    if environ.get("ARCGUARD_API_KEYS"):
        keys += [k.strip() for k in environ["ARCGUARD_API_KEYS"].split(",") if k.strip()]
    if environ.get("ARCGUARD_API_KEY_FILE"):
        keys += read_key_file(environ["ARCGUARD_API_KEY_FILE"])
    if keys:
        out["api_keys"] = tuple(keys)
    servers = [s.strip() for s in environ.get("ARCGUARD_DNS_SERVERS", "").split(",")]
    if any(servers):
        out["dns_servers"] = tuple(s for s in servers if s)
    return out


# -- command line ----------------------------------------------------------------


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the flags of ``arcguard serve`` / ``python -m decide_service`` to ``parser``.

    Every flag defaults to None so that the environment, then the built-in
    default, applies when it is not given.
    """
    g = parser.add_argument_group("decide service")
    g.add_argument("--host", help=f"listen address (default {DEFAULT_HOST})")
    g.add_argument("--port", type=int, help=f"gRPC port, 0 for any (default {DEFAULT_PORT})")
    g.add_argument("--metrics-host", help="Prometheus metrics listen address")
    g.add_argument(
        "--metrics-port",
        type=int,
        help=f"Prometheus metrics port, 0 for any, -1 to disable (default {DEFAULT_METRICS_PORT})",
    )
    g.add_argument("--redis-url", help="shared store, redis://host:port/db (default: memory)")
    g.add_argument(
        "--redis-timeout-ms",
        type=float,
        help=f"milliseconds one Redis command may take (default {DEFAULT_REDIS_TIMEOUT * 1000:g})",
    )
    g.add_argument("--api-key-file", help="file of accepted API keys, one a line")
    g.add_argument(
        "--no-auth",
        action="store_true",
        default=None,
        help="accept calls without an API key (loopback only)",
    )
    g.add_argument(
        "--dev",
        action="store_true",
        default=None,
        help="local dev mode: loopback, no key, memory store, text logs",
    )
    g.add_argument("--tls-cert", help="PEM server certificate (chain)")
    g.add_argument("--tls-key", help="PEM private key of --tls-cert")
    g.add_argument(
        "--allow-insecure",
        action="store_true",
        default=None,
        help="allow plaintext gRPC on a non-loopback host",
    )
    g.add_argument("--max-message-size", type=int, help="largest request in bytes")
    g.add_argument("--log-format", choices=_LOG_FORMATS, help="text or json lines")
    g.add_argument("--log-level", choices=_LOG_LEVELS, help="logging level")
    g.add_argument("--grace", type=float, help=f"shutdown drain seconds (default {DEFAULT_GRACE})")
    g.add_argument(
        "--workers",
        type=int,
        help="server processes on one port (SO_REUSEPORT); above 1 needs --redis-url",
    )
    g.add_argument(
        "--event-loop",
        choices=EVENT_LOOPS,
        help="event loop: uvloop if installed (auto, the default), uvloop, or asyncio",
    )
    _add_dns_arguments(g)


def add_dev_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the flags of ``arcguard dev`` (a subset: it always runs on loopback, no key)."""
    g = parser.add_argument_group("dev service")
    g.add_argument("--port", type=int, help=f"gRPC port, 0 for any (default {DEFAULT_PORT})")
    g.add_argument("--metrics-port", type=int, help="metrics port, 0 any, -1 off (default -1)")
    g.add_argument("--log-level", choices=_LOG_LEVELS, help="logging level")
    _add_dns_arguments(g)


def _add_dns_arguments(g: argparse._ArgumentGroup) -> None:
    g.add_argument(
        "--dns-server",
        action="append",
        dest="dns_servers",
        metavar="HOST[:PORT]",
        help="a resolver of the DNS checks (repeatable; default: the system's)",
    )
    g.add_argument(
        "--dns-timeout",
        type=float,
        help=f"seconds one DNS check may take (default {DEFAULT_DNS_TIMEOUT:g})",
    )


_FLAGS = {
    "host": "host",
    "port": "port",
    "metrics_host": "metrics_host",
    "metrics_port": "metrics_port",
    "redis_url": "redis_url",
    "redis_timeout_ms": "redis_timeout_ms",
    "no_auth": "no_auth",
    "tls_cert": "tls_cert",
    "tls_key": "tls_key",
    "allow_insecure": "allow_insecure",
    "max_message_size": "max_message_size",
    "log_format": "log_format",
    "log_level": "log_level",
    "grace": "grace",
    "workers": "workers",
    "event_loop": "event_loop",
    "dns_timeout": "dns_timeout",
}


def settings_from_args(args: argparse.Namespace, environ: Mapping[str, str]) -> Settings:
    """Settings from parsed flags over the environment over the defaults.

    Raises:
        ConfigurationError: see :class:`Settings`.
    """
    values = _env_values(environ)
    for attr, name in _FLAGS.items():
        v = getattr(args, attr, None)
        if v is not None:
            values[name] = v
    if values.get("metrics_port") is not None and values["metrics_port"] < 0:
        values["metrics_port"] = None
    _milliseconds(values)
    if getattr(args, "dns_servers", None):
        values["dns_servers"] = tuple(args.dns_servers)
    key_file = getattr(args, "api_key_file", None)
    if key_file:
        values["api_keys"] = tuple(values.get("api_keys", ())) + read_key_file(key_file)
    if getattr(args, "dev", None):
        values.setdefault("metrics_port", None)
        return Settings.dev_defaults(
            **{k: v for k, v in values.items() if k not in ("no_auth", "redis_url", "dev")}
        )
    known = {f.name for f in fields(Settings)}
    return Settings(**{k: v for k, v in values.items() if k in known})
