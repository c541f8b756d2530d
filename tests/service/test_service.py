"""The real decide server (create_server on 127.0.0.1:0) driven by the SDK
transport and by standard gRPC clients: decisions, auth, health, reflection,
metrics, validation, reports."""

from __future__ import annotations

import asyncio
import itertools
import json
import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from arcguard._exceptions import TransportError, Unauthenticated
from arcguard._proto import decide_pb2 as pb
from arcguard._request import RequestDetails
from arcguard._rules import detect_bot, filter_rule, fixed_window, shield, token_bucket
from arcguard._transport import GrpcTransport, GrpcTransportSettings
from arcguard._transport._wire import details_to_proto, rule_set_to_proto
from decide_service import SERVICE_NAME

from .conftest import KEY, OTHER_KEY, TEST_TIMEOUT, RunningService

pytestmark = pytest.mark.integration

_ips = itertools.count(1)


def fresh_ip() -> str:
    """A client IP no other test used (the module's service keeps state)."""
    n = next(_ips)
    return f"198.51.{n // 250}.{n % 250 + 1}"


def details(ip: str | None = None, **kw: object) -> RequestDetails:
    kw.setdefault("headers", [("user-agent", "Mozilla/5.0"), ("accept", "*/*")])
    return RequestDetails(ip=ip or fresh_ip(), **kw)  # type: ignore[arg-type]


def raw_call(
    service: RunningService, req: pb.DecideRequest, key: str | None = KEY
) -> pb.DecideResponse:
    with service.channel() as ch:
        stub = ch.unary_unary(
            f"/{SERVICE_NAME}/Decide",
            request_serializer=pb.DecideRequest.SerializeToString,
            response_deserializer=pb.DecideResponse.FromString,
        )
        md = (("authorization", f"Bearer {key}"),) if key else ()
        return stub(req, timeout=TEST_TIMEOUT, metadata=md)  # type: ignore[no-any-return]


def request(rules: list[object] | None = None, **details_kw: object) -> pb.DecideRequest:
    rs = rules if rules is not None else [fixed_window(window="1h", max=10)]
    return pb.DecideRequest(
        details=details_to_proto(details(**details_kw)),
        rules=rule_set_to_proto(rs),  # type: ignore[arg-type]
    )


# -- decisions ------------------------------------------------------------------------


def test_fixed_window_denies_after_max_with_ttl_and_rate_limit_reason(
    transport: GrpcTransport,
) -> None:
    rules = (fixed_window(window="1h", max=3),)
    d = details()
    codes = [transport.decide(d, rules).results[0] for _ in range(5)]
    assert [o.code for o in codes] == [0, 0, 0, 1, 1]
    denied = codes[3]
    reason = json.loads(denied.reason)
    assert reason["type"] == "RATE_LIMIT" and reason["max"] == 3 and reason["remaining"] == 0
    assert 0 < denied.ttl <= 3600


def test_token_bucket_takes_requested_tokens(transport: GrpcTransport) -> None:
    rules = (token_bucket(refill_rate=1, interval="1h", capacity=10),)
    d = details()
    assert transport.decide(d, rules, requested=7).results[0].code == 0
    assert transport.decide(d, rules, requested=7).results[0].code == 1
    assert transport.decide(d, rules, requested=3).results[0].code == 0


def test_async_decide_uses_an_aio_channel_per_loop(service: RunningService) -> None:
    rules = (fixed_window(window="1h", max=2),)
    d = details()

    async def run(t: GrpcTransport) -> list[int]:
        out = [(await t.adecide(d, rules)).results[0].code for _ in range(3)]
        await t.aclose()
        return out

    t = service.transport()
    assert asyncio.run(run(t)) == [0, 0, 1]


def test_local_results_are_used_instead_of_evaluating_again(transport: GrpcTransport) -> None:
    rules = (detect_bot(deny=["CURL"]), fixed_window(window="1h", max=5))
    local = [(1, '{"type":"BOT","bot":"CURL","categories":[],"denied":true}'), (2, "{}")]
    out = transport.decide(details(), rules, local=local).results
    assert out[0].code == 1 and json.loads(out[0].reason)["bot"] == "CURL"
    assert out[1].code == 3  # NOT_RUN: a LIVE rule denied first, the limit is not consumed


