"""Settings from the environment, and the allow-list checks at construction."""

from __future__ import annotations

import pytest

from arcguard._endpoint import EndpointSelector, EndpointSettings
from arcguard._exceptions import ConfigurationError


def test_defaults() -> None:
    settings = EndpointSettings()
    assert settings.probe_samples == 3
    assert settings.probe_timeout == 0.25
    assert settings.probe_interval == 60.0
    assert settings.probe_jitter == 0.2
    assert settings.failover_threshold == 3
    assert settings.base_domain is None and settings.effective_discovery_domain is None
    assert not settings.configured


def test_from_environ_reads_every_variable() -> None:
    settings = EndpointSettings.from_environ(
        {
            "ARCGUARD_DISCOVERY_DOMAIN": "regions.example.com",
            "ARCGUARD_BASE_DOMAIN": "decide.example.com",
            "ARCGUARD_CANDIDATES": "iad.decide.example.com:443, fra.decide.example.com",
            "ARCGUARD_ALLOWED_HOSTS": "example.com,loopback",
            "ARCGUARD_ENDPOINT_TEMPLATE_FLY": "fly.{base}",
            "ARCGUARD_DETECT_PLATFORM": "false",
            "ARCGUARD_PROBE_SAMPLES": "5",
            "ARCGUARD_PROBE_TIMEOUT_MS": "100",
            "ARCGUARD_PROBE_INTERVAL_S": "30",
            "ARCGUARD_FAILOVER_THRESHOLD": "2",
            "ARCGUARD_DNS_NAMESERVER": "127.0.0.1",
            "ARCGUARD_DNS_PORT": "5353",
        }
    )
    assert settings.discovery_domain == "regions.example.com"
    assert settings.base_domain == "decide.example.com"
    assert settings.candidates == ("iad.decide.example.com:443", "fra.decide.example.com")
    assert settings.allowed_hosts == ("example.com", "loopback")
    assert settings.templates["fly"] == "fly.{base}"
    assert settings.templates["aws"] == "{region}.aws.{base}"
    assert settings.detect_platform is False
    assert settings.probe_samples == 5
    assert settings.probe_timeout == pytest.approx(0.1)
    assert settings.probe_interval == 30.0
    assert settings.failover_threshold == 2
    assert (settings.dns_nameserver, settings.dns_port) == ("127.0.0.1", 5353)


def test_injected_endpoint_outside_the_allow_list_raises_naming_host_and_list() -> None:
    with pytest.raises(ConfigurationError) as caught:
        EndpointSettings.from_environ({"ARCGUARD_ENDPOINT": "collector.evil.test:443"})
    message = str(caught.value)
    assert "collector.evil.test" in message
    assert "[loopback]" in message  # nothing else is allowed unless configured


def test_endpoint_under_the_discovery_domain_is_allowed_by_default() -> None:
    settings = EndpointSettings.from_environ(
        {"ARCGUARD_DISCOVERY_DOMAIN": "example.com", "ARCGUARD_ENDPOINT": "eu.example.com:443"}
    )
    assert settings.endpoint == "eu.example.com:443"


def test_loopback_is_allowed_by_default() -> None:
    assert EndpointSettings(endpoint="127.0.0.1:50051").endpoint == "127.0.0.1:50051"
    assert EndpointSettings(endpoint="[::1]:50051").endpoint == "[::1]:50051"


def test_explicit_allow_list_replaces_the_default() -> None:
    with pytest.raises(ConfigurationError, match=r"127\.0\.0\.1"):
        EndpointSettings(endpoint="127.0.0.1:50051", allowed_hosts=("example.com",))
    settings = EndpointSettings(endpoint="decide.corp.test", allowed_hosts=("corp.test",))
    assert settings.endpoint == "decide.corp.test"


def test_candidate_outside_the_allow_list_raises() -> None:
    with pytest.raises(ConfigurationError, match=r"candidate host 'evil\.test'"):
        EndpointSettings.from_environ({"ARCGUARD_CANDIDATES": "127.0.0.1:1,evil.test:443"})


def test_platform_endpoint_outside_the_allow_list_raises_at_construction() -> None:
    settings = EndpointSettings(
        base_domain="decide.example.com", templates={"fly": "{region}.fly.evil.test"}
    )
    with pytest.raises(ConfigurationError, match="fly platform endpoint"):
        EndpointSelector(settings, environ={"FLY_APP_NAME": "a", "FLY_REGION": "iad"})


@pytest.mark.parametrize(
    ("environ", "match"),
    [
        ({"ARCGUARD_PROBE_SAMPLES": "0"}, "probe_samples"),
        ({"ARCGUARD_PROBE_SAMPLES": "three"}, "ARCGUARD_PROBE_SAMPLES"),
        ({"ARCGUARD_PROBE_TIMEOUT_MS": "-5"}, "probe_timeout"),
        ({"ARCGUARD_PROBE_INTERVAL_S": "nan"}, "probe_interval"),
        ({"ARCGUARD_FAILOVER_THRESHOLD": "0"}, "failover_threshold"),
        ({"ARCGUARD_DNS_PORT": "70000"}, "dns_port"),
        ({"ARCGUARD_ENDPOINT": "host:notaport"}, "bad port"),
        ({"ARCGUARD_ENDPOINT_TEMPLATE_NOPE": "{base}"}, "unknown platform"),
        ({"ARCGUARD_ENDPOINT_TEMPLATE_FLY": "{zone}.{base}"}, "unknown field"),
        ({"ARCGUARD_BASE_DOMAIN": "example.com:443"}, "base_domain"),
        ({"ARCGUARD_ALLOWED_HOSTS": "exa mple.com"}, "allowed host"),
    ],
)
def test_bad_values_raise_configuration_error(environ: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        EndpointSettings.from_environ(environ)


def test_configuration_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        EndpointSettings(probe_jitter=1.5)


def test_replace_checks_again() -> None:
    with pytest.raises(ConfigurationError):
        EndpointSettings().replace(endpoint="evil.test")


def test_the_dns_nameserver_must_be_an_ip_address() -> None:
    with pytest.raises(ConfigurationError, match="dns_nameserver"):
        EndpointSettings.from_environ({"ARCGUARD_DNS_NAMESERVER": "ns.example.com"})
    assert EndpointSettings(dns_nameserver=" ::1 ").dns_nameserver == "::1"
