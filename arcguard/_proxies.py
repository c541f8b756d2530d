"""Where a platform's edge connects from, and the header it sets to the client IP.

A platform's client-IP header (``CF-Connecting-IP``, ``Fly-Client-IP``, ...) is
believed only when the hop that handed the request to the app (or to the
app's own trusted proxies) is one of that platform's proxies: anyone else can
send the header too. ``docs/client-ip.md`` gives each platform's rule and the
``trusted_proxies`` recipes for the platforms without one here.

=============  ============================  ==========================================
platform       header                        its proxies connect from
=============  ============================  ==========================================
``cloudflare`` ``CF-Connecting-IP``          Cloudflare's published ranges, shipped as
                                             ``_data/cloudflare_ips.json`` (refreshed by
                                             ``scripts/refresh_cloudflare_ips.py``)
``fly``        ``Fly-Client-IP``             ``172.16.0.0/12`` (Fly Proxy reaches a
                                             Machine on its private IPv4 address) and
                                             ``fdaa::/16`` (6PN, the organisation's
                                             private network)
``vercel``     ``X-Vercel-Forwarded-For``    loopback: Vercel's Python runtime runs the
                                             app behind its own bridge in the sandbox
=============  ============================  ==========================================
"""

from __future__ import annotations

import ipaddress
import json
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from importlib import resources
from typing import Any

from ._exceptions import ConfigurationError

__all__ = [
    "CLOUDFLARE_DATA",
    "PLATFORM_EDGES",
    "NetworkSet",
    "PlatformEdge",
    "check_cloudflare_document",
    "cloudflare_networks",
]

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The package data file of Cloudflare's ranges (inside ``arcguard/``).
CLOUDFLARE_DATA = "_data/cloudflare_ips.json"
#: A published range broader than this is refused (no sane edge list has one).
_WIDEST = {4: 8, 6: 16}


class NetworkSet:
    """IP networks with a membership test in O(log n): ``address in networks``.

    Parameters:
        networks: networks or their CIDR text.

    Example::

        >>> nets = NetworkSet(["10.0.0.0/8", "fdaa::/16"])
        >>> ipaddress.ip_address("10.1.2.3") in nets, ipaddress.ip_address("::1") in nets
        (True, False)
    """

    __slots__ = ("_ends", "_networks", "_starts")

    def __init__(self, networks: Iterable[str | _Network]) -> None:
        parsed = tuple(
            n if not isinstance(n, str) else ipaddress.ip_network(n, strict=False) for n in networks
        )
        self._networks = parsed
        starts: dict[int, list[int]] = {4: [], 6: []}
        ends: dict[int, list[int]] = {4: [], 6: []}
        for version in (4, 6):
            spans = sorted(
                (int(n.network_address), int(n.broadcast_address))
                for n in parsed
                if n.version == version
            )
            for first, last in spans:  # merged, so one bisect finds the only candidate
                if ends[version] and first <= ends[version][-1] + 1:
                    ends[version][-1] = max(ends[version][-1], last)
                else:
                    starts[version].append(first)
                    ends[version].append(last)
        self._starts = starts
        self._ends = ends

    @property
    def networks(self) -> tuple[_Network, ...]:
        """The networks as given."""
        return self._networks

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return False
        value = int(address)
        at = bisect_right(self._starts[address.version], value) - 1
        return at >= 0 and value <= self._ends[address.version][at]

    def __bool__(self) -> bool:
        return bool(self._networks)

    def __repr__(self) -> str:
        return f"NetworkSet({[str(n) for n in self._networks]!r})"


def check_cloudflare_document(document: Any) -> tuple[list[str], list[str]]:
    """Check a Cloudflare ranges document and return its IPv4 and IPv6 CIDRs.

    Accepts the package data file's shape and the API's
    (``{"result": {"ipv4_cidrs": [...], "ipv6_cidrs": [...]}, "success": true}``).

    Raises:
        ValueError: naming what is wrong: not an object, a failed API answer, a
            missing or empty list, a value that is not a network of the right
            family, a private or overly broad range, or a duplicate.
    """
    if not isinstance(document, Mapping):
        raise ValueError("expected a JSON object")
    if "result" in document:
        if document.get("success") is not True:
            raise ValueError(f"the API answer is not a success: {document.get('errors')!r}")
        document = document["result"]
        if not isinstance(document, Mapping):
            raise ValueError("result: expected an object")
    out: list[list[str]] = []
    for key, version in (("ipv4_cidrs", 4), ("ipv6_cidrs", 6)):
        values = document.get(key)
        if not isinstance(values, list) or not values:
            raise ValueError(f"{key}: expected a non-empty list")
        seen: set[_Network] = set()
        kept: list[str] = []
        for value in values:
            try:
                network = ipaddress.ip_network(value, strict=True)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{key}: {value!r} is not a network: {exc}") from None
            if network.version != version:
                raise ValueError(f"{key}: {value!r} is not an IPv{version} network")
            if not network.is_global:
                raise ValueError(f"{key}: {value!r} is not a public range")
            if network.prefixlen < _WIDEST[version]:
                raise ValueError(f"{key}: {value!r} is broader than /{_WIDEST[version]}")
            if network in seen:
                raise ValueError(f"{key}: {value!r} is listed twice")
            seen.add(network)
            kept.append(str(network))
        out.append(kept)
    return out[0], out[1]


_cloudflare: NetworkSet | None = None


def cloudflare_networks() -> NetworkSet:
    """Cloudflare's ranges from the package data (read once per process).

    Raises:
        ConfigurationError: the package data is missing or malformed.
    """
    global _cloudflare
    if _cloudflare is None:
        try:
            text = resources.files("arcguard").joinpath(CLOUDFLARE_DATA).read_text("utf-8")
            v4, v6 = check_cloudflare_document(json.loads(text))
        except (OSError, ValueError) as exc:
            raise ConfigurationError(
                f"arcguard/{CLOUDFLARE_DATA}: Cloudflare's ranges are unreadable ({exc}); "
                "reinstall arcguard or run scripts/refresh_cloudflare_ips.py"
            ) from exc
        _cloudflare = NetworkSet([*v4, *v6])
    return _cloudflare


class PlatformEdge:
    """One platform's client-IP header and the networks its proxies connect from.

    Parameters:
        name: the platform's name.
        header: its client-IP header, lower case.
        networks: the networks, or a function that reads them on first use.
    """

    __slots__ = ("_networks", "header", "name")

    def __init__(
        self, name: str, header: str, networks: NetworkSet | Callable[[], NetworkSet]
    ) -> None:
        self.name = name
        self.header = header
        self._networks = networks

    @property
    def networks(self) -> NetworkSet:
        """Where the platform's proxies connect from.

        Raises:
            ConfigurationError: the package data of the ranges is unreadable.
        """
        networks = self._networks
        if not isinstance(networks, NetworkSet):
            networks = self._networks = networks()
        return networks


#: Platforms whose client-IP header can be believed, keyed by name.
PLATFORM_EDGES: Mapping[str, PlatformEdge] = {
    "cloudflare": PlatformEdge("cloudflare", "cf-connecting-ip", cloudflare_networks),
    "fly": PlatformEdge("fly", "fly-client-ip", NetworkSet(["172.16.0.0/12", "fdaa::/16"])),
    "vercel": PlatformEdge(
        "vercel", "x-vercel-forwarded-for", NetworkSet(["127.0.0.0/8", "::1/128"])
    ),
}
