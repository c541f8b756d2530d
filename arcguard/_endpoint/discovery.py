"""Candidate discovery through DNS SRV and TXT records (dnspython).

The one module that touches dnspython: its exceptions are translated here.

Records read::

    _arcguard._tcp.<domain>.  SRV  <priority> <weight> <port> <target>.
    <target>.                 TXT  "region=iad"

With a *nameserver* given, every candidate names it
(:attr:`~.address.Candidate.nameserver`), so its target is
``dns://<nameserver>/<host>:<port>``: gRPC then resolves the SRV target's
A/AAAA records with the same server as the SRV query, not the system's
resolver (which need not know the discovery domain at all).

SRV answers are ordered as RFC 2782 asks: by priority, lowest first, and
within one priority by a weighted random draw (weight 0 entries are picked
rarely but not never). A single SRV record whose target is ``.`` says the
service is deliberately not offered: the result is empty. TXT metadata is
optional: a missing or failing TXT lookup leaves the region ``None``. TXT
strings hold space-separated ``key=value`` pairs; ``region`` is read.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

from .._exceptions import DiscoveryError
from .address import Candidate, format_target
from .settings import DEFAULT_DNS_PORT, DEFAULT_DNS_TIMEOUT

__all__ = [
    "SRV_SERVICE",
    "DiscoveryError",
    "discover",
    "parse_txt_metadata",
    "srv_order",
]

#: Service and protocol labels put in front of the discovery domain.
SRV_SERVICE = "_arcguard._tcp"


def srv_order(
    candidates: Sequence[Candidate], *, rng: random.Random | None = None
) -> list[Candidate]:
    """Order SRV candidates as RFC 2782 says a client should try them.

    Parameters:
        candidates: the candidates, with their SRV priority and weight.
        rng: source of randomness for the weighted draw (inject for tests).

    Returns:
        A new list: priorities ascending; within a priority, a weighted random
        permutation where an entry's chance of coming next is proportional to
        its weight.

    Example::

        >>> found = [Candidate("b", 1, priority=20), Candidate("a", 1, priority=10)]
        >>> [c.host for c in srv_order(found)]
        ['a', 'b']
    """
    rng = rng or random.Random()  # noqa: S311 - load spreading, not security
    ordered: list[Candidate] = []
    for priority in sorted({c.priority for c in candidates}):
        # RFC 2782: zero-weight entries go first in the running sum, so they
        # can still be chosen when the random number is 0. Sorting by name too
        # makes the order depend on the rng alone, not on the server's answer order.
        group = sorted(
            (c for c in candidates if c.priority == priority),
            key=lambda c: (c.weight != 0, c.host, c.port),
        )
        while group:
            total = sum(c.weight for c in group)
            pick = rng.randint(0, total) if total else 0
            running = 0
            for index, candidate in enumerate(group):
                running += candidate.weight
                if running >= pick:
                    ordered.append(group.pop(index))
                    break
    return ordered


def parse_txt_metadata(strings: Sequence[bytes | str]) -> dict[str, str]:
    """Parse TXT character-strings holding ``key=value`` pairs.

    Example::

        >>> parse_txt_metadata([b"region=iad weight=2", b"v=1"])
        {'region': 'iad', 'weight': '2', 'v': '1'}
    """
    result: dict[str, str] = {}
    for item in strings:
        text = item.decode("utf-8", "replace") if isinstance(item, bytes) else item
        for pair in text.split():
            key, sep, value = pair.partition("=")
            if sep and key:
                result[key.strip().lower()] = value.strip()
    return result


def _resolver(nameserver: str | None, port: int, timeout: float) -> dns.resolver.Resolver:
    if nameserver is None:
        try:
            resolver = dns.resolver.Resolver(configure=True)
        except dns.exception.DNSException as exc:
            raise DiscoveryError(f"cannot read the system DNS configuration: {exc}") from exc
    else:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [nameserver]
    resolver.port = port
    resolver.timeout = timeout
    resolver.lifetime = timeout
    return resolver


def _query(resolver: dns.resolver.Resolver, name: str, rdtype: str) -> Any:
    try:
        return resolver.resolve(name, rdtype, search=False, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return None
    except dns.exception.Timeout as exc:
        raise DiscoveryError(f"DNS {rdtype} query for {name} timed out: {exc}") from exc
    except dns.resolver.NoNameservers as exc:
        raise DiscoveryError(
            f"no DNS server answered the {rdtype} query for {name}: {exc}"
        ) from exc
    except dns.exception.DNSException as exc:
        raise DiscoveryError(f"DNS {rdtype} query for {name} failed: {exc}") from exc


def discover(
    domain: str,
    *,
    nameserver: str | None = None,
    port: int = DEFAULT_DNS_PORT,
    timeout: float = DEFAULT_DNS_TIMEOUT,
    txt: bool = True,
    rng: random.Random | None = None,
) -> list[Candidate]:
    """Read the regional endpoints of *domain* from DNS.

    Parameters:
        domain: the discovery domain; ``_arcguard._tcp.<domain>`` is queried.
        nameserver: IP address of the DNS server; None uses the system's. When
            given, each candidate's target resolves through it too.
        port: the DNS server's port.
        timeout: seconds each query may take in all.
        txt: whether to read ``region=`` TXT metadata on each target.
        rng: randomness for the RFC 2782 weighted order (inject for tests).

    Returns:
        The candidates in RFC 2782 order; empty when the name has no SRV
        record or when the service is explicitly not offered (target ``.``).

    Raises:
        DiscoveryError: the DNS server timed out, refused or failed.

    Example::

        discover("decide.example.com", nameserver="127.0.0.1", port=5353)
    """
    resolver = _resolver(nameserver, port, timeout)
    name = f"{SRV_SERVICE}.{domain.rstrip('.')}."
    answer = _query(resolver, name, "SRV")
    if answer is None or answer.rrset is None:
        return []
    records = list(answer.rrset)
    if len(records) == 1 and records[0].target == dns.name.root:
        return []
    via = None if nameserver is None else format_target(nameserver, port)
    found: list[Candidate] = []
    for record in records:
        host = record.target.to_text(omit_final_dot=True).lower()
        region = None
        if txt:
            region = _txt_region(resolver, record.target.to_text())
        found.append(
            Candidate(host, int(record.port), int(record.priority), int(record.weight), region, via)
        )
    return srv_order(found, rng=rng)


def _txt_region(resolver: dns.resolver.Resolver, name: str) -> str | None:
    try:
        answer = _query(resolver, name, "TXT")
    except DiscoveryError:
        return None  # metadata is optional; the SRV answer stands alone
    if answer is None or answer.rrset is None:
        return None
    for record in answer.rrset:
        region = parse_txt_metadata(record.strings).get("region")
        if region:
            return region.lower()
    return None
