"""DNS checks of the sign-up rules: an email domain's mail exchangers and a
client IP's forward-confirmed reverse DNS. The only module that touches
dnspython; its exceptions become outcomes here, never leave.

Each check is written once as a generator that *yields* queries
``(name, rdtype)`` and receives :class:`Reply` values (sans-I/O);
:meth:`DnsChecker.mx` / :meth:`DnsChecker.fcrdns` drive it with dnspython's
blocking resolver, :meth:`DnsChecker.amx` / :meth:`DnsChecker.afcrdns` with its
asyncio resolver, so both faces answer alike.

Every check is bounded by :attr:`DnsSettings.timeout` in all (the queries of
one check share that deadline); what does not answer in time is ``UNKNOWN``,
as is a SERVFAIL. Results are cached, bounded (LRU), for the DNS TTL of the
answers they rest on (negative answers: the SOA's negative TTL, RFC 2308),
capped by :attr:`DnsSettings.max_ttl`; failures for
:attr:`DnsSettings.failure_ttl`.

MX (RFC 5321 5.1, RFC 7505): MX records -> mail (a single null MX ``0 .``:
no mail). No MX: a ``v=spf1 -all`` TXT record -> no mail; else the A/AAAA
records stand in for an MX, but only a globally routable address counts.
NXDOMAIN -> no mail.
"""

from __future__ import annotations

import ipaddress
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any, NamedTuple

import dns.asyncresolver
import dns.exception
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver
import dns.reversename

from .._exceptions import ConfigurationError

__all__ = [
    "DEFAULT_DNS_TIMEOUT",
    "DnsChecker",
    "DnsSettings",
    "MxResult",
    "RdnsResult",
    "Reply",
]

#: Seconds one check (all its queries) may take before it is UNKNOWN.
DEFAULT_DNS_TIMEOUT = 1.0
#: Results kept in the cache.
DEFAULT_CACHE_SIZE = 10_000
#: Longest a result is cached, whatever its TTL says.
DEFAULT_MAX_TTL = 3600.0
#: How long a failed check (timeout, SERVFAIL) is remembered.
DEFAULT_FAILURE_TTL = 5.0
#: PTR names of one address that are followed forward (a bound on work).
MAX_PTR_NAMES = 3


class DnsSettings:
    """Where and how the DNS checks ask (immutable).

    Parameters:
        nameservers: ``"host"`` or ``"host:port"`` (``"[v6]:port"``); empty:
            the system's resolvers (``/etc/resolv.conf``).
        timeout: seconds one check may take in all.
        cache_size / max_ttl / failure_ttl: see the module docstring.

    Raises:
        ConfigurationError: a malformed server or an out-of-range number.
    """

    __slots__ = ("cache_size", "failure_ttl", "max_ttl", "nameservers", "timeout")

    def __init__(
        self,
        nameservers: Sequence[str] = (),
        *,
        timeout: float = DEFAULT_DNS_TIMEOUT,
        cache_size: int = DEFAULT_CACHE_SIZE,
        max_ttl: float = DEFAULT_MAX_TTL,
        failure_ttl: float = DEFAULT_FAILURE_TTL,
    ) -> None:
        if not 0 < timeout <= 30:
            raise ConfigurationError(f"DNS timeout must be in (0, 30] seconds, got {timeout!r}")
        if cache_size < 0 or max_ttl < 0 or failure_ttl < 0:
            raise ConfigurationError("DNS cache size and TTLs must be >= 0")
        servers = tuple(nameservers)
        for s in servers:
            _server(s)
        self.nameservers: tuple[str, ...] = servers
        self.timeout = float(timeout)
        self.cache_size = cache_size
        self.max_ttl = float(max_ttl)
        self.failure_ttl = float(failure_ttl)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> DnsSettings:
        """``ARCGUARD_DNS_SERVERS`` (comma-separated) and ``ARCGUARD_DNS_TIMEOUT`` (s).

        Raises:
            ConfigurationError: a malformed value.
        """
        servers = [s.strip() for s in environ.get("ARCGUARD_DNS_SERVERS", "").split(",")]
        raw = environ.get("ARCGUARD_DNS_TIMEOUT", "").strip()
        try:
            timeout = float(raw) if raw else DEFAULT_DNS_TIMEOUT
        except ValueError:
            raise ConfigurationError(f"ARCGUARD_DNS_TIMEOUT: not a number: {raw!r}") from None
        return cls([s for s in servers if s], timeout=timeout)

    def __repr__(self) -> str:
        return f"DnsSettings(nameservers={self.nameservers!r}, timeout={self.timeout})"


_HOST_PORT = re.compile(r"^(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:]+))(?::(?P<port>\d+))?$")


