"""The API key only ever goes to a host the user configured (or loopback).

There is no hosted decide service: a key with no endpoint, candidates,
discovery domain or base domain is a configuration error when the guard is
built, and platform templates only apply under a base domain the user set.
"""

from __future__ import annotations

import pytest

from arcguard import ArcGuard, detect_bot
from arcguard._endpoint import EndpointSelector, EndpointSettings
from arcguard._endpoint.address import is_loopback_host
from arcguard._exceptions import ConfigurationError

FLY = {"FLY_APP_NAME": "shop", "FLY_REGION": "iad"}
PLATFORMS: list[dict[str, str]] = [
    {},
    FLY,
    {"VERCEL": "1", "VERCEL_REGION": "iad1"},
    {"AWS_LAMBDA_FUNCTION_NAME": "fn", "AWS_REGION": "us-east-1"},
    {"K_SERVICE": "api", "CLOUD_RUN_REGION": "europe-west1"},
    {"RENDER": "true", "RENDER_REGION": "oregon"},
    {"RAILWAY_ENVIRONMENT": "production", "RAILWAY_REPLICA_REGION": "us-west2"},
    {"DYNO": "web.1"},
    {"WEBSITE_SITE_NAME": "app", "REGION_NAME": "East US 2"},
    {"KUBERNETES_SERVICE_HOST": "10.0.0.1"},
]


@pytest.mark.parametrize("platform", PLATFORMS, ids=lambda p: next(iter(p), "none"))
def test_a_key_without_any_endpoint_configuration_raises_at_construction(
    platform: dict[str, str],
) -> None:
    environ = {"ARCGUARD_KEY": "ak_live_secret", **platform}
    with pytest.raises(ConfigurationError) as caught:
        ArcGuard(rules=[detect_bot(mode="LIVE", deny=["CATEGORY:HTTP_LIBRARY"])], environ=environ)
    message = str(caught.value)
    for variable in (
        "ARCGUARD_ENDPOINT",
        "ARCGUARD_DISCOVERY_DOMAIN",
        "ARCGUARD_BASE_DOMAIN",
        "ARCGUARD_CANDIDATES",
    ):
        assert variable in message
    assert "development" in message  # how to run without a service instead


def test_probe_settings_alone_name_no_endpoint() -> None:
    with pytest.raises(ConfigurationError, match="ARCGUARD_ENDPOINT"):
        EndpointSelector(EndpointSettings(), environ=FLY)


def _user_domains(options: dict[str, object]) -> set[str]:
    """The domains the user set (not whatever the settings fill in)."""
    return {str(options[k]) for k in ("base_domain", "discovery_domain") if k in options}


CONFIGURED: list[dict[str, object]] = [
    {"discovery_domain": "regions.corp.test"},
    {"base_domain": "decide.corp.test"},
    {"discovery_domain": "regions.corp.test", "base_domain": "decide.corp.test"},
    {"candidates": ("127.0.0.1:7443",)},
    {"endpoint": "127.0.0.1:7443"},
]


@pytest.mark.parametrize("platform", PLATFORMS, ids=lambda p: next(iter(p), "none"))
@pytest.mark.parametrize("options", CONFIGURED, ids=lambda o: ",".join(o))
def test_every_target_is_under_a_configured_domain_or_loopback(
    platform: dict[str, str], options: dict[str, object]
) -> None:
    settings = EndpointSettings(**options)  # type: ignore[arg-type]
    selector = EndpointSelector(settings, environ=platform, discoverer=list)
    try:
        allowed = _user_domains(options)
        for entry in selector.ranked():
            host = entry.candidate.host
            assert is_loopback_host(host) or any(
                host == d or host.endswith("." + d) for d in allowed
            ), f"{host} is neither loopback nor under {sorted(allowed)}"
        for entry in selector.settings.allow_list().entries:
            assert entry == "loopback" or entry in allowed
    finally:
        selector.close()


def test_platform_templates_need_a_configured_base_domain() -> None:
    only_discovery = EndpointSelector(
        EndpointSettings(discovery_domain="regions.corp.test"), environ=FLY, discoverer=list
    )
    assert only_discovery.current() == "regions.corp.test:443"
    assert only_discovery.choice().source == "default"
    with_base = EndpointSelector(
        EndpointSettings(base_domain="decide.corp.test"), environ=FLY, discoverer=list
    )
    assert with_base.current() == "iad.fly.decide.corp.test:443"
    assert with_base.choice().source == "platform"
