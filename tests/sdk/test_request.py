"""Request extraction and the client IP policy."""

from __future__ import annotations

import io
import pickle

import pytest

from arcguard import ConfigurationError, ProxyPolicy, RequestDetails
from arcguard._request import details_from_asgi, details_from_object, details_from_wsgi


def scope(client: str = "203.0.113.9", headers: list[tuple[bytes, bytes]] | None = None) -> dict:
    return {
        "type": "http",
        "method": "GET",
        "path": "/a b",
        "raw_path": b"/a%20b",
        "query_string": b"x=1&y=%27",
        "client": (client, 1234),
        "headers": headers or [(b"host", b"example.com"), (b"user-agent", b"UA")],
    }


def environ(remote: str = "203.0.113.9", **headers: str) -> dict:
    env = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/a b",
        "QUERY_STRING": "x=1",
        "REMOTE_ADDR": remote,
        "SERVER_NAME": "srv",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": "2",
        "wsgi.input": io.BytesIO(b"{}"),
    }
    env.update({"HTTP_" + k.upper(): v for k, v in headers.items()})
    return env


def test_asgi_scope_keeps_the_raw_path_and_query() -> None:
    d = details_from_asgi(scope())
    assert (d.method, d.host, d.path, d.query) == ("GET", "example.com", "/a%20b", "x=1&y=%27")
    assert d.header("user-agent") == "UA"
    assert d.ip == "203.0.113.9"


def test_wsgi_environ_requotes_the_decoded_path() -> None:
    d = details_from_wsgi(environ(HOST="example.com", USER_AGENT="UA"))
    assert (d.method, d.host, d.path, d.query) == ("POST", "example.com", "/a%20b", "x=1")
    assert d.header("content-type") == "application/json"


def test_wsgi_prefers_the_raw_uri_when_the_server_gives_one() -> None:
    env = environ()
    env["RAW_URI"] = "/a%2Fb?x=1"
    assert details_from_wsgi(env).path == "/a%2Fb"


def test_a_path_containing_a_url_is_kept_whole() -> None:
    # Only a target that starts with a scheme is absolute-form (RFC 9112 3.2.2);
    # cutting at any "://" hid the rest of the path from the rules.
    env = environ()
    env["RAW_URI"] = "/get/https://example.com/../../etc/passwd?x=1"
    assert details_from_wsgi(env).path == "/get/https://example.com/../../etc/passwd"


def test_an_absolute_form_target_gives_its_path() -> None:
    env = environ()
    env["RAW_URI"] = "http://example.com/a/b?x=1"
    assert details_from_wsgi(env).path == "/a/b"


def test_untrusted_forwarded_for_is_ignored() -> None:
    policy = ProxyPolicy.build(["10.0.0.0/8"])
    s = scope("198.51.100.7", [(b"x-forwarded-for", b"1.2.3.4")])
    assert details_from_asgi(s, policy).ip == "198.51.100.7"


def test_forwarded_for_is_read_right_to_left_through_trusted_proxies() -> None:
    policy = ProxyPolicy.build(["10.0.0.0/8"])
    s = scope("10.0.0.2", [(b"x-forwarded-for", b"6.6.6.6, 1.2.3.4, 10.1.1.1")])
    # 6.6.6.6 was written by the client itself: only 1.2.3.4 is vouched for.
    assert details_from_asgi(s, policy).ip == "1.2.3.4"


def test_garbage_in_forwarded_for_stops_at_the_last_trusted_hop() -> None:
    policy = ProxyPolicy.build(["10.0.0.0/8"])
    s = scope("10.0.0.2", [(b"x-forwarded-for", b"1.2.3.4, not-an-ip")])
    assert details_from_asgi(s, policy).ip == "10.0.0.2"


def test_no_trusted_proxies_means_the_peer_even_with_forwarded_for() -> None:
    s = scope("198.51.100.7", [(b"x-forwarded-for", b"1.2.3.4")])
    assert details_from_asgi(s).ip == "198.51.100.7"