def test_response_carries_conclusion_state_kind_and_typed_reasons(
    service: RunningService,
) -> None:
    rules = [
        filter_rule(mode="DRY_RUN", deny=['http.host eq "x"']),
        fixed_window(window="1h", max=1),
    ]
    req = request(rules)
    req.typed_reasons = True
    raw_call(service, req)
    resp = raw_call(service, req)
    assert resp.id.startswith("drq_")
    assert resp.conclusion == pb.CONCLUSION_DENY
    assert [r.kind for r in resp.results] == ["filter", "fixed_window"]
    assert resp.results[0].state == pb.RULE_STATE_DRY_RUN
    assert resp.results[1].state == pb.RULE_STATE_RUN
    assert resp.results[1].code == pb.RULE_CODE_DENY
    assert resp.results[1].WhichOneof("reason") == "rate_limit"
    assert resp.ttl == resp.results[1].ttl > 0
    assert json.loads(resp.reason_json)["type"] == "RATE_LIMIT"


def test_report_counts_shield_suspicion_then_decide_blocks_the_client(
    transport: GrpcTransport,
) -> None:
    rules = (shield(threshold=2, window="60s", block_for="120s"),)
    ip = fresh_ip()
    suspicious = [(1, '{"type":"SHIELD","suspicious":true,"category":"XSS"}')]
    clean = [(0, '{"type":"SHIELD"}')]
    assert transport.decide(details(ip), rules, local=clean).results[0].code == 0
    for _ in range(2):
        transport.report(details(ip), rules, suspicious)
    transport.reporter.flush()
    assert transport.reporter.stats().sent == 2
    out = transport.decide(details(ip), rules, local=clean).results[0]
    assert out.code == 1
    assert json.loads(out.reason)["escalated"] is True
    assert 100 < out.ttl <= 120


# -- auth -----------------------------------------------------------------------------


def test_wrong_or_missing_key_is_unauthenticated_and_decides_nothing(
    service: RunningService,
) -> None:
    rules = (fixed_window(window="1h", max=1),)
    d = details()
    for key in ("wrong", None, KEY + "x"):
        t = service.transport(key=key)
        with pytest.raises(Unauthenticated):
            t.decide(d, rules)
        t.close()
    # nothing was consumed by the refused calls
    with service.transport(key=OTHER_KEY) as t:
        assert t.decide(d, rules).results[0].code == 0


def test_non_bearer_authorization_is_refused(service: RunningService) -> None:
    with pytest.raises(grpc.RpcError) as err:
        with service.channel() as ch:
            ch.unary_unary(f"/{SERVICE_NAME}/Decide")(
                request().SerializeToString(),
                timeout=TEST_TIMEOUT,
                metadata=(("authorization", f"Basic {KEY}"),),
            )
    assert err.value.code() is grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("metadata", [(), (("authorization", "Bearer ak_wrong"),)])
def test_report_without_an_accepted_key_is_refused(
    service: RunningService, metadata: tuple[tuple[str, str], ...]
) -> None:
    with pytest.raises(grpc.RpcError) as err:
        with service.channel() as ch:
            ch.unary_unary(f"/{SERVICE_NAME}/Report")(
                pb.ReportRequest().SerializeToString(), timeout=TEST_TIMEOUT, metadata=metadata
            )
    assert err.value.code() is grpc.StatusCode.UNAUTHENTICATED


def test_health_and_reflection_need_no_key(service: RunningService) -> None:
    with service.channel() as ch:
        health = health_pb2_grpc.HealthStub(ch)
        for name in ("", SERVICE_NAME):
            resp = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=TEST_TIMEOUT)
            assert resp.status == health_pb2.HealthCheckResponse.SERVING
        refl = reflection_pb2_grpc.ServerReflectionStub(ch)
        answers = list(
            refl.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                timeout=TEST_TIMEOUT,
            )
        )
    names = {s.name for s in answers[0].list_services_response.service}
    assert {SERVICE_NAME, "grpc.health.v1.Health"} <= names


def test_reflection_serves_the_decide_schema(service: RunningService) -> None:
    with service.channel() as ch:
        refl = reflection_pb2_grpc.ServerReflectionStub(ch)
        answers = list(
            refl.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE_NAME)]),
                timeout=TEST_TIMEOUT,
            )
        )
    files = answers[0].file_descriptor_response.file_descriptor_proto
    assert files and b"arcguard/decide/v1/decide.proto" in files[0]


