"""validate_email in-process: syntax and domain lists through the Wasm core,
options checked at construction, TOML / wire round trips, ``arcguard check``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arcguard import (
    ArcGuard,
    ConfigurationError,
    EmailReason,
    EmailRule,
    RequestDetails,
    validate_email,
)
from arcguard._cli import main
from arcguard._rules import rule_from_config
from arcguard._transport._wire import rule_config_from_proto, rule_to_proto

REQ = RequestDetails(ip="203.0.113.5", headers={"user-agent": "Mozilla/5.0 Firefox/126.0"})
LOCAL_ONLY = ["INVALID", "DISPOSABLE"]


def guard(**options: object) -> ArcGuard:
    return ArcGuard(rules=[validate_email(**options)], environ={})  # type: ignore[arg-type]


def reason(g: ArcGuard, email: str) -> EmailReason:
    r = g.protect(REQ, email=email).reason
    assert isinstance(r, EmailReason), r
    return r


@pytest.mark.parametrize(
    ("email", "types", "denied"),
    [
        ("user@example.com", (), False),
        ("User.Name+tag@Example.ORG", (), False),
        ("someone@gmail.com", ("FREE",), False),
        ("someone@mail.yahoo.co.uk", ("FREE",), False),
        ("a@mailinator.com", ("DISPOSABLE",), True),
        ("a@x.y.mailinator.com", ("DISPOSABLE",), True),
        ("a@mailinator.com.example.org", (), False),
        ("a@0-mailer.dynv6.net", ("DISPOSABLE",), True),
        ("plainaddress", ("INVALID",), True),
        ("a..b@example.com", ("INVALID",), True),
        ("a@localhost", ("INVALID",), True),
        ('"quoted"@example.com', ("INVALID",), True),
        ("x" * 65 + "@example.com", ("INVALID",), True),
    ],
)
def test_types_and_denials(email: str, types: tuple[str, ...], denied: bool) -> None:
    g = guard(deny=LOCAL_ONLY)
    decision = g.protect(REQ, email=email)
    r = decision.reason
    assert isinstance(r, EmailReason)
    assert r.email_types == types
    assert r.denied is denied
    assert decision.is_denied() is denied
    assert r.mx is None  # no lookup needed with these types


def test_invalid_addresses_say_why_and_are_not_looked_up() -> None:
    r = reason(guard(deny=LOCAL_ONLY), "john@@example.com")
    assert r.error is not None and "@-sign" in r.error
    assert r.email is None


def test_idn_addresses_are_normalised_both_ways() -> None:
    g = guard(deny=LOCAL_ONLY)
    r = reason(g, "Jörg@Bücher.DE")
    assert (r.email, r.domain, r.ascii_domain) == (
        "Jörg@bücher.de",
        "bücher.de",
        "xn--bcher-kva.de",
    )
    assert reason(g, "jörg@xn--bcher-kva.de").email == "jörg@bücher.de"


def test_options_widen_the_syntax() -> None:
    g = guard(deny=LOCAL_ONLY, allow_quoted_local=True, allow_domain_literal=True)
    assert reason(g, '"john doe"@example.com').email_types == ()
    assert reason(g, "a@[192.0.2.1]").domain == "[192.0.2.1]"
    assert reason(guard(deny=LOCAL_ONLY, require_tld=False), "a@intranet").email_types == ()


def test_free_can_be_denied_and_allow_lists_invert() -> None:
    assert guard(deny=["FREE"]).protect(REQ, email="x@outlook.com").is_denied()
    allow = guard(allow=["FREE", "NO_MX_RECORDS", "UNKNOWN"])
    assert allow.protect(REQ, email="x@outlook.com").is_allowed()
    assert allow.protect(REQ, email="x@mailinator.com").is_denied()


def test_dry_run_reports_without_denying() -> None:
    d = guard(mode="DRY_RUN", deny=LOCAL_ONLY).protect(REQ, email="a@mailinator.com")
    assert d.is_allowed()
    assert d.results[0].is_denied()


def test_a_missing_email_is_an_error_not_a_crash() -> None:
    d = guard(deny=LOCAL_ONLY).protect(REQ)
    assert d.is_error() and d.is_allowed()
    assert "no email given" in d.reason.to_dict()["message"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"deny": ["INVALID"], "allow": ["FREE"]}, "not both"),
        ({"deny": ["disposable"]}, "did you mean 'DISPOSABLE'"),
        ({"deny": ["NOPE"]}, "unknown email type"),
        ({"deny": []}, "empty"),
        ({"allow": []}, "empty"),
        ({"deny": "INVALID"}, "single string"),
        ({"require_tld": "yes"}, "True or False"),
        ({"mode": "BLOCK"}, "mode"),
    ],
)
def test_bad_options_raise_at_construction(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        validate_email(**options)  # type: ignore[arg-type]


def test_defaults_and_remote_need() -> None:
    rule = validate_email()
    assert rule.deny == ("INVALID", "DISPOSABLE", "NO_MX_RECORDS")
    assert rule.remote  # NO_MX_RECORDS needs the MX check
    assert not validate_email(deny=LOCAL_ONLY).remote
    assert validate_email(allow=["FREE"]).remote  # NO_MX_RECORDS is denied


@pytest.mark.parametrize(
    "rule",
    [
        validate_email(),
        validate_email(mode="DRY_RUN", allow=["FREE", "UNKNOWN"], require_tld=False),
        validate_email(deny=["FREE"], allow_quoted_local=True, allow_domain_literal=True),
    ],
)
def test_config_and_wire_round_trip(rule: EmailRule) -> None:
    assert rule_from_config(rule.config()) == rule
    assert rule_from_config(rule_config_from_proto(rule_to_proto(rule))) == rule


def test_check_reads_an_email_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rules]]\nkind = "email"\nmode = "LIVE"\ndeny = ["INVALID", "DISPOSABLE"]\n')
    reqs = tmp_path / "r.jsonl"
    reqs.write_text(
        "".join(
            json.dumps({"path": "/signup", "email": e}) + "\n"
            for e in ("ok@example.com", "x@mailinator.com", "broken")
        )
    )
    assert main(["check", "--rules", str(rules), str(reqs)]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["conclusion"] for o in out] == ["ALLOW", "DENY", "DENY"]
    assert out[1]["reason"]["email_types"] == ["DISPOSABLE"]
    assert out[2]["reason"]["error"] == "the address has no @-sign"
