"""Platform detection over environment mappings, and endpoint templates."""

from __future__ import annotations

import pytest

from arcguard._endpoint import PLATFORM_NAMES, Platform, detect_platform, resolve_template
from arcguard._exceptions import ConfigurationError

CASES: list[tuple[str, dict[str, str], Platform | None]] = [
    ("nothing", {}, None),
    ("unrelated", {"HOME": "/root", "PATH": "/usr/bin"}, None),
    ("aws region alone is a laptop", {"AWS_REGION": "us-east-1"}, None),
    (
        "fly",
        {"FLY_APP_NAME": "shop", "FLY_REGION": "iad", "FLY_ALLOC_ID": "x"},
        Platform("fly", "iad", ("FLY_APP_NAME", "FLY_REGION")),
    ),
    ("fly without region", {"FLY_APP_NAME": "shop"}, Platform("fly", None, ("FLY_APP_NAME",))),
    (
        "vercel",
        {"VERCEL": "1", "VERCEL_REGION": "iad1"},
        Platform("vercel", "iad1", ("VERCEL",)),
    ),
    (
        "vercel with AWS_REGION is vercel",
        {
            "VERCEL": "1",
            "VERCEL_REGION": "cdg1",
            "AWS_REGION": "eu-west-3",
            "AWS_LAMBDA_FUNCTION_NAME": "fn",
        },
        Platform("vercel", "cdg1", ("VERCEL",)),
    ),
    (
        "aws lambda",
        {"AWS_LAMBDA_FUNCTION_NAME": "fn", "AWS_REGION": "us-east-1"},
        Platform("aws", "us-east-1", ("AWS_LAMBDA_FUNCTION_NAME",)),
    ),
    (
        "aws ecs with default region",
        {
            "ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/x",
            "AWS_DEFAULT_REGION": "eu-central-1",
        },
        Platform("aws", "eu-central-1", ("ECS_CONTAINER_METADATA_URI_V4",)),
    ),
    (
        "aws region wins over default region",
        {
            "AWS_EXECUTION_ENV": "AWS_ECS_FARGATE",
            "AWS_REGION": "us-west-2",
            "AWS_DEFAULT_REGION": "x",
        },
        Platform("aws", "us-west-2", ("AWS_EXECUTION_ENV",)),
    ),
    (
        "cloud run",
        {"K_SERVICE": "api", "K_REVISION": "api-1", "CLOUD_RUN_REGION": "europe-west1"},
        Platform("cloud_run", "europe-west1", ("K_SERVICE",)),
    ),
    (
        "cloud run with google region",
        {"K_SERVICE": "api", "GOOGLE_CLOUD_REGION": "us-central1"},
        Platform("cloud_run", "us-central1", ("K_SERVICE",)),
    ),
    ("cloud run without region", {"K_SERVICE": "api"}, Platform("cloud_run", None, ("K_SERVICE",))),
    (
        "knative on kubernetes is kubernetes",
        {"K_SERVICE": "api", "KUBERNETES_SERVICE_HOST": "10.0.0.1"},
        Platform("kubernetes", None, ("KUBERNETES_SERVICE_HOST",)),
    ),
    (
        "render",
        {"RENDER": "true", "RENDER_SERVICE_ID": "srv-1", "RENDER_REGION": "oregon"},
        Platform("render", "oregon", ("RENDER", "RENDER_SERVICE_ID")),
    ),
    (
        "railway",
        {"RAILWAY_ENVIRONMENT": "production", "RAILWAY_REPLICA_REGION": "us-west2"},
        Platform("railway", "us-west2", ("RAILWAY_ENVIRONMENT",)),
    ),
    ("heroku", {"DYNO": "web.1"}, Platform("heroku", None, ("DYNO",))),
    (
        "azure normalises the region name",
        {"WEBSITE_SITE_NAME": "shop", "REGION_NAME": "East US 2"},
        Platform("azure", "eastus2", ("WEBSITE_SITE_NAME",)),
    ),
    (
        "kubernetes",
        {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"},
        Platform("kubernetes", None, ("KUBERNETES_SERVICE_HOST",)),
    ),
    (
        "fly on kubernetes-like env is fly",
        {"FLY_REGION": "ams", "KUBERNETES_SERVICE_HOST": "10.0.0.1"},
        Platform("fly", "ams", ("FLY_REGION",)),
    ),
    ("blank markers do not count", {"FLY_APP_NAME": "  ", "VERCEL": ""}, None),
    (
        "a region that is not a DNS label is dropped",
        {"FLY_APP_NAME": "a", "FLY_REGION": "iad.evil.test"},
        Platform("fly", None, ("FLY_APP_NAME", "FLY_REGION")),
    ),
]


@pytest.mark.parametrize(("environ", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_detect_platform(environ: dict[str, str], expected: Platform | None) -> None:
    assert detect_platform(environ) == expected


def test_every_platform_is_covered_by_the_table() -> None:
    found = {expected.name for _, _, expected in CASES if expected is not None}
    assert found == set(PLATFORM_NAMES)


def test_detection_only_reads_the_mapping() -> None:
    class Recording(dict[str, str]):
        def __init__(self) -> None:
            super().__init__(FLY_REGION="iad")
            self.writes = 0

        def __setitem__(self, key: str, value: str) -> None:
            self.writes += 1
            super().__setitem__(key, value)

    environ = Recording()
    detect_platform(environ)
    assert environ.writes == 0


def test_template_with_region() -> None:
    assert (
        resolve_template("{region}.fly.{base}", base="decide.example.com", region="iad")
        == "iad.fly.decide.example.com"
    )


def test_template_needing_a_missing_region_resolves_to_none() -> None:
    assert resolve_template("{region}.{base}", base="decide.example.com", region=None) is None


def test_template_without_region_and_with_port() -> None:
    assert (
        resolve_template("fly.{base}:8443", base="d.example.com", region=None)
        == "fly.d.example.com:8443"
    )


def test_empty_template_means_no_endpoint() -> None:
    assert resolve_template("", base="d.example.com", region="iad") is None


def test_template_with_unknown_field_raises() -> None:
    with pytest.raises(ConfigurationError, match="unknown field"):
        resolve_template("{zone}.{base}", base="d.example.com", region="iad")
