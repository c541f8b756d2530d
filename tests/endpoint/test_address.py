"""Endpoint parsing and the host allow-list."""

from __future__ import annotations

import pytest

from arcguard._endpoint import Candidate, HostAllowList, format_target, parse_endpoint
from arcguard._endpoint.address import is_loopback_target
from arcguard._exceptions import ConfigurationError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("decide.example.com", ("decide.example.com", 443)),
        ("Decide.Example.COM.:8443", ("decide.example.com", 8443)),
        ("grpcs://decide.example.com:9000/", ("decide.example.com", 9000)),
        ("127.0.0.1:50051", ("127.0.0.1", 50051)),
        ("[::1]:50051", ("::1", 50051)),
        ("::1", ("::1", 443)),
        ("localhost", ("localhost", 443)),
    ],
)
def test_parse_endpoint(value: str, expected: tuple[str, int]) -> None:
    assert parse_endpoint(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "host:0",
        "host:70000",
        "host:port",
        "user@host:1",
        "host/path",
        "[::1",
        "bad_-.x:1",
        "a..b",
    ],
)
def test_malformed_endpoint_raises(value: str) -> None:
    with pytest.raises(ConfigurationError):
        parse_endpoint(value)


def test_candidate_target_brackets_ipv6() -> None:
    assert Candidate("::1", 5).target == "[::1]:5"
    assert format_target("a.example.com", 1) == "a.example.com:1"


def test_allow_list_matches_domains_on_label_boundaries() -> None:
    allow = HostAllowList(["example.com"])
    assert allow.allows("example.com")
    assert allow.allows("iad.decide.example.com")
    assert allow.allows("EU.Example.com.")
    assert not allow.allows("badexample.com")
    assert not allow.allows("example.com.evil.test")


def test_allow_list_loopback_and_networks() -> None:
    allow = HostAllowList(["loopback", "10.1.0.0/16", "2001:db8::1"])
    assert allow.allows("127.0.0.1")
    assert allow.allows("127.9.9.9")
    assert allow.allows("::1")
    assert allow.allows("localhost")
    assert allow.allows("10.1.2.3")
    assert allow.allows("2001:db8::1")
    assert not allow.allows("10.2.0.1")
    assert not allow.allows("192.0.2.1")


def test_allow_list_check_names_host_and_list() -> None:
    allow = HostAllowList(["decide.example.com", "loopback"])
    with pytest.raises(ConfigurationError) as caught:
        allow.check("collector.evil.test", what="ARCGUARD_ENDPOINT")
    message = str(caught.value)
    assert "collector.evil.test" in message
    assert "decide.example.com" in message
    assert "loopback" in message


def test_invalid_allow_list_entry_raises() -> None:
    with pytest.raises(ConfigurationError):
        HostAllowList(["exa mple.com"])


def test_a_target_resolved_through_dns_is_not_loopback_by_its_server() -> None:
    assert not is_loopback_target("dns://127.0.0.1:5353/decide.example.com:443")
    assert is_loopback_target("dns://127.0.0.1:5353/localhost:443")
    assert is_loopback_target("dns:///[::1]:443")
