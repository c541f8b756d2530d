"""Malformed requests are evaluated or rejected within the bound and never raise."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arcguard import ArcGuard, Conclusion, RequestDetails, detect_bot, filter_rule, shield

DEV = {"ARCGUARD_ENV": "development"}


@pytest.fixture(scope="module")
def guard() -> ArcGuard:
    return ArcGuard(
        rules=[
            shield(mode="LIVE"),
            detect_bot(mode="LIVE", deny=["CATEGORY:HTTP_LIBRARY"]),
            filter_rule(
                mode="LIVE",
                deny=[
                    'lower(http.request.uri.path) contains "/admin"',
                    'http.request.headers["x-a"] matches "^z+$"',
                ],
            ),
        ],
        environ=DEV,
    )


def scope(path: bytes, query: bytes, headers: list[tuple[bytes, bytes]], client: str) -> dict:
    return {
        "type": "http",
        "method": "GET",
        "path": path.decode("latin-1"),
        "raw_path": path,
        "query_string": query,
        "client": (client, 1),
        "headers": headers,
    }


BAD_INPUTS = [
    scope(b"/\xff\xfe", b"a=\xc3\x28", [(b"user-agent", b"\xff\xfe\xfd")], "1.2.3.4"),
    scope(b"/", b"&".join(b"p%d=%d" % (i, i) for i in range(10_000)), [], "1.2.3.4"),
    scope(b"/x\x00y", b"q=\x00", [(b"x-a", b"\x00" * 100)], "1.2.3.4"),
    scope(b"/%zz%", b"q=%%%41%G1%", [], "1.2.3.4"),
    scope(b"/", b"", [(b"x-big", b"A" * 1_000_000)], "1.2.3.4"),
    scope(b"/", b"", [(b"user-agent", b"ua")] * 5000, "not-an-ip"),
    scope(b"/" + b"%25" * 100_000, b"", [], "::1"),
]


@pytest.mark.parametrize(
    "s",
    BAD_INPUTS,
    ids=["utf8", "10k-params", "nul", "percent", "1MB-header", "5000-headers", "100k-%25"],
)
def test_pathological_requests_give_a_decision(guard: ArcGuard, s: dict) -> None:
    d = guard.protect(s)
    assert d.conclusion in (Conclusion.ALLOW, Conclusion.DENY)


def test_a_scope_missing_everything_still_gives_a_decision(guard: ArcGuard) -> None:
    d = guard.protect({"type": "http"})
    assert d.conclusion in (Conclusion.ALLOW, Conclusion.DENY, Conclusion.ERROR)


text = st.text(max_size=200)
raw = st.binary(max_size=200)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=raw,
    query=raw,
    headers=st.lists(st.tuples(raw.map(bytes.lower), raw), max_size=20),
    client=st.one_of(st.ip_addresses().map(str), text),
    method=st.sampled_from(["GET", "POST", "PUT", "", "G\x00T"]),
)
def test_random_scopes_never_raise(
    guard: ArcGuard,
    path: bytes,
    query: bytes,
    headers: list[tuple[bytes, bytes]],
    client: str,
    method: str,
) -> None:
    s = scope(path, query, headers, client)
    s["method"] = method
    d = guard.protect(s)
    assert d.conclusion in (Conclusion.ALLOW, Conclusion.DENY, Conclusion.ERROR)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=raw,
    ctype=st.sampled_from(
        [
            "application/json",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "text/plain",
            "application/json; charset=utf-7; charset=utf-8",
        ]
    ),
    extras=st.dictionaries(st.text(min_size=1, max_size=10), text, max_size=3),
)
def test_random_bodies_and_extras_never_raise(
    guard: ArcGuard, body: bytes, ctype: str, extras: dict[str, str]
) -> None:
    d = guard.protect(
        RequestDetails(
            ip="192.0.2.1", method="POST", body=body, headers={"content-type": ctype}, extras=extras
        )
    )
    assert d.conclusion in (Conclusion.ALLOW, Conclusion.DENY, Conclusion.ERROR)