def _server(spec: str) -> dns.nameserver.Do53Nameserver:
    m = _HOST_PORT.match(spec.strip())
    bare_v6 = spec.count(":") > 1 and not spec.startswith("[")
    host = spec.strip() if bare_v6 else (m.group("v6") or m.group("host")) if m else None
    port = 53 if bare_v6 or m is None or m.group("port") is None else int(m.group("port"))
    try:
        ipaddress.ip_address(host or "")
    except ValueError:
        raise ConfigurationError(
            f"DNS server {spec!r}: expected an IP address with an optional :port"
        ) from None
    if not 0 < port < 65536:
        raise ConfigurationError(f"DNS server {spec!r}: port out of range")
    return dns.nameserver.Do53Nameserver(str(host), port)


class Reply(NamedTuple):
    """The answer to one query, as the checks see it.

    ``status``: ``"ok"`` (``records`` may be empty: no data), ``"nxdomain"``,
    ``"timeout"``, ``"servfail"`` or ``"error"``. ``ttl``: how long the answer
    may be cached (negative answers: RFC 2308), None when unknown.
    """

    status: str
    records: tuple[Any, ...] = ()
    ttl: float | None = None
    detail: str = ""


class MxResult(NamedTuple):
    """Whether a domain receives mail.

    ``has_mail``: True, False, or None when it could not be told (UNKNOWN).
    ``outcome``: ``mx``, ``null_mx``, ``a_fallback``, ``spf_reject_all``,
    ``private_address``, ``no_mail_host``, ``nxdomain``, ``timeout``,
    ``servfail``, ``error``. ``ttl``: seconds the result may be cached.
    """

    outcome: str
    has_mail: bool | None
    detail: str
    ttl: float


class RdnsResult(NamedTuple):
    """Forward-confirmed reverse DNS of an IP against a bot's domains.

    ``status``: ``verified`` (a PTR name under one of the domains resolves
    back to the IP), ``spoofed`` (no PTR, a PTR elsewhere, or a forward
    lookup that does not return the IP), ``unknown`` (DNS failed or timed out).
    """

    status: str
    detail: str
    name: str | None
    ttl: float


_Check = Generator[tuple[str, str], Reply, Any]
_SPF_REJECT_ALL = re.compile(r"^v=spf1\s+-all\s*$", re.IGNORECASE)


def _min_ttl(ttls: Sequence[float | None], default: float) -> float:
    known = [t for t in ttls if t is not None]
    return min(known) if known else default


def mx_check(domain: str, failure_ttl: float = DEFAULT_FAILURE_TTL) -> _Check:
    """The MX check of an ASCII domain (see the module docstring); no I/O."""
    mx = yield (domain, "MX")
    if mx.status == "nxdomain":
        return MxResult("nxdomain", False, f"{domain} does not exist (NXDOMAIN)", mx.ttl or 0.0)
    if mx.status != "ok":
        return MxResult(mx.status, None, mx.detail, failure_ttl)
    if mx.records:
        hosts = sorted((r.preference, r.exchange) for r in mx.records)
        if all(h == dns.name.root for _, h in hosts):
            return MxResult("null_mx", False, f"{domain} has a null MX (RFC 7505)", mx.ttl or 0.0)
        real = [h for _, h in hosts if h != dns.name.root]
        first = real[0].to_text(omit_final_dot=True)
        return MxResult("mx", True, f"{len(real)} MX, preferred {first}", mx.ttl or 0.0)
    ttls: list[float | None] = [mx.ttl]
    txt = yield (domain, "TXT")
    if txt.status == "ok":
        ttls.append(txt.ttl)
        for r in txt.records:
            text = b"".join(r.strings).decode("utf-8", "replace").strip()
            if _SPF_REJECT_ALL.match(text):
                detail = f"{domain} has no MX and publishes SPF {text!r}"
                return MxResult("spf_reject_all", False, detail, _min_ttl(ttls, 0.0))
    addresses: list[str] = []
    failures: list[Reply] = []
    for rdtype in ("A", "AAAA"):
        reply = yield (domain, rdtype)
        if reply.status == "ok":
            ttls.append(reply.ttl)
            addresses += [r.address for r in reply.records]
        elif reply.status != "nxdomain":
            failures.append(reply)
    routable = [a for a in addresses if ipaddress.ip_address(a).is_global]
    if routable:
        detail = f"no MX; address {routable[0]} stands in (RFC 5321 5.1)"
        return MxResult("a_fallback", True, detail, _min_ttl(ttls, 0.0))
    if failures:
        return MxResult(failures[0].status, None, failures[0].detail, failure_ttl)
    if addresses:
        detail = f"no MX, and {addresses[0]} is not a globally routable address"
        return MxResult("private_address", False, detail, _min_ttl(ttls, 0.0))
    return MxResult("no_mail_host", False, f"{domain} has no MX, A or AAAA", _min_ttl(ttls, 0.0))


