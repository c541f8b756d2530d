"""Request details: what a rule may look at, taken from an ASGI scope, a WSGI
environ or a framework's request object, with the client IP found through a
trusted-proxy policy.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from itertools import chain
from typing import Any
from urllib.parse import parse_qsl, quote

from ._exceptions import ConfigurationError
from ._frozen import Frozen
from ._proxies import PLATFORM_EDGES, NetworkSet, PlatformEdge

__all__ = [
    "DEFAULT_MAX_BODY",
    "PLATFORM_IP_HEADERS",
    "ProxyPolicy",
    "RequestDetails",
    "details_from_asgi",
    "details_from_object",
    "details_from_wsgi",
]

#: Body bytes handed to rules that inspect bodies (the shield) by default.
DEFAULT_MAX_BODY = 64 * 1024
#: Most headers kept from one request; the rest are dropped (bounded work).
MAX_HEADERS = 128

#: The header each platform's edge sets to the client IP, believed only from
#: that platform's proxies (see :mod:`arcguard._proxies`).
PLATFORM_IP_HEADERS: Mapping[str, str] = {name: e.header for name, e in PLATFORM_EDGES.items()}


class RequestDetails:
    """One request as rules see it. Header names are lower-case.

    ``path`` and ``query`` are as sent on the wire (percent-encoded).
    ``extras`` holds the keyword arguments given to ``protect()``.
    """

    __slots__ = ("_raw_headers", "body", "extras", "host", "ip", "method", "path", "query")

    def __init__(
        self,
        *,
        ip: str,
        method: str = "GET",
        host: str = "",
        path: str = "/",
        query: str = "",
        headers: Iterable[tuple[str, str]] | Mapping[str, str] = (),
        body: bytes = b"",
        extras: Mapping[str, Any] | None = None,
    ) -> None:
        self.ip = ip
        self.method = method
        self.host = host
        self.path = path
        self.query = query
        items = headers.items() if isinstance(headers, Mapping) else headers
        self._raw_headers: list[tuple[bytes, bytes]] = [
            (k.lower().encode("latin-1", "replace"), v.encode("latin-1", "replace"))
            for k, v in items
        ][:MAX_HEADERS]
        self.body = body
        self.extras: dict[str, str] = {k: str(v) for k, v in (extras or {}).items()}

    @classmethod
    def _from_raw(
        cls,
        ip: str,
        method: str,
        host: str,
        path: str,
        query: str,
        raw_headers: list[tuple[bytes, bytes]],
        body: bytes,
    ) -> RequestDetails:
        self = cls.__new__(cls)
        self.ip = ip
        self.method = method
        self.host = host
        self.path = path
        self.query = query
        self._raw_headers = raw_headers
        self.body = body
        self.extras = {}
        return self

    def with_extras(self, extras: Mapping[str, Any]) -> RequestDetails:
        """A copy with ``extras`` set (values turned into strings)."""
        new = RequestDetails._from_raw(
            self.ip, self.method, self.host, self.path, self.query, self._raw_headers, self.body
        )
        new.extras = {k: v if isinstance(v, str) else str(v) for k, v in extras.items()}
        return new

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """(name, value) pairs, names lower-case, decoded as Latin-1 per HTTP."""
        return tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in self._raw_headers)

    def header(self, name: str) -> str | None:
        """The first value of a header (``name`` lower-case), or None."""
        key = name.encode("latin-1", "replace")
        for k, v in self._raw_headers:
            if k == key:
                return v.decode("latin-1")
        return None

    def cookie(self, name: str) -> str | None:
        """One cookie's value, or None."""
        for k, v in self._raw_headers:
            if k != b"cookie":
                continue
            for part in v.decode("latin-1").split(";"):
                n, _, val = part.strip().partition("=")
                if n == name:
                    return val
        return None

    def arg(self, name: str) -> str | None:
        """The first (decoded) value of a query parameter, or None."""
        for k, v in parse_qsl(self.query, keep_blank_values=True, max_num_fields=None):
            if k == name:
                return v
        return None

    def encode(self) -> bytes:
        """The core's lean wire format (see core-wasm/core/src/request.rs)."""
        raw_headers = self._raw_headers
        extras = self.extras
        items = [
            self.ip.encode("utf-8", "surrogateescape"),
            self.method.encode("latin-1", "replace"),
            self.host.encode("utf-8", "surrogateescape"),
            self.path.encode("utf-8", "surrogateescape"),
            self.query.encode("utf-8", "surrogateescape"),
            self.body,
            *_chain(raw_headers),
        ]
        if extras:
            for k, v in extras.items():
                items.append(k.encode("utf-8", "surrogateescape"))
                items.append(v.encode("utf-8", "surrogateescape"))
        n = len(items)
        head = _HEADS.get(n) or _head(n)
        return head.pack(len(raw_headers), len(extras), *map(len, items)) + b"".join(items)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (the CLI's JSON request format)."""
        return {
            "ip": self.ip,
            "method": self.method,
            "host": self.host,
            "path": self.path,
            "query": self.query,
            "headers": dict(self.headers),
            "body": self.body.decode("utf-8", "replace"),
            "extras": dict(self.extras),
        }

    def __repr__(self) -> str:
        return f"RequestDetails(ip={self.ip!r}, method={self.method!r}, path={self.path!r})"


#: The header of an encoding of n items: counts of headers and extras, then
#: each item's length. A plain dict in front of the lru_cache: one lookup.
_HEADS: dict[int, struct.Struct] = {}


@lru_cache(maxsize=256)
def _head(n_items: int) -> struct.Struct:
    head = struct.Struct(f"<{n_items + 2}I")
    if len(_HEADS) < 256:
        _HEADS[n_items] = head
    return head


_chain = chain.from_iterable


# -- client IP ----------------------------------------------------------------

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_set = object.__setattr__
_ip_address = ipaddress.ip_address


# ipaddress.ip_address costs ~3 us here and the same few proxy and client
# addresses come back request after request: cached, the client-IP walk behind
# a proxy costs ~6 us instead of ~27 (benchmarks/bench_client_ip.py; 4096 entries).
@lru_cache(maxsize=4096)
def _address(value: str) -> _Address | None:
    """An IP (IPv4-mapped IPv6 as IPv4; ``[v6]:port``, ``v4:port`` and zone ids
    dropped), or None if *value* is not one."""
    v = value.strip()
    if v.startswith("[") and "]" in v:  # [v6]:port
        v = v[1 : v.index("]")]
    elif v.count(":") == 1 and "." in v:  # v4:port
        v = v.split(":", 1)[0]
    v = v.split("%", 1)[0]
    try:
        addr = _ip_address(v)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _parse_ip(value: str) -> str | None:
    """Canonical text of an IP (IPv4-mapped IPv6 as IPv4), or None if invalid."""
    addr = _address(value)
    return None if addr is None else str(addr)


def _platform_error(platform: object) -> ConfigurationError:
    from ._endpoint.platform import PLATFORM_NAMES

    known = ", ".join(sorted(PLATFORM_EDGES))
    if platform in PLATFORM_NAMES:
        return ConfigurationError(
            f"platform {platform!r} has no client-IP header ArcGuard can check (it publishes "
            "no addresses for its proxies): declare the proxies in front of the app with "
            "trusted_proxies=[...] and X-Forwarded-For is read through them; "
            f"docs/client-ip.md has the recipe (platforms with a header: {known})"
        )
    return ConfigurationError(f"unknown platform {platform!r}; known: {known}")


class ProxyPolicy(Frozen):
    """How the client IP is found.

    Attributes:
        trusted_proxies: networks of your own proxies, whose ``X-Forwarded-For``
            is believed.
        platform: a platform (``"cloudflare"``, ``"fly"``, ``"vercel"``) whose
            client-IP header is believed from that platform's proxies; set from
            platform detection or explicitly.

    The walk starts at the socket peer. While the address is a trusted proxy,
    ``X-Forwarded-For`` is read right to left (its lines joined in order, as
    RFC 9110 section 5.3 combines repeated field lines); the first address
    that is not a trusted proxy is where the request came from. If that
    address is one of the platform's proxies (Cloudflare's published ranges,
    Fly's proxy network, Vercel's runtime bridge), the platform's header, when
    it holds exactly one address, is the client; otherwise the address itself
    is. A header from anyone else never changes the IP (``docs/client-ip.md``).

    Immutable; equal when the fields are equal, hashable, picklable.

    Raises:
        ConfigurationError: an unknown platform, or one without a header that
            can be checked (see :meth:`build`).
    """

    # A Frozen (plain __slots__) class, not a frozen dataclass: see _frozen.
    __slots__ = ("_edge", "_trusted", "platform", "trusted_proxies")
    _fields = __match_args__ = ("trusted_proxies", "platform")

    trusted_proxies: tuple[_Network, ...]
    platform: str | None
    _trusted: NetworkSet
    _edge: PlatformEdge | None

    def __init__(
        self, trusted_proxies: tuple[_Network, ...] = (), platform: str | None = None
    ) -> None:
        edge = None
        if platform is not None:
            edge = PLATFORM_EDGES.get(platform)
            if edge is None:
                raise _platform_error(platform)
            edge.networks  # noqa: B018 - read now: bad package data fails at construction
        _set(self, "trusted_proxies", trusted_proxies)
        _set(self, "platform", platform)
        _set(self, "_trusted", NetworkSet(trusted_proxies))
        _set(self, "_edge", edge)

    @classmethod
    def build(
        cls,
        trusted_proxies: Iterable[str] = (),
        platform: str | None = None,
        *,
        detected: str | None = None,
    ) -> ProxyPolicy:
        """Validates the options.

        Parameters:
            trusted_proxies: IP addresses or CIDR ranges of your own proxies.
            platform: the platform declared by the user (checked strictly).
            detected: the platform detected from the environment, used when
                none is declared and only if it has a header that can be
                checked (a platform without one is left to ``trusted_proxies``).

        Raises:
            ConfigurationError: on an invalid network, an unknown platform, or
                a declared platform without a header ArcGuard can check.
        """
        nets = []
        for p in trusted_proxies:
            try:
                nets.append(ipaddress.ip_network(p, strict=False))
            except ValueError:
                raise ConfigurationError(
                    f"trusted_proxies: {p!r} is not an IP address or CIDR range"
                ) from None
        if platform is None and detected in PLATFORM_EDGES:
            platform = detected
        if not nets and platform is None and cls is ProxyPolicy:
            # The shared default (an equal value): the request readers know it
            # means the socket peer, and skip the client-IP lookup per request.
            return DEFAULT_POLICY
        return cls(trusted_proxies=tuple(nets), platform=platform)

    def client_ip(self, peer: str, lines: Callable[[str], Sequence[str]]) -> str:
        """The client IP, given the socket peer and ``lines(name)``: every
        field line of a header (lower-case name), in the order received."""
        addr = _address(peer)
        if addr is None:
            return peer
        trusted = self._trusted
        if trusted and addr in trusted:
            joined = ",".join(lines("x-forwarded-for"))
            for hop in reversed(joined.split(",")) if joined else ():
                ip = _address(hop)
                if ip is None:
                    break  # garbage: stop at the last address we can vouch for
                addr = ip
                if ip not in trusted:
                    break
        edge = self._edge
        if edge is not None and addr in edge.networks:
            values = lines(edge.header)
            # The platform sets the header to one address; two lines or a list
            # mean someone else's value got through, and none is believed.
            if len(values) == 1:
                client = _address(values[0])
                if client is not None:
                    return str(client)
        return str(addr)


DEFAULT_POLICY = ProxyPolicy()


# -- extraction -----------------------------------------------------------------


def details_from_asgi(
    scope: Mapping[str, Any], policy: ProxyPolicy = DEFAULT_POLICY, body: bytes = b""
) -> RequestDetails:
    """Request details from an ASGI HTTP scope."""
    raw_headers = scope.get("headers") or []
    if len(raw_headers) > MAX_HEADERS:
        raw_headers = raw_headers[:MAX_HEADERS]
    host = ""
    for k, v in raw_headers:
        if k == b"host":
            host = v.decode("latin-1")
            break
    raw_path = scope.get("raw_path")
    if raw_path:
        path = raw_path.decode("latin-1")
        if "?" in path:  # some servers include the query in raw_path
            path = path.split("?", 1)[0]
    else:
        path = quote(scope.get("path", "/"), safe="/:@!$&'()*+,;=-._~")
    client = scope.get("client")
    peer = client[0] if client else ""
    ip = peer
    if policy is not DEFAULT_POLICY:
        # Every line of the scope, not the MAX_HEADERS kept for rules: a proxy
        # appends its X-Forwarded-For line last, where padding would push it out.
        every = scope.get("headers") or ()

        def lines(name: str) -> list[str]:
            key = name.encode()
            return [v.decode("latin-1") for k, v in every if k == key]

        ip = policy.client_ip(peer, lines)
    raw_headers = list(raw_headers)
    return RequestDetails._from_raw(
        ip,
        scope.get("method", "GET"),
        host,
        path,
        scope.get("query_string", b"").decode("latin-1"),
        raw_headers,
        body,
    )


def details_from_wsgi(
    environ: Mapping[str, Any], policy: ProxyPolicy = DEFAULT_POLICY, body: bytes = b""
) -> RequestDetails:
    """Request details from a PEP 3333 WSGI environ."""
    raw_headers: list[tuple[bytes, bytes]] = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").lower()
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if not value:
                continue
            name = key.replace("_", "-").lower()
        else:
            continue
        raw_headers.append((name.encode("latin-1"), str(value).encode("latin-1", "replace")))
        if len(raw_headers) >= MAX_HEADERS:
            break
    raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw_uri:
        path = raw_uri.split("?", 1)[0]
        # Absolute-form (RFC 9112 3.2.2) starts with a scheme; a "://" later in
        # an origin-form path is part of the path.
        if not path.startswith("/") and "://" in path:
            path = "/" + path.split("://", 1)[1].partition("/")[2]
    else:
        path_info = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        # PEP 3333: PATH_INFO holds the decoded bytes as Latin-1.
        path = quote(path_info.encode("latin-1", "replace"), safe="/:@!$&'()*+,;=-._~")
    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
    peer = environ.get("REMOTE_ADDR", "")
    ip = peer
    if policy is not DEFAULT_POLICY:

        def lines(name: str) -> list[str]:
            # The server has joined repeated lines into one value already.
            v = environ.get("HTTP_" + name.upper().replace("-", "_"))
            return [] if v is None else [str(v)]

        ip = policy.client_ip(peer, lines)
    return RequestDetails._from_raw(
        ip,
        environ.get("REQUEST_METHOD", "GET"),
        host,
        path or "/",
        environ.get("QUERY_STRING", ""),
        raw_headers,
        body,
    )


def details_from_object(request: Any, policy: ProxyPolicy = DEFAULT_POLICY) -> RequestDetails:
    """Request details from a framework request object, a mapping or RequestDetails.

    Understands Starlette/FastAPI requests (``.scope``), Werkzeug/Flask and
    Django requests (``.environ`` / ``.META``), ASGI scopes and WSGI environs.

    Raises:
        TypeError: for an object it cannot read.
    """
    if type(request) is dict or (
        not isinstance(request, RequestDetails) and isinstance(request, Mapping)
    ):
        kind = request.get("type")
        if kind == "http" or kind == "websocket":
            return details_from_asgi(request, policy)
        if "REQUEST_METHOD" in request:
            return details_from_wsgi(request, policy)
    elif isinstance(request, RequestDetails):
        return request
    scope = getattr(request, "scope", None)
    if isinstance(scope, Mapping):
        return details_from_asgi(scope, policy)
    environ = getattr(request, "environ", None)
    if isinstance(environ, Mapping):
        return details_from_wsgi(environ, policy)
    meta = getattr(request, "META", None)  # Django
    if isinstance(meta, Mapping):
        return details_from_wsgi(meta, policy)
    raise TypeError(
        "protect() takes an ASGI scope, a WSGI environ, a Starlette/Flask/Django request "
        f"or RequestDetails, not {type(request).__name__}"
    )