def test_platform_header_only_when_the_platform_is_detected() -> None:
    s = scope("172.16.0.1", [(b"fly-client-ip", b"2001:db8::1")])
    assert details_from_asgi(s).ip == "172.16.0.1"
    assert details_from_asgi(s, ProxyPolicy.build(platform="fly")).ip == "2001:db8::1"


def test_cloudflare_header_is_not_trusted_on_fly() -> None:
    s = scope("172.16.0.1", [(b"cf-connecting-ip", b"9.9.9.9")])
    assert details_from_asgi(s, ProxyPolicy.build(platform="fly")).ip == "172.16.0.1"


def test_ipv6_forwarded_for_and_mapped_addresses() -> None:
    policy = ProxyPolicy.build(["::1/128", "fd00::/8"])
    s = scope("::1", [(b"x-forwarded-for", b"2001:DB8::0:5, fd00::2")])
    assert details_from_asgi(s, policy).ip == "2001:db8::5"
    s = scope("::1", [(b"x-forwarded-for", b"::ffff:192.0.2.1")])
    assert details_from_asgi(s, policy).ip == "192.0.2.1"
    s = scope("::1", [(b"x-forwarded-for", b"[2001:db8::7]:443")])
    assert details_from_asgi(s, policy).ip == "2001:db8::7"


def test_wsgi_forwarded_for_through_a_trusted_proxy() -> None:
    policy = ProxyPolicy.build(["127.0.0.1/32"])
    d = details_from_wsgi(environ("127.0.0.1", X_FORWARDED_FOR="192.0.2.44"), policy)
    assert d.ip == "192.0.2.44"


def test_invalid_trusted_proxy_raises_at_construction() -> None:
    with pytest.raises(ConfigurationError, match="not-a-cidr"):
        ProxyPolicy.build(["not-a-cidr"])


def test_objects_with_scope_environ_or_meta_are_understood() -> None:
    class Starlette:
        def __init__(self) -> None:
            self.scope = scope()

    class Flask:
        def __init__(self) -> None:
            self.environ = environ()

    class Django:
        def __init__(self) -> None:
            self.META = environ()

    for obj in (Starlette(), Flask(), Django(), scope(), environ()):
        assert details_from_object(obj).ip == "203.0.113.9"
    with pytest.raises(TypeError, match="protect"):
        details_from_object(42)


def test_headers_are_bounded() -> None:
    many = [(f"x-h{i}".encode(), b"v") for i in range(10_000)]
    assert len(details_from_asgi(scope(headers=many)).headers) == 128


def test_cookie_and_query_arg_lookup() -> None:
    d = RequestDetails(ip="1.1.1.1", query="a=1&b=x%20y", headers={"Cookie": "s=1; t=two"})
    assert d.cookie("t") == "two"
    assert d.arg("b") == "x y"
    assert d.arg("zz") is None


def test_proxy_policy_is_an_immutable_value() -> None:
    policy = ProxyPolicy.build(["10.0.0.0/8"], platform="fly")
    assert policy == ProxyPolicy.build(["10.0.0.0/8"], platform="fly")
    assert policy != ProxyPolicy.build(["10.0.0.0/8"])
    assert hash(policy) == hash(ProxyPolicy.build(["10.0.0.0/8"], platform="fly"))
    assert pickle.loads(pickle.dumps(policy)) == policy  # noqa: S301 (our own bytes)
    assert repr(policy) == (
        "ProxyPolicy(trusted_proxies=(IPv4Network('10.0.0.0/8'),), platform='fly')"
    )
    with pytest.raises(AttributeError):
        policy.platform = None  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del policy.trusted_proxies  # type: ignore[misc]


def test_an_empty_policy_reads_the_peer_like_the_default() -> None:
    policy = ProxyPolicy.build()
    assert policy == ProxyPolicy()
    s = scope(headers=[(b"x-forwarded-for", b"1.2.3.4")])
    assert details_from_asgi(s, policy).ip == "203.0.113.9"
    assert details_from_wsgi(environ(x_forwarded_for="1.2.3.4"), policy).ip == "203.0.113.9"