def _under(name: str, suffixes: Sequence[str]) -> bool:
    return any(name == s or name.endswith("." + s) for s in suffixes)


def fcrdns_check(
    ip: str, suffixes: Sequence[str], failure_ttl: float = DEFAULT_FAILURE_TTL
) -> _Check:
    """Forward-confirmed reverse DNS of ``ip`` against ``suffixes``; no I/O."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return RdnsResult("spoofed", f"{ip!r} is not an IP address", None, failure_ttl)
    rev = dns.reversename.from_address(str(addr)).to_text()
    ptr = yield (rev, "PTR")
    if ptr.status == "nxdomain" or (ptr.status == "ok" and not ptr.records):
        return RdnsResult("spoofed", f"{ip} has no PTR record", None, ptr.ttl or 0.0)
    if ptr.status != "ok":
        return RdnsResult("unknown", ptr.detail, None, failure_ttl)
    names = [r.target.to_text(omit_final_dot=True).lower() for r in ptr.records]
    matching = [n for n in names if _under(n, suffixes)][:MAX_PTR_NAMES]
    if not matching:
        detail = f"PTR {names[0]} is not under {', '.join(suffixes)}"
        return RdnsResult("spoofed", detail, names[0], ptr.ttl or 0.0)
    ttls: list[float | None] = [ptr.ttl]
    unknown: Reply | None = None
    for name in matching:
        fwd = yield (name, "A" if addr.version == 4 else "AAAA")
        if fwd.status == "ok":
            ttls.append(fwd.ttl)
            if any(ipaddress.ip_address(r.address) == addr for r in fwd.records):
                return RdnsResult("verified", f"{ip} is {name}", name, _min_ttl(ttls, 0.0))
        elif fwd.status != "nxdomain":
            unknown = fwd
    if unknown is not None:
        return RdnsResult("unknown", unknown.detail, matching[0], failure_ttl)
    detail = f"{matching[0]} does not resolve back to {ip}"
    return RdnsResult("spoofed", detail, matching[0], _min_ttl(ttls, 0.0))


class _TtlCache:
    """A bounded LRU of results, each expiring after its own TTL."""

    def __init__(self, size: int, clock: Callable[[], float]) -> None:
        self._size = size
        self._clock = clock
        self._data: OrderedDict[tuple[str, ...], tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, ...]) -> Any:
        with self._lock:
            hit = self._data.get(key)
            if hit is None:
                return None
            if hit[0] <= self._clock():
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return hit[1]

    def put(self, key: tuple[str, ...], value: Any, ttl: float) -> None:
        if ttl <= 0 or self._size == 0:
            return
        with self._lock:
            self._data[key] = (self._clock() + ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self._size:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


class DnsChecker:
    """The MX and reverse-DNS checks, cached, with a blocking and an asyncio face.

    Example::

        checker = DnsChecker(DnsSettings(["127.0.0.1:5353"], timeout=0.5))
        checker.mx("example.com").has_mail     # True / False / None (UNKNOWN)

    Parameters:
        settings: servers, timeout and cache bounds.
        clock: monotonic seconds (tests inject one to age the cache).

    Attributes:
        queries: DNS queries sent so far (a cache hit sends none).
    """

    def __init__(
        self, settings: DnsSettings | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings or DnsSettings()
        self._clock = clock
        self._cache = _TtlCache(self.settings.cache_size, clock)
        self._sync: dns.resolver.Resolver | None = None
        self._async: dns.asyncresolver.Resolver | None = None
        self._lock = threading.Lock()
        self.queries = 0

    # -- resolvers ------------------------------------------------------------------

    def _configure(self, r: dns.resolver.BaseResolver) -> None:
        if self.settings.nameservers:
            r.nameservers = [_server(s) for s in self.settings.nameservers]
        r.timeout = self.settings.timeout
        r.lifetime = self.settings.timeout
        r.cache = None  # results are cached here, by their meaning
        r.search = []

    def _resolver(self) -> dns.resolver.Resolver:
        if self._sync is None:
            with self._lock:
                if self._sync is None:
                    r = dns.resolver.Resolver(configure=not self.settings.nameservers)
                    self._configure(r)
                    self._sync = r
        return self._sync

    def _aresolver(self) -> dns.asyncresolver.Resolver:
        if self._async is None:
            r = dns.asyncresolver.Resolver(configure=not self.settings.nameservers)
            self._configure(r)
            self._async = r
        return self._async

    # -- replies --------------------------------------------------------------------

    def _reply(self, answer: dns.resolver.Answer) -> Reply:
        rrset = answer.rrset
        records = tuple(rrset) if rrset is not None else ()
        return Reply("ok", records, float(answer.chaining_result.minimum_ttl))

    def _failure(self, exc: BaseException, name: str, rdtype: str) -> Reply:
        if isinstance(exc, dns.resolver.NXDOMAIN):
            ttl: float | None = None
            responses: dict[Any, Any] = exc.responses()  # type: ignore[no-untyped-call]
            for response in responses.values():
                try:
                    ttl = float(response.resolve_chaining().minimum_ttl)
                except dns.exception.DNSException:
                    ttl = None
                break
            return Reply("nxdomain", (), ttl, f"{name} does not exist")
        if isinstance(exc, dns.exception.Timeout):
            limit = self.settings.timeout
            return Reply("timeout", (), None, f"{rdtype} {name}: no answer within {limit:g} s")
        if isinstance(exc, dns.resolver.NoNameservers):
            return Reply("servfail", (), None, f"{rdtype} {name}: every server failed (SERVFAIL)")
        return Reply("error", (), None, f"{rdtype} {name}: {type(exc).__name__}: {exc}")

    def _remaining(self, deadline: float) -> float:
        return deadline - self._clock()

    def _query(self, name: str, rdtype: str, deadline: float) -> Reply:
        left = self._remaining(deadline)
        if left <= 0:
            return Reply("timeout", (), None, f"{rdtype} {name}: out of time")
        self.queries += 1
        try:
            answer = self._resolver().resolve(
                name, rdtype, lifetime=left, raise_on_no_answer=False, search=False
            )
        except (dns.exception.DNSException, OSError, ValueError) as exc:
            return self._failure(exc, name, rdtype)
        return self._reply(answer)

    async def _aquery(self, name: str, rdtype: str, deadline: float) -> Reply:
        left = self._remaining(deadline)
        if left <= 0:
            return Reply("timeout", (), None, f"{rdtype} {name}: out of time")
        self.queries += 1
        try:
            answer = await self._aresolver().resolve(
                name, rdtype, lifetime=left, raise_on_no_answer=False, search=False
            )
        except (dns.exception.DNSException, OSError, ValueError) as exc:
            return self._failure(exc, name, rdtype)
        return self._reply(answer)

    # -- drivers --------------------------------------------------------------------

    def _run(self, check: _Check) -> Any:
        deadline = self._clock() + self.settings.timeout
        try:
            name, rdtype = next(check)
            while True:
                name, rdtype = check.send(self._query(name, rdtype, deadline))
        except StopIteration as stop:
            return stop.value

    async def _arun(self, check: _Check) -> Any:
        deadline = self._clock() + self.settings.timeout
        try:
            name, rdtype = next(check)
            while True:
                name, rdtype = check.send(await self._aquery(name, rdtype, deadline))
        except StopIteration as stop:
            return stop.value

    def _capped(self, ttl: float) -> float:
        return min(ttl, self.settings.max_ttl)

    # -- checks ---------------------------------------------------------------------

    def mx(self, domain: str) -> MxResult:
        """Whether ``domain`` (ASCII) receives mail (blocking; cached)."""
        key = ("mx", domain)
        hit: MxResult | None = self._cache.get(key)
        if hit is None:
            hit = self._run(mx_check(domain, self.settings.failure_ttl))
            self._cache.put(key, hit, self._capped(hit.ttl))
        return hit

    async def amx(self, domain: str) -> MxResult:
        """The asyncio face of :meth:`mx`."""
        key = ("mx", domain)
        hit: MxResult | None = self._cache.get(key)
        if hit is None:
            hit = await self._arun(mx_check(domain, self.settings.failure_ttl))
            self._cache.put(key, hit, self._capped(hit.ttl))
        return hit

    def fcrdns(self, ip: str, suffixes: Sequence[str]) -> RdnsResult:
        """Forward-confirmed reverse DNS of ``ip`` against ``suffixes`` (blocking; cached)."""
        key = ("rdns", ip, *suffixes)
        hit: RdnsResult | None = self._cache.get(key)
        if hit is None:
            hit = self._run(fcrdns_check(ip, suffixes, self.settings.failure_ttl))
            self._cache.put(key, hit, self._capped(hit.ttl))
        return hit

    async def afcrdns(self, ip: str, suffixes: Sequence[str]) -> RdnsResult:
        """The asyncio face of :meth:`fcrdns`."""
        key = ("rdns", ip, *suffixes)
        hit: RdnsResult | None = self._cache.get(key)
        if hit is None:
            hit = await self._arun(fcrdns_check(ip, suffixes, self.settings.failure_ttl))
            self._cache.put(key, hit, self._capped(hit.ttl))
        return hit

    @property
    def cached(self) -> int:
        """Results held in the cache (some may have expired and not yet been dropped)."""
        return len(self._cache)
