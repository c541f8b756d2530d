"""Choosing the decide-service endpoint: platform detection, DNS discovery, latency probes.

The rest of the SDK uses :class:`EndpointSelector` (built from
:class:`EndpointSettings` and the environment mapping): the transport asks
:meth:`EndpointSelector.current` for the target of each call, reports each
call's outcome, and rebuilds its channel from :meth:`EndpointSelector.on_change`.
``arcguard probe`` is :func:`add_probe_arguments` plus :func:`run_probe`.
"""

from __future__ import annotations

from .address import DEFAULT_PORT, Candidate, HostAllowList, format_target, parse_endpoint
from .cli import add_probe_arguments, probe_command, run_probe
from .discovery import DiscoveryError, discover, srv_order
from .platform import DEFAULT_TEMPLATES, PLATFORM_NAMES, Platform, detect_platform, resolve_template
from .probe import ProbeResult, probe, rank
from .selector import EndpointChange, EndpointChoice, EndpointSelector, RankedEndpoint
from .settings import (
    DEFAULT_BASE_DOMAIN,
    DEFAULT_FAILOVER_THRESHOLD,
    DEFAULT_PROBE_INTERVAL,
    DEFAULT_PROBE_JITTER,
    DEFAULT_PROBE_SAMPLES,
    DEFAULT_PROBE_TIMEOUT,
    EndpointSettings,
)

__all__ = [
    "DEFAULT_BASE_DOMAIN",
    "DEFAULT_FAILOVER_THRESHOLD",
    "DEFAULT_PORT",
    "DEFAULT_PROBE_INTERVAL",
    "DEFAULT_PROBE_JITTER",
    "DEFAULT_PROBE_SAMPLES",
    "DEFAULT_PROBE_TIMEOUT",
    "DEFAULT_TEMPLATES",
    "PLATFORM_NAMES",
    "Candidate",
    "DiscoveryError",
    "EndpointChange",
    "EndpointChoice",
    "EndpointSelector",
    "EndpointSettings",
    "HostAllowList",
    "Platform",
    "ProbeResult",
    "RankedEndpoint",
    "add_probe_arguments",
    "detect_platform",
    "discover",
    "format_target",
    "parse_endpoint",
    "probe",
    "probe_command",
    "rank",
    "resolve_template",
    "run_probe",
    "srv_order",
]
