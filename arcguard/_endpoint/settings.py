"""Endpoint-selection settings: one frozen object holding every option with its default.

Build it with keyword arguments, or from an environment mapping with
:meth:`EndpointSettings.from_environ` (the SDK passes ``os.environ`` from one
place; an explicit argument of the caller then wins through
:func:`dataclasses.replace`). Every value is checked at construction, and the
explicit endpoint and configured candidates are held against the allow-list
there, so a bad or injected endpoint fails when the guard is built, not on a
request.

Environment variables read by :meth:`EndpointSettings.from_environ`:

=====================================  ===================================================
``ARCGUARD_ENDPOINT``                  explicit endpoint, ``host[:port]``
``ARCGUARD_DISCOVERY_DOMAIN``          domain whose ``_arcguard._tcp`` SRV lists regions
``ARCGUARD_BASE_DOMAIN``               ``{base}`` in the endpoint templates, and the
                                       default endpoint
``ARCGUARD_CANDIDATES``                comma list of candidate endpoints (replaces DNS)
``ARCGUARD_ALLOWED_HOSTS``             comma list: domains, IPs, CIDRs, ``loopback``
``ARCGUARD_ENDPOINT_TEMPLATE_<NAME>``  template for platform ``<NAME>`` (e.g. ``_FLY``,
                                       ``_DEFAULT``); empty disables pinning there
``ARCGUARD_DETECT_PLATFORM``           ``0``/``false`` turns platform detection off
``ARCGUARD_PROBE_SAMPLES``             health checks per candidate per probe round
``ARCGUARD_PROBE_TIMEOUT_MS``          timeout of one health check
``ARCGUARD_PROBE_INTERVAL_S``          mean seconds between background probe rounds
``ARCGUARD_FAILOVER_THRESHOLD``        consecutive failures before fail-over
``ARCGUARD_DNS_NAMESERVER``            DNS server (an IP) for discovery: its SRV and TXT
                                       queries and the targets' A/AAAA (default: the
                                       system's resolver)
``ARCGUARD_DNS_PORT``                  its port
=====================================  ===================================================

There is no built-in endpoint: the API key only goes to a host named here (or
to loopback). :meth:`EndpointSettings.check_configured` (called by the
selector, so by every guard with a key) raises unless one of the endpoint,
the candidates, the discovery domain or the base domain is set.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .._exceptions import ConfigurationError
from .address import DEFAULT_PORT, LOOPBACK, HostAllowList, parse_endpoint
from .platform import DEFAULT_TEMPLATES, PLATFORM_NAMES, check_template

__all__ = [
    "DEFAULT_DNS_PORT",
    "DEFAULT_DNS_TIMEOUT",
    "DEFAULT_FAILOVER_THRESHOLD",
    "DEFAULT_PROBE_INTERVAL",
    "DEFAULT_PROBE_JITTER",
    "DEFAULT_PROBE_SAMPLES",
    "DEFAULT_PROBE_TIMEOUT",
    "DEFAULT_SWITCH_MARGIN",
    "EndpointSettings",
]

#: Health checks per candidate in one probe round; the median is used.
DEFAULT_PROBE_SAMPLES = 3
#: Seconds one health check may take.
DEFAULT_PROBE_TIMEOUT = 0.25
#: Mean seconds between background probe rounds.
DEFAULT_PROBE_INTERVAL = 60.0
#: The interval is drawn uniformly from ``interval * (1 ± jitter)``.
DEFAULT_PROBE_JITTER = 0.2
#: Consecutive failures on the chosen endpoint before the next one takes over.
DEFAULT_FAILOVER_THRESHOLD = 3
#: A healthy chosen endpoint is only left for one whose median is this much
#: lower (as a fraction), so that two near-equal regions do not flap.
DEFAULT_SWITCH_MARGIN = 0.2
#: Port of the discovery DNS server.
DEFAULT_DNS_PORT = 53
#: Seconds one DNS query may take in all.
DEFAULT_DNS_TIMEOUT = 2.0

_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True, slots=True)
class EndpointSettings:
    """How the SDK chooses the decide-service endpoint.

    Attributes:
        endpoint: explicit endpoint; when set it is the only one used.
        discovery_domain: domain of the ``_arcguard._tcp`` SRV record; None
            means *base_domain*.
        base_domain: ``{base}`` in the templates and the default endpoint;
            None (the default) means no template that needs it applies.
        candidates: candidate endpoints; when non-empty DNS is not asked.
        allowed_hosts: hosts that may receive the API key; None means the
            discovery domain and the base domain (those set) and loopback.
        templates: endpoint template per platform, over :data:`DEFAULT_TEMPLATES`.
        detect_platform: whether the platform is detected at all.
        default_port: port of endpoints that name none.
        probe_samples: health checks per candidate per round.
        probe_timeout: seconds one health check may take.
        probe_interval: mean seconds between background rounds.
        probe_jitter: relative jitter of the interval, in [0, 1).
        switch_margin: relative gain needed to leave a healthy endpoint.
        failover_threshold: consecutive failures before fail-over.
        dns_nameserver: DNS server address for discovery; None: the system's.
        dns_port: its port.
        dns_timeout: seconds one DNS query may take.

    Raises:
        ConfigurationError: a value is out of range, an endpoint is malformed,
            or the explicit endpoint or a candidate is not allowed.

    Example::

        >>> s = EndpointSettings(base_domain="decide.example.com")
        >>> s.effective_discovery_domain, s.allow_list().entries
        ('decide.example.com', ('decide.example.com', 'loopback'))
    """

    endpoint: str | None = None
    discovery_domain: str | None = None
    base_domain: str | None = None
    candidates: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] | None = None
    templates: Mapping[str, str] = field(default_factory=dict, hash=False)
    detect_platform: bool = True
    default_port: int = DEFAULT_PORT
    probe_samples: int = DEFAULT_PROBE_SAMPLES
    probe_timeout: float = DEFAULT_PROBE_TIMEOUT
    probe_interval: float = DEFAULT_PROBE_INTERVAL
    probe_jitter: float = DEFAULT_PROBE_JITTER
    switch_margin: float = DEFAULT_SWITCH_MARGIN
    failover_threshold: int = DEFAULT_FAILOVER_THRESHOLD
    dns_nameserver: str | None = None
    dns_port: int = DEFAULT_DNS_PORT
    dns_timeout: float = DEFAULT_DNS_TIMEOUT

    def __post_init__(self) -> None:
        _positive_int("probe_samples", self.probe_samples)
        _positive_int("failover_threshold", self.failover_threshold)
        _port("default_port", self.default_port)
        _port("dns_port", self.dns_port)
        _positive_float("probe_timeout", self.probe_timeout)
        _positive_float("probe_interval", self.probe_interval)
        _positive_float("dns_timeout", self.dns_timeout)
        for name in ("probe_jitter", "switch_margin"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 <= value < 1:
                raise ConfigurationError(f"{name} must be in [0, 1), got {value!r}")
        if isinstance(self.candidates, str):
            raise TypeError("candidates must be a sequence of endpoints, not a string")
        object.__setattr__(self, "candidates", tuple(self.candidates))
        if self.dns_nameserver is not None:
            try:
                nameserver = str(ipaddress.ip_address(self.dns_nameserver.strip()))
            except ValueError:
                raise ConfigurationError(
                    f"dns_nameserver must be an IP address, got {self.dns_nameserver!r}"
                ) from None
            object.__setattr__(self, "dns_nameserver", nameserver)
        if self.allowed_hosts is not None:
            if isinstance(self.allowed_hosts, str):
                raise TypeError("allowed_hosts must be a sequence of hosts, not a string")
            object.__setattr__(self, "allowed_hosts", tuple(self.allowed_hosts))
        for domain_field in ("base_domain", "discovery_domain"):
            domain = getattr(self, domain_field)
            if domain is None:
                continue
            host, _ = parse_endpoint(domain, default_port=self.default_port)
            if host != domain.lower().rstrip(".") or ":" in host:
                raise ConfigurationError(f"{domain_field} must be a domain name, got {domain!r}")
            object.__setattr__(self, domain_field, host)
        merged = dict(DEFAULT_TEMPLATES)
        for name, template in dict(self.templates).items():
            if name not in merged:
                raise ConfigurationError(
                    f"unknown platform {name!r} in templates; known: default, "
                    + ", ".join(PLATFORM_NAMES)
                )
            check_template(template, what=f"endpoint template for {name}")
            merged[name] = template
        object.__setattr__(self, "templates", MappingProxyType(merged))
        allow = self.allow_list()
        if self.endpoint is not None:
            host, _ = parse_endpoint(self.endpoint, default_port=self.default_port)
            allow.check(host, what="endpoint")
        for candidate in self.candidates:
            host, _ = parse_endpoint(candidate, default_port=self.default_port)
            allow.check(host, what="candidate")

    @property
    def effective_discovery_domain(self) -> str | None:
        """The domain discovery queries: *discovery_domain*, else *base_domain*, else None."""
        return self.discovery_domain or self.base_domain

    @property
    def configured(self) -> bool:
        """Whether the settings name somewhere to send calls (see :meth:`check_configured`)."""
        return bool(self.endpoint or self.candidates or self.discovery_domain or self.base_domain)

    def check_configured(self) -> None:
        """Raise unless an endpoint, candidates, a discovery domain or a base domain is set.

        There is no hosted decide service and so no built-in name to fall back
        to: sending the API key to a name nobody here owns would hand it to
        whoever holds that name.

        Raises:
            ConfigurationError: naming the variables (and options) to set.
        """
        if not self.configured:
            raise ConfigurationError(
                "an API key is set but no decide service is configured: set "
                "ARCGUARD_ENDPOINT (host:port; or endpoint=), ARCGUARD_CANDIDATES, "
                "ARCGUARD_DISCOVERY_DOMAIN (a domain with _arcguard._tcp SRV records) or "
                "ARCGUARD_BASE_DOMAIN (the domain of your own service's endpoints); or drop "
                "the key (or set ARCGUARD_ENV=development) for local development mode, "
                "which needs no service"
            )

    def allow_list(self) -> HostAllowList:
        """The :class:`HostAllowList` these settings imply."""
        if self.allowed_hosts is not None:
            return HostAllowList(self.allowed_hosts)
        domains = dict.fromkeys(d for d in (self.discovery_domain, self.base_domain) if d)
        return HostAllowList([*domains, LOOPBACK])

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> EndpointSettings:
        """Build settings from environment variables (see the module's table).

        Parameters:
            environ: the environment mapping, e.g. ``os.environ``.

        Raises:
            ConfigurationError: a variable holds a bad value.

        Example::

            >>> EndpointSettings.from_environ({"ARCGUARD_PROBE_SAMPLES": "5"}).probe_samples
            5
        """
        kwargs: dict[str, object] = {}

        def text(name: str) -> str | None:
            value = environ.get(name, "").strip()
            return value or None

        if (value := text("ARCGUARD_ENDPOINT")) is not None:
            kwargs["endpoint"] = value
        if (value := text("ARCGUARD_DISCOVERY_DOMAIN")) is not None:
            kwargs["discovery_domain"] = value
        if (value := text("ARCGUARD_BASE_DOMAIN")) is not None:
            kwargs["base_domain"] = value
        if (value := text("ARCGUARD_CANDIDATES")) is not None:
            kwargs["candidates"] = _split(value)
        if (value := text("ARCGUARD_ALLOWED_HOSTS")) is not None:
            kwargs["allowed_hosts"] = _split(value)
        if (value := text("ARCGUARD_DETECT_PLATFORM")) is not None:
            kwargs["detect_platform"] = value.lower() not in _FALSE
        if (value := text("ARCGUARD_PROBE_SAMPLES")) is not None:
            kwargs["probe_samples"] = _int("ARCGUARD_PROBE_SAMPLES", value)
        if (value := text("ARCGUARD_PROBE_TIMEOUT_MS")) is not None:
            kwargs["probe_timeout"] = _float("ARCGUARD_PROBE_TIMEOUT_MS", value) / 1000.0
        if (value := text("ARCGUARD_PROBE_INTERVAL_S")) is not None:
            kwargs["probe_interval"] = _float("ARCGUARD_PROBE_INTERVAL_S", value)
        if (value := text("ARCGUARD_FAILOVER_THRESHOLD")) is not None:
            kwargs["failover_threshold"] = _int("ARCGUARD_FAILOVER_THRESHOLD", value)
        if (value := text("ARCGUARD_DNS_NAMESERVER")) is not None:
            kwargs["dns_nameserver"] = value
        if (value := text("ARCGUARD_DNS_PORT")) is not None:
            kwargs["dns_port"] = _int("ARCGUARD_DNS_PORT", value)
        prefix = "ARCGUARD_ENDPOINT_TEMPLATE_"
        templates = {
            name[len(prefix) :].lower(): value.strip()
            for name, value in environ.items()
            if name.startswith(prefix)
        }
        if templates:
            kwargs["templates"] = templates
        return cls(**kwargs)  # type: ignore[arg-type]

    def replace(self, **changes: object) -> EndpointSettings:
        """A copy with *changes* applied (and checked again)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be an integer, got {value!r}") from exc


def _float(name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be a number, got {value!r}") from exc


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name} must be a positive integer, got {value!r}")


def _positive_float(name: str, value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigurationError(f"{name} must be a positive number, got {value!r}")


def _port(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise ConfigurationError(f"{name} must be a port in 1-65535, got {value!r}")
