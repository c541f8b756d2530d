"""Real DNS servers on 127.0.0.1 for the sign-up tests: dnsmasq with the test
zone (tests/endpoint/support.py), and two small UDP servers of our own for
what dnsmasq will not do: one that never answers (timeouts) and one that
answers every query with SERVFAIL."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import dns.message
import dns.rcode

from tests.endpoint.support import Dnsmasq

__all__ = [
    "GLOBAL_V4",
    "GLOBAL_V6",
    "NEG_TTL",
    "NEG_ZONE",
    "ZONE",
    "ZONE_TTL",
    "UdpDns",
    "negative_ttl_dnsmasq",
    "signup_dnsmasq",
]

#: The test zone (NXDOMAIN for names it does not hold).
ZONE = "signup.test"
#: A zone served authoritatively, whose negative answers carry an SOA.
NEG_ZONE = "neg.test"
NEG_TTL = 45
#: Addresses that count as globally routable (never connected to).
GLOBAL_V4 = "93.184.215.14"
GLOBAL_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"
#: The TTL of every answer in the zone (its negative answers carry no SOA:
#: dnspython then caches them for 300 s, as most resolvers do).
ZONE_TTL = 60


@contextlib.contextmanager
def signup_dnsmasq() -> Iterator[Dnsmasq]:
    """dnsmasq serving the MX / A / AAAA / TXT / PTR cases of the tests."""
    with Dnsmasq.running(
        local_domains=[ZONE, "googlebot.com", "2.0.192.in-addr.arpa"],
        mx=[
            (f"good.{ZONE}", f"mx1.good.{ZONE}", 10),
            (f"good.{ZONE}", f"mx2.good.{ZONE}", 20),
        ],
        rr=[(f"nullmx.{ZONE}", 15, "000000")],  # "0 ." (RFC 7505)
        hosts=[
            (f"a.{ZONE}", GLOBAL_V4),
            (f"aaaa.{ZONE}", GLOBAL_V6),
            (f"private.{ZONE}", "10.0.0.5"),
            (f"spf.{ZONE}", GLOBAL_V4),
            # Reverse DNS of the bot tests: a verified "Googlebot" at a
            # documentation address (not in Google's published ranges)...
            ("crawl-192-0-2-10.googlebot.com", "192.0.2.10"),
            # ...and a PTR under googlebot.com whose name resolves elsewhere.
            ("crawl-192-0-2-30.googlebot.com", "192.0.2.99"),
        ],
        ptr=[
            ("20.2.0.192.in-addr.arpa", "evil.example.net"),
            ("30.2.0.192.in-addr.arpa", "crawl-192-0-2-30.googlebot.com"),
        ],
        txt=[(f"spf.{ZONE}", "v=spf1 -all")],
        local_ttl=ZONE_TTL,
    ) as server:
        yield server


@contextlib.contextmanager
def negative_ttl_dnsmasq() -> Iterator[Dnsmasq]:
    """dnsmasq authoritative for NEG_ZONE: NXDOMAIN with an SOA (negative TTL NEG_TTL).

    (Authoritative mode on 127.0.0.1 stops dnsmasq answering the reverse
    records of the other tests, hence a server of its own.)
    """
    with Dnsmasq.running(
        local_domains=[NEG_ZONE],
        hosts=[(f"a.{NEG_ZONE}", GLOBAL_V4)],
        args=[
            f"--auth-zone={NEG_ZONE}",
            f"--auth-server=ns.{NEG_ZONE},127.0.0.1",
            f"--auth-soa=1,hostmaster.{NEG_ZONE},1200,180,1209600",
            f"--auth-ttl={NEG_TTL}",
        ],
    ) as server:
        yield server


class UdpDns:
    """A UDP "DNS server" on 127.0.0.1 that drops every query (``servfail=False``)
    or answers each with SERVFAIL."""

    def __init__(self, *, servfail: bool) -> None:
        self.servfail = servfail
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self.received = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.received += 1
            if not self.servfail:
                continue  # read and dropped
            try:
                query = dns.message.from_wire(data)
            except Exception:  # noqa: S112 - not a DNS message: ignore it
                continue
            reply = dns.message.make_response(query)
            reply.set_rcode(dns.rcode.SERVFAIL)
            self.sock.sendto(reply.to_wire(), peer)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
