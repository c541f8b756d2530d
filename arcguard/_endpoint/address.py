"""Endpoint addresses: parsing ``host:port``, the candidate type, the host allow-list.

Everything here is pure: no DNS, no sockets. An endpoint is written the way a
gRPC target is, ``host:port`` (``[::1]:port`` for IPv6); a missing port means
:data:`DEFAULT_PORT`. A candidate found through a configured DNS server keeps
that server in its target, ``dns://<server>/<host>:<port>`` (gRPC's DNS name
syntax), so that gRPC resolves the host with the same server, not the system's.
A ``grpc://``, ``grpcs://``, ``http://`` or ``https://`` prefix is accepted and
dropped, since whether TLS is used is the transport's business, not the selector's.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from .._exceptions import ConfigurationError

__all__ = [
    "DEFAULT_PORT",
    "LOOPBACK",
    "Candidate",
    "HostAllowList",
    "format_target",
    "is_loopback_host",
    "is_loopback_target",
    "parse_endpoint",
]

#: Port used when an endpoint names none.
DEFAULT_PORT = 443

#: The allow-list entry that stands for every loopback address and ``localhost``.
LOOPBACK = "loopback"

_SCHEMES = ("grpc://", "grpcs://", "http://", "https://")
# One DNS label; hostnames are checked label by label (RFC 1123, case folded).
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


@dataclass(frozen=True, slots=True)
class Candidate:
    """One endpoint the SDK may talk to.

    Attributes:
        host: hostname or IP literal, lower case, no brackets, no trailing dot.
        port: TCP port.
        priority: SRV priority (lower is preferred); 0 for configured endpoints.
        weight: SRV weight within a priority; 0 for configured endpoints.
        region: region name from TXT metadata or configuration, if known.
        nameserver: the DNS server (``ip:port``) *host* is resolved with, when
            discovery was told to use one; None: the system's resolver.

    Example::

        >>> Candidate("iad.decide.example.com", 443, region="iad").target
        'iad.decide.example.com:443'
        >>> Candidate("iad.decide.example.com", 443, nameserver="10.0.0.2:53").target
        'dns://10.0.0.2:53/iad.decide.example.com:443'
    """

    host: str
    port: int
    priority: int = 0
    weight: int = 0
    region: str | None = None
    nameserver: str | None = None

    @property
    def target(self) -> str:
        """The gRPC target: ``host:port`` (IPv6 literals in brackets), or
        ``dns://<nameserver>/host:port`` when a nameserver is set."""
        target = format_target(self.host, self.port)
        if self.nameserver is not None:
            return f"dns://{self.nameserver}/{target}"
        return target