# -- validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.rules.ClearField("rules"), "rule set is empty"),
        (
            lambda r: r.details.headers.extend(
                [pb.Header(name=f"h{i}", value="v") for i in range(200)]
            ),
            "headers",
        ),
        (lambda r: setattr(r.details, "body", b"x" * (1024 * 1024 + 1)), "details.body"),
        (lambda r: r.rules.rules.extend([r.rules.rules[0]] * 64), "at most 64"),
        (lambda r: r.rules.rules.add(), "rules[1]: mode"),
        (lambda r: r.rules.rules.add(mode=pb.MODE_LIVE), "rules[1]: no rule kind"),
        (
            lambda r: r.rules.rules.add(mode=pb.MODE_LIVE, fixed_window=pb.FixedWindowRule(max=5)),
            "window",
        ),
        (
            lambda r: r.rules.rules.add(
                mode=pb.MODE_LIVE,
                filter=pb.FilterRule(deny=['http.request.uri.path matches "(unclosed"']),
            ),
            "rule",
        ),
        (
            lambda r: r.local_results.extend([pb.LocalResult(code=pb.RULE_CODE_ALLOW)] * 2),
            "local_results: 2 results for 1 rules",
        ),
        (lambda r: setattr(r, "requested", 2**31), "requested"),
    ],
    ids=[
        "no-rules",
        "too-many-headers",
        "oversized-body",
        "too-many-rules",
        "no-mode",
        "no-kind",
        "bad-window",
        "bad-filter",
        "local-count",
        "requested",
    ],
)
def test_malformed_requests_get_invalid_argument_with_a_clear_message(
    service: RunningService, mutate: object, message: str
) -> None:
    req = request()
    mutate(req)  # type: ignore[operator]
    with pytest.raises(grpc.RpcError) as err:
        raw_call(service, req)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert message in err.value.details()


def test_undecodable_bytes_get_invalid_argument(service: RunningService) -> None:
    with service.channel() as ch, pytest.raises(grpc.RpcError) as err:
        ch.unary_unary(f"/{SERVICE_NAME}/Decide")(
            b"\xff\xff\xff", timeout=TEST_TIMEOUT, metadata=(("authorization", f"Bearer {KEY}"),)
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_invalid_argument_is_a_transport_error_and_does_not_open_the_breaker(
    service: RunningService,
) -> None:
    t = service.transport()
    big = details(body=b"x" * (2 * 1024 * 1024))
    for _ in range(5):
        with pytest.raises(TransportError, match="INVALID_ARGUMENT"):
            t.decide(big, (fixed_window(window="1h", max=10),))
    assert t.breaker().state == "closed"
    t.close()


def test_server_keeps_serving_after_bad_requests(transport: GrpcTransport) -> None:
    assert transport.decide(details(), (fixed_window(window="1h", max=10),)).results[0].code == 0


def test_wrong_result_count_from_the_service_is_a_transport_error(
    service: RunningService,
) -> None:
    t = service.transport()
    rules = (fixed_window(window="1h", max=10),)
    t._rules_bytes(rules)  # cache the encoded rule set, then lie about its length
    assert t._rules_cache is not None
    t._rules_cache = (rules, t._rules_cache[1], 2)
    with pytest.raises(TransportError, match="1 results for 2 rules"):
        t.decide(details(), rules)
    t.close()


# -- metrics --------------------------------------------------------------------------


def test_metrics_endpoint_scrapes_decisions_latency_and_errors(
    service: RunningService, transport: GrpcTransport
) -> None:
    transport.decide(details(), (fixed_window(window="1h", max=10),))
    port = service.app.metrics_port
    assert port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    assert 'arcguard_decisions_total{conclusion="ALLOW"}' in text
    assert 'arcguard_rule_results_total{code="ALLOW",kind="fixed_window"}' in text
    assert "arcguard_decide_seconds_bucket" in text
    assert "arcguard_store_up 1.0" in text


def test_tls_server_with_self_signed_certificate(tmp_path: object) -> None:
    pytest.importorskip("cryptography")
    import datetime
    from pathlib import Path

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "decide.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("decide.test")]), False)
        .sign(key, hashes.SHA256())
    )
    d = Path(str(tmp_path))
    (d / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    from .conftest import service_settings

    svc = RunningService(
        service_settings(
            tls_cert=str(d / "cert.pem"), tls_key=str(d / "key.pem"), metrics_port=None
        )
    )
    try:
        t = GrpcTransport(
            GrpcTransportSettings(
                key=KEY,
                timeout=TEST_TIMEOUT,
                tls=True,
                root_certificates=(d / "cert.pem").read_bytes(),
                server_name="decide.test",
            ),
            svc.target,
        )
        assert t.decide(details(), (fixed_window(window="1h", max=1),)).results[0].code == 0
        t.close()
        plain = svc.transport(tls=False)
        with pytest.raises(TransportError):
            plain.decide(details(), (fixed_window(window="1h", max=1),))
        plain.close()
    finally:
        svc.stop()
