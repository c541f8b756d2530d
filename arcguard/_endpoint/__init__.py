"""Choosing the decide-service endpoint: platform detection, DNS discovery, latency probes.

The rest of the SDK uses :class:`EndpointSelector` (built from
:class:`EndpointSettings` and the environment mapping): the transport asks
:meth:`EndpointSelector.current` for the target of each call, reports each
call's outcome, and rebuilds its channel from :meth:`EndpointSelector.on_change`.
``arcguard probe`` is :func:`add_probe_arguments` plus :func:`run_probe`.
"""

from __future__ import annotations

import sys
import types
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .address import DEFAULT_PORT, Candidate, HostAllowList, format_target, parse_endpoint
    from .cli import add_probe_arguments, probe_command, run_probe
    from .discovery import DiscoveryError, discover, srv_order
    from .platform import (
        DEFAULT_TEMPLATES,
        PLATFORM_NAMES,
        Platform,
        detect_platform,
        resolve_template,
    )
    from .probe import ProbeResult, probe, rank
    from .selector import EndpointChange, EndpointChoice, EndpointSelector, RankedEndpoint
    from .settings import (
        DEFAULT_FAILOVER_THRESHOLD,
        DEFAULT_PROBE_INTERVAL,
        DEFAULT_PROBE_JITTER,
        DEFAULT_PROBE_SAMPLES,
        DEFAULT_PROBE_TIMEOUT,
        EndpointSettings,
    )

# Every name loads its module on first use. grpc and dnspython take a quarter
# of a second to import, and every guard detects its platform (for the
# client-IP policy) through this package: building a guard should cost the
# platform table, not the selector, the settings and the address parsing.
_LAZY = {
    "DEFAULT_PORT": "address",
    "Candidate": "address",
    "HostAllowList": "address",
    "format_target": "address",
    "parse_endpoint": "address",
    "add_probe_arguments": "cli",
    "probe_command": "cli",
    "run_probe": "cli",
    "DiscoveryError": "discovery",
    "discover": "discovery",
    "srv_order": "discovery",
    "DEFAULT_TEMPLATES": "platform",
    "PLATFORM_NAMES": "platform",
    "Platform": "platform",
    "detect_platform": "platform",
    "resolve_template": "platform",
    "ProbeResult": "probe",
    "probe": "probe",
    "rank": "probe",
    "EndpointChange": "selector",
    "EndpointChoice": "selector",
    "EndpointSelector": "selector",
    "RankedEndpoint": "selector",
    "DEFAULT_FAILOVER_THRESHOLD": "settings",
    "DEFAULT_PROBE_INTERVAL": "settings",
    "DEFAULT_PROBE_JITTER": "settings",
    "DEFAULT_PROBE_SAMPLES": "settings",
    "DEFAULT_PROBE_TIMEOUT": "settings",
    "EndpointSettings": "settings",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


class _Package(types.ModuleType):
    # Loading the submodule ``probe`` would bind the package attribute
    # ``probe`` to it, hiding the function of the same name.
    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

__all__ = [
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