def format_target(host: str, port: int) -> str:
    """Join *host* and *port* into a gRPC target, bracketing IPv6 literals.

    Example::

        >>> format_target("::1", 50051)
        '[::1]:50051'
    """
    if ":" in host:
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (``[v6]`` brackets allowed) is a loopback address or ``localhost``."""
    h = host.strip("[]")
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def is_loopback_target(target: str) -> bool:
    """Whether a ``host:port`` (or ``dns://server/host:port``) target names this
    machine (127.0.0.0/8, ::1, localhost); a name resolved by DNS does not."""
    host = target
    if host.startswith("dns:"):
        host = host[4:]
        if host.startswith("//"):
            host = host[2:].partition("/")[2]
    if host.startswith("["):
        host = host[1 : host.find("]")]
    elif host.count(":") == 1:
        host = host.rsplit(":", 1)[0]
    return is_loopback_host(host)


def parse_endpoint(value: str, *, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """Split an endpoint string into ``(host, port)``.

    Parameters:
        value: ``host``, ``host:port``, ``[v6]:port``, optionally with a scheme.
        default_port: port used when *value* names none.

    Raises:
        ConfigurationError: the value is empty, has a path or user info, an
            invalid hostname, or a port outside 1-65535.

    Example::

        >>> parse_endpoint("https://Decide.Example.com.:8443")
        ('decide.example.com', 8443)
    """
    text = value.strip()
    lowered = text.lower()
    for scheme in _SCHEMES:
        if lowered.startswith(scheme):
            text = text[len(scheme) :]
            break
    if text.endswith("/"):
        text = text[:-1]
    if not text or any(c in text for c in "/@?# \t"):
        raise ConfigurationError(f"invalid endpoint {value!r}: expected host or host:port")
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise ConfigurationError(f"invalid endpoint {value!r}: unclosed '['")
        host, rest = text[1:close], text[close + 1 :]
        if rest and not rest.startswith(":"):
            raise ConfigurationError(f"invalid endpoint {value!r}")
        port_text = rest[1:] if rest else ""
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    elif ":" in text:
        host, port_text = text, ""  # a bare IPv6 literal
    else:
        host, port_text = text, ""
    host = _normalise_host(host, value)
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigurationError(f"invalid endpoint {value!r}: bad port {port_text!r}")
    return host, int(port_text)


def _normalise_host(host: str, original: str) -> str:
    host = host.lower().rstrip(".")
    if not host:
        raise ConfigurationError(f"invalid endpoint {original!r}: empty host")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if len(host) > 253 or not all(_LABEL.match(label) for label in host.split(".")):
        raise ConfigurationError(f"invalid endpoint {original!r}: bad hostname {host!r}")
    return host


class HostAllowList:
    """The hosts allowed to receive the API key.

    An entry is a domain (matching itself and every subdomain, on a label
    boundary: ``example.com`` allows ``eu.example.com`` but not
    ``badexample.com``), an IP address, a CIDR network, or :data:`LOOPBACK`
    (``127.0.0.0/8``, ``::1`` and ``localhost``).

    Parameters:
        entries: the entries; blanks are ignored.

    Raises:
        ConfigurationError: an entry is neither a domain, an address nor a network.

    Example::

        >>> allow = HostAllowList(["example.com", "loopback"])
        >>> allow.allows("eu.example.com"), allow.allows("127.0.0.2"), allow.allows("evil.test")
        (True, True, False)
    """

    __slots__ = ("_domains", "_entries", "_networks")

    def __init__(self, entries: Iterable[str]) -> None:
        domains: list[str] = []
        networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        kept: list[str] = []
        for raw in entries:
            entry = raw.strip().lower().rstrip(".")
            if not entry:
                continue
            kept.append(entry)
            if entry == LOOPBACK:
                networks += [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]
                domains.append("localhost")
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            bare = entry[2:] if entry.startswith("*.") else entry
            if len(bare) > 253 or not all(_LABEL.match(label) for label in bare.split(".")):
                raise ConfigurationError(f"invalid allowed host {raw!r}")
            domains.append(bare)
        self._entries = tuple(kept)
        self._domains = tuple(domains)
        self._networks = tuple(networks)

    @property
    def entries(self) -> tuple[str, ...]:
        """The entries as given (normalised), for messages and display."""
        return self._entries

    def allows(self, host: str) -> bool:
        """Whether *host* (a hostname or IP literal) may receive the API key."""
        host = host.lower().rstrip(".").strip("[]")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return any(host == d or host.endswith("." + d) for d in self._domains)
        return any(address in network for network in self._networks)

    def check(self, host: str, *, what: str) -> None:
        """Raise unless *host* is allowed.

        Parameters:
            host: the host to check.
            what: where the host came from, for the message (e.g. ``"ARCGUARD_ENDPOINT"``).

        Raises:
            ConfigurationError: naming the host and the allow-list.
        """
        if not self.allows(host):
            raise ConfigurationError(
                f"{what} host {host!r} is not in the allowed hosts "
                f"[{', '.join(self._entries)}]; add it to ARCGUARD_ALLOWED_HOSTS "
                "(or allowed_hosts) if the API key may be sent there"
            )

    def __repr__(self) -> str:
        return f"HostAllowList({list(self._entries)!r})"
