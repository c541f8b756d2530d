"""X-Forwarded-For lines joined and read right to left; a platform's header only
from that platform's proxies."""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import tomllib
from pathlib import Path

import pytest

from arcguard import ArcGuard, ConfigurationError, ProxyPolicy
from arcguard._proxies import CLOUDFLARE_DATA, NetworkSet, check_cloudflare_document
from arcguard._request import details_from_asgi, details_from_wsgi

ROOT = Path(__file__).resolve().parents[2]
DEV = {"ARCGUARD_ENV": "development"}
ATTACKER, VICTIM = "203.0.113.66", "198.51.100.7"


def scope(peer: str, *headers: tuple[str, str]) -> dict[str, object]:
    return {
        "type": "http",
        "method": "GET",
        "path": "/",
        "client": (peer, 1234),
        "headers": [(k.encode(), v.encode()) for k, v in headers],
    }


def ip(policy: ProxyPolicy, peer: str, *headers: tuple[str, str]) -> str:
    return details_from_asgi(scope(peer, *headers), policy).ip


PROXY = ProxyPolicy.build(["10.0.0.0/8"])


def test_repeated_forwarded_for_lines_are_joined_in_order() -> None:
    # HAProxy's option forwardfor adds its own line after the client's.
    assert ip(PROXY, "10.0.0.2", ("x-forwarded-for", VICTIM), ("x-forwarded-for", ATTACKER)) == (
        ATTACKER
    )
    lines = [("x-forwarded-for", f"{VICTIM}, 10.0.0.9"), ("x-forwarded-for", "10.0.0.8")]
    assert ip(PROXY, "10.0.0.2", *lines) == VICTIM  # every hop after the client is ours


def test_the_proxy_line_counts_past_the_headers_kept_for_rules() -> None:
    padding = [(f"x-pad-{i}", "a") for i in range(200)]
    headers = [("x-forwarded-for", VICTIM), *padding, ("x-forwarded-for", ATTACKER)]
    assert ip(PROXY, "10.0.0.2", *headers) == ATTACKER


def test_wsgi_reads_the_value_the_server_joined() -> None:
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "REMOTE_ADDR": "10.0.0.2"}
    environ["HTTP_X_FORWARDED_FOR"] = f"{VICTIM},{ATTACKER}"
    assert details_from_wsgi(environ, PROXY).ip == ATTACKER


FLY = ProxyPolicy.build(platform="fly")
CLOUDFLARE = ProxyPolicy.build(platform="cloudflare")


@pytest.mark.parametrize(
    ("policy", "header", "proxy"),
    [
        (FLY, "fly-client-ip", "172.19.2.97"),  # Fly Proxy on the Machine's private IPv4
        (FLY, "fly-client-ip", "fdaa:0:1:a7b::2"),  # 6PN
        (CLOUDFLARE, "cf-connecting-ip", "173.245.48.1"),
        (CLOUDFLARE, "cf-connecting-ip", "2606:4700::6810:85e5"),
        (ProxyPolicy.build(platform="vercel"), "x-vercel-forwarded-for", "127.0.0.1"),
    ],
)
def test_a_platform_header_is_believed_from_that_platforms_proxy_only(
    policy: ProxyPolicy, header: str, proxy: str
) -> None:
    assert ip(policy, proxy, (header, VICTIM)) == VICTIM
    assert ip(policy, ATTACKER, (header, VICTIM)) == ATTACKER


def test_a_platform_header_with_two_values_is_not_believed() -> None:
    cf = "162.158.1.1"
    assert ip(CLOUDFLARE, cf, ("cf-connecting-ip", f"{VICTIM}, {ATTACKER}")) == cf
    two = [("cf-connecting-ip", VICTIM), ("cf-connecting-ip", ATTACKER)]
    assert ip(CLOUDFLARE, cf, *two) == cf
    assert ip(CLOUDFLARE, cf, ("cf-connecting-ip", "not-an-ip")) == cf


def test_cloudflare_behind_your_own_proxy() -> None:
    policy = ProxyPolicy.build(["10.0.0.0/8"], platform="cloudflare")
    via_cloudflare = ("x-forwarded-for", "6.6.6.6, 162.158.1.1")  # Cloudflare, then ours
    assert ip(policy, "10.0.0.2", via_cloudflare, ("cf-connecting-ip", VICTIM)) == VICTIM
    direct = ("x-forwarded-for", ATTACKER)  # someone reached our proxy without Cloudflare
    assert ip(policy, "10.0.0.2", direct, ("cf-connecting-ip", VICTIM)) == ATTACKER


@pytest.mark.parametrize(
    ("environ", "headers"),
    [
        ({"VERCEL": "1"}, [("x-vercel-forwarded-for", VICTIM), ("x-real-ip", VICTIM)]),
        ({"FLY_APP_NAME": "shop"}, [("fly-client-ip", VICTIM)]),
        ({"RENDER": "true"}, [("true-client-ip", VICTIM), ("x-real-ip", VICTIM)]),
        ({"RAILWAY_ENVIRONMENT": "production"}, [("x-real-ip", VICTIM)]),
    ],
)
def test_a_detected_platform_does_not_trust_its_header_from_any_peer(
    environ: dict[str, str], headers: list[tuple[str, str]]
) -> None:
    guard = ArcGuard(rules=[], environ={**DEV, **environ})
    try:
        assert guard.details(scope(ATTACKER, *headers)).ip == ATTACKER
    finally:
        guard.close()


def test_a_declared_platform_without_a_checkable_header_raises() -> None:
    with pytest.raises(ConfigurationError, match="trusted_proxies"):
        ArcGuard(rules=[], platform="render", environ=DEV)
    with pytest.raises(ConfigurationError, match="unknown platform 'cloudfare'"):
        ProxyPolicy.build(platform="cloudfare")


def test_the_cloudflare_ranges_ship_as_checked_package_data() -> None:
    path = ROOT / "arcguard" / CLOUDFLARE_DATA
    v4, v6 = check_cloudflare_document(json.loads(path.read_text()))
    assert "173.245.48.0/20" in v4 and "2606:4700::/32" in v6
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["arcguard"]
    assert any(fnmatch.fnmatch(CLOUDFLARE_DATA, p) for p in patterns)


def test_network_set_matches_like_ipaddress() -> None:
    networks = ["10.0.0.0/8", "10.2.0.0/16", "192.0.2.0/24", "fdaa::/16", "2001:db8::/32"]
    nets = NetworkSet(networks)
    parsed = [ipaddress.ip_network(n) for n in networks]
    for text in [
        "9.255.255.255", "10.0.0.0", "10.255.255.255", "11.0.0.0", "192.0.2.77",
        "192.0.3.0", "fdaa::1", "fdab::", "2001:db8:ffff::", "::1", "0.0.0.0",
    ]:  # fmt: skip
        address = ipaddress.ip_address(text)
        assert (address in nets) == any(address in n for n in parsed), text
