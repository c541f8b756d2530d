"""Request details: what a rule may look at, taken from an ASGI scope, a WSGI
environ or a framework's request object, with the client IP found through a
trusted-proxy policy.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable, Mapping
from functools import lru_cache
from itertools import chain
from typing import Any
from urllib.parse import parse_qsl, quote

from ._exceptions import ConfigurationError
from ._frozen import Frozen

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

#: The header a platform's edge sets to the real client IP, trusted only when
#: that platform is detected from the environment (or declared).
PLATFORM_IP_HEADERS: Mapping[str, str] = {
    "fly": "fly-client-ip",
    "cloudflare": "cf-connecting-ip",
    "vercel": "x-real-ip",
    "render": "true-client-ip",
    "railway": "x-real-ip",
    "firebase": "x-fah-client-ip",
}


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
_set = object.__setattr__


def _parse_ip(value: str) -> str | None:
    """Canonical text of an IP (IPv4-mapped IPv6 as IPv4), or None if invalid."""
    v = value.strip()
    if v.startswith("[") and "]" in v:  # [v6]:port
        v = v[1 : v.index("]")]
    elif v.count(":") == 1 and "." in v:  # v4:port
        v = v.split(":", 1)[0]
    v = v.split("%", 1)[0]
    try:
        addr = ipaddress.ip_address(v)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)


class ProxyPolicy(Frozen):
    """How the client IP is found.

    Attributes:
        trusted_proxies: networks of proxies whose ``X-Forwarded-For`` is believed.
        platform: a platform name (``"fly"``, ``"cloudflare"``...) whose client-IP
            header is believed; set from platform detection or explicitly.

    ``X-Forwarded-For`` is read right to left while the hop is a trusted proxy:
    the first untrusted address is the client. A header from an untrusted peer
    never changes the IP.

    Immutable; equal when the fields are equal, hashable, picklable.
    """

    # A Frozen (plain __slots__) class, not a frozen dataclass: see _frozen.
    __slots__ = ("platform", "trusted_proxies")
    _fields = __match_args__ = ("trusted_proxies", "platform")

    trusted_proxies: tuple[_Network, ...]
    platform: str | None

    def __init__(
        self, trusted_proxies: tuple[_Network, ...] = (), platform: str | None = None
    ) -> None:
        _set(self, "trusted_proxies", trusted_proxies)
        _set(self, "platform", platform)

    @classmethod
    def build(cls, trusted_proxies: Iterable[str] = (), platform: str | None = None) -> ProxyPolicy:
        """Validates the options.

        Raises:
            ConfigurationError: on an invalid network or unknown platform.
        """
        nets = []
        for p in trusted_proxies:
            try:
                nets.append(ipaddress.ip_network(p, strict=False))
            except ValueError:
                raise ConfigurationError(
                    f"trusted_proxies: {p!r} is not an IP address or CIDR range"
                ) from None
        if platform is not None and platform not in PLATFORM_IP_HEADERS:
            platform = None  # a detected platform without a client-IP header
        if not nets and platform is None and cls is ProxyPolicy:
            # The shared default (an equal value): the request readers know it
            # means the socket peer, and skip the client-IP lookup per request.
            return DEFAULT_POLICY
        return cls(trusted_proxies=tuple(nets), platform=platform)

    def _trusted(self, ip: str) -> bool:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(addr in net for net in self.trusted_proxies)

    def client_ip(self, peer: str, header: Any) -> str:
        """The client IP, given the socket peer and a ``header(name)`` lookup."""
        if self.platform is not None:
            value = header(PLATFORM_IP_HEADERS[self.platform])
            if value:
                ip = _parse_ip(value.split(",")[0])
                if ip is not None:
                    return ip
        if not self.trusted_proxies:
            return peer
        current = _parse_ip(peer) or peer
        if not self._trusted(current):
            return current
        xff = header("x-forwarded-for")
        if not xff:
            return current
        for hop in reversed(xff.split(",")):
            ip = _parse_ip(hop)
            if ip is None:
                return current  # garbage: stop at the last address we can vouch for
            current = ip
            if not self._trusted(ip):
                return ip
        return current


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
    raw_headers = list(raw_headers)
    ip = peer
    if policy is not DEFAULT_POLICY:

        def header(name: str) -> str | None:
            key = name.encode()
            for k, v in raw_headers:
                if k == key:
                    return str(v.decode("latin-1"))
            return None

        ip = policy.client_ip(peer, header)
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
        if "://" in path:  # absolute-form request target
            path = "/" + path.split("://", 1)[1].partition("/")[2]
    else:
        path_info = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        # PEP 3333: PATH_INFO holds the decoded bytes as Latin-1.
        path = quote(path_info.encode("latin-1", "replace"), safe="/:@!$&'()*+,;=-._~")
    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
    peer = environ.get("REMOTE_ADDR", "")
    ip = peer
    if policy is not DEFAULT_POLICY:

        def header(name: str) -> str | None:
            v = environ.get("HTTP_" + name.upper().replace("-", "_"))
            return None if v is None else str(v)

        ip = policy.client_ip(peer, header)
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
