"""The client-IP walk on a browser GET: peer only, behind your proxy, behind Cloudflare.

Run: python -m pytest benchmarks/bench_client_ip.py -p no:cacheprovider -s --benchmark-only
"""

from __future__ import annotations

from typing import Any

import pytest
from _requests import browser_scope
from _stats import per_call

from arcguard import ProxyPolicy
from arcguard._request import details_from_asgi

CLIENT = "198.51.100.7"


def _scope(peer: str, *headers: tuple[bytes, bytes]) -> dict[str, Any]:
    scope = browser_scope()
    scope["client"] = (peer, 53122)
    scope["headers"] = [*scope["headers"], *headers]
    return scope


CASES = {
    "peer": (ProxyPolicy.build(), _scope(CLIENT)),
    "trusted_proxy": (
        ProxyPolicy.build(["10.0.0.0/8"]),
        _scope("10.0.0.2", (b"x-forwarded-for", b"198.51.100.7, 10.0.0.9")),
    ),
    "two_forwarded_for_lines": (
        ProxyPolicy.build(["10.0.0.0/8"]),
        _scope(
            "10.0.0.2", (b"x-forwarded-for", b"192.0.2.1"), (b"x-forwarded-for", CLIENT.encode())
        ),
    ),
    "cloudflare": (
        ProxyPolicy.build(platform="cloudflare"),
        _scope("162.158.1.1", (b"cf-connecting-ip", CLIENT.encode())),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_details_from_asgi_client_ip(benchmark, case: str) -> None:  # type: ignore[no-untyped-def]
    policy, scope = CASES[case]
    assert details_from_asgi(scope, policy).ip == CLIENT
    per_call(benchmark, lambda: details_from_asgi(scope, policy))
