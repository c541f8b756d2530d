"""DNS discovery against a real dnsmasq on 127.0.0.1."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from arcguard._endpoint import Candidate, DiscoveryError, discover, srv_order
from arcguard._endpoint.discovery import parse_txt_metadata
from tests.endpoint.support import DOMAIN, Dnsmasq, free_port

pytestmark = pytest.mark.integration


def seeded(seed: int) -> random.Random:
    """A reproducible rng for the weighted SRV draw (not for anything secret)."""
    return random.Random(seed)  # noqa: S311


def test_srv_candidates_come_in_priority_order_with_txt_regions(dns_server: Dnsmasq) -> None:
    found = discover(DOMAIN, nameserver="127.0.0.1", port=dns_server.port, timeout=2.0)
    assert {c.host for c in found} == {f"iad.{DOMAIN}", f"ord.{DOMAIN}", f"fra.{DOMAIN}"}
    assert [c.priority for c in found] == [10, 10, 20]
    via = f"127.0.0.1:{dns_server.port}"  # the targets resolve through the same server
    assert found[-1] == Candidate(f"fra.{DOMAIN}", 5003, 20, 0, None, via)
    by_host = {c.host: c for c in found}
    assert by_host[f"iad.{DOMAIN}"] == Candidate(f"iad.{DOMAIN}", 5001, 10, 60, "iad", via)
    assert by_host[f"ord.{DOMAIN}"] == Candidate(f"ord.{DOMAIN}", 5002, 10, 40, "ord", via)
    assert by_host[f"iad.{DOMAIN}"].target == f"dns://{via}/iad.{DOMAIN}:5001"


def test_weights_order_within_a_priority(dns_server: Dnsmasq) -> None:
    rng = seeded(7)
    found = discover(DOMAIN, nameserver="127.0.0.1", port=dns_server.port, txt=False)
    firsts = Counter(srv_order(found, rng=rng)[0].host for _ in range(4000))
    share = firsts[f"iad.{DOMAIN}"] / 4000
    assert 0.55 < share < 0.65  # weight 60 of 100
    assert firsts[f"fra.{DOMAIN}"] == 0  # priority 20 never precedes priority 10


def test_discover_order_is_reproducible_with_a_seeded_rng(dns_server: Dnsmasq) -> None:
    one = discover(DOMAIN, nameserver="127.0.0.1", port=dns_server.port, rng=seeded(3))
    two = discover(DOMAIN, nameserver="127.0.0.1", port=dns_server.port, rng=seeded(3))
    assert one == two


def test_missing_name_gives_no_candidates(dns_server: Dnsmasq) -> None:
    assert discover(f"nowhere.{DOMAIN}", nameserver="127.0.0.1", port=dns_server.port) == []


def test_name_without_srv_gives_no_candidates(dns_server: Dnsmasq) -> None:
    # iad.arcguard.test exists (A record) but _arcguard._tcp.iad... does not.
    assert discover(f"iad.{DOMAIN}", nameserver="127.0.0.1", port=dns_server.port) == []


def test_dot_target_means_service_not_offered(dns_server: Dnsmasq) -> None:
    assert discover(f"down.{DOMAIN}", nameserver="127.0.0.1", port=dns_server.port) == []


def test_unreachable_nameserver_raises_discovery_error() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(DiscoveryError):
        discover(DOMAIN, nameserver="127.0.0.1", port=port, timeout=0.3)


def test_zero_weights_are_all_kept() -> None:
    group = [Candidate(h, 1, priority=1, weight=0) for h in "abc"]
    assert sorted(c.host for c in srv_order(group, rng=seeded(1))) == ["a", "b", "c"]


def test_zero_weight_is_chosen_rarely_among_weighted() -> None:
    group = [Candidate("zero", 1, 1, 0), Candidate("heavy", 1, 1, 100)]
    rng = seeded(5)
    firsts = Counter(srv_order(group, rng=rng)[0].host for _ in range(2000))
    assert firsts["heavy"] > 1900


def test_txt_metadata_parsing() -> None:
    assert parse_txt_metadata([b"region=IAD  zone=a", "x"]) == {"region": "IAD", "zone": "a"}
