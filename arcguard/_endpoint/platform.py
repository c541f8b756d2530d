"""Hosting-platform detection from environment variables, and endpoint templates.

:func:`detect_platform` is a pure function of the mapping it is given (the SDK
passes ``os.environ`` from one place; tests pass dicts). Platforms are checked
in this order, the first match wins:

* ``fly``: markers ``FLY_APP_NAME``, ``FLY_REGION``; region ``FLY_REGION``.
* ``vercel``: marker ``VERCEL``; region ``VERCEL_REGION``.
* ``aws``: markers ``AWS_LAMBDA_FUNCTION_NAME``, ``ECS_CONTAINER_METADATA_URI_V4``,
  ``ECS_CONTAINER_METADATA_URI``, ``AWS_EXECUTION_ENV``; region ``AWS_REGION``,
  else ``AWS_DEFAULT_REGION``.
* ``cloud_run``: marker ``K_SERVICE`` without ``KUBERNETES_SERVICE_HOST``; region
  ``CLOUD_RUN_REGION``, else ``GOOGLE_CLOUD_REGION``, else ``FUNCTION_REGION``.
* ``render``: markers ``RENDER``, ``RENDER_SERVICE_ID``; region ``RENDER_REGION``.
* ``railway``: markers ``RAILWAY_ENVIRONMENT``, ``RAILWAY_ENVIRONMENT_NAME``; region
  ``RAILWAY_REPLICA_REGION``.
* ``heroku``: marker ``DYNO``; no region.
* ``azure``: marker ``WEBSITE_SITE_NAME``; region ``REGION_NAME``.
* ``kubernetes``: marker ``KUBERNETES_SERVICE_HOST``; no region.

A marker counts when it is set and not blank; the region is read from the
first listed variable that is set.

Why this order and these variables:

* Vercel comes before AWS because Vercel functions run on Lambda and also set
  ``AWS_REGION`` (and sometimes ``AWS_LAMBDA_FUNCTION_NAME``).
* Plain EC2 sets no environment variable; telling it apart needs the instance
  metadata service, which is I/O and is left out of this pure function. An EC2
  app gets the regional endpoint from discovery and probes, or sets
  ``ARCGUARD_ENDPOINT``. ``AWS_REGION`` alone is *not* a marker: developers set
  it on laptops.
* Cloud Run sets ``K_SERVICE`` but no region variable (the region is in the
  metadata server); ``CLOUD_RUN_REGION`` or ``GOOGLE_CLOUD_REGION`` can be set
  by the deployer, and Cloud Functions sets ``FUNCTION_REGION``. Knative on a
  plain Kubernetes cluster also sets ``K_SERVICE``, so ``K_SERVICE`` together
  with ``KUBERNETES_SERVICE_HOST`` is Kubernetes, not Cloud Run.
* Render and Heroku publish no region variable; ``RENDER_REGION`` is read if the
  deployer sets it.
* Kubernetes is last: managed platforms that run on it are more specific.

Regions are normalised to one DNS label: lower case, spaces dropped (Azure's
``"East US 2"`` becomes ``"eastus2"``); a value that is still not a DNS label is
ignored (region ``None``), so an odd variable cannot steer the endpoint name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from .._exceptions import ConfigurationError
from .._frozen import Frozen

__all__ = [
    "DEFAULT_TEMPLATES",
    "PLATFORM_NAMES",
    "Platform",
    "check_template",
    "detect_platform",
    "resolve_template",
]


class Platform(Frozen):
    """A detected hosting platform (immutable).

    Attributes:
        name: one of :data:`PLATFORM_NAMES`.
        region: the normalised region, or None if the platform does not say.
        markers: the environment variables that identified the platform.
    """

    # A plain class rather than a dataclass: every guard detects its platform,
    # and the dataclass decorator's code generation is a measurable part of
    # a cold start.
    __slots__ = ("markers", "name", "region")
    _fields = ("name", "region", "markers")

    name: str
    region: str | None
    markers: tuple[str, ...]

    def __init__(self, name: str, region: str | None, markers: tuple[str, ...]) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "region", region)
        object.__setattr__(self, "markers", markers)


class _Rule:
    __slots__ = ("markers", "name", "regions", "unless")

    def __init__(
        self,
        name: str,
        markers: tuple[str, ...],
        regions: tuple[str, ...],
        unless: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.markers = markers
        self.regions = regions
        self.unless = unless


_RULES: tuple[_Rule, ...] = (
    _Rule("fly", ("FLY_APP_NAME", "FLY_REGION"), ("FLY_REGION",)),
    _Rule("vercel", ("VERCEL",), ("VERCEL_REGION",)),
    _Rule(
        "aws",
        (
            "AWS_LAMBDA_FUNCTION_NAME",
            "ECS_CONTAINER_METADATA_URI_V4",
            "ECS_CONTAINER_METADATA_URI",
            "AWS_EXECUTION_ENV",
        ),
        ("AWS_REGION", "AWS_DEFAULT_REGION"),
    ),
    _Rule(
        "cloud_run",
        ("K_SERVICE",),
        ("CLOUD_RUN_REGION", "GOOGLE_CLOUD_REGION", "FUNCTION_REGION"),
        unless=("KUBERNETES_SERVICE_HOST",),
    ),
    _Rule("render", ("RENDER", "RENDER_SERVICE_ID"), ("RENDER_REGION",)),
    _Rule(
        "railway", ("RAILWAY_ENVIRONMENT", "RAILWAY_ENVIRONMENT_NAME"), ("RAILWAY_REPLICA_REGION",)
    ),
    _Rule("heroku", ("DYNO",), ()),
    _Rule("azure", ("WEBSITE_SITE_NAME",), ("REGION_NAME",)),
    _Rule("kubernetes", ("KUBERNETES_SERVICE_HOST",), ()),
)

#: Every platform :func:`detect_platform` can return, in detection order.
PLATFORM_NAMES: tuple[str, ...] = tuple(rule.name for rule in _RULES)

#: Endpoint template per platform. ``{base}`` is the base domain, ``{region}``
#: the platform's region; a template may end in ``:port``. An empty template
#: means "no pinned endpoint on this platform": discovery and probes choose.
#: Heroku and Kubernetes name no region, so they are left to the probes. There
#: is no built-in base domain: a template using ``{base}`` applies only under
#: a base domain the user configured (``ARCGUARD_BASE_DOMAIN``).
DEFAULT_TEMPLATES: Mapping[str, str] = MappingProxyType(
    {
        "default": "{base}",
        "fly": "{region}.fly.{base}",
        "vercel": "{region}.vercel.{base}",
        "aws": "{region}.aws.{base}",
        "cloud_run": "{region}.gcp.{base}",
        "render": "{region}.render.{base}",
        "railway": "{region}.railway.{base}",
        "heroku": "",
        "azure": "{region}.azure.{base}",
        "kubernetes": "",
    }
)

_REGION = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_FIELDS = frozenset({"base", "region", "platform"})


def _present(environ: Mapping[str, str], name: str) -> bool:
    return bool(environ.get(name, "").strip())


def _normalise_region(value: str) -> str | None:
    region = "".join(value.split()).lower()
    return region if _REGION.match(region) else None


def detect_platform(environ: Mapping[str, str]) -> Platform | None:
    """Detect the hosting platform from an environment mapping.

    Parameters:
        environ: the environment, e.g. ``os.environ`` (only read).

    Returns:
        The first matching :class:`Platform` in the order of the module's
        table, or None when no platform's markers are present.

    Example::

        >>> detect_platform({"VERCEL": "1", "VERCEL_REGION": "iad1", "AWS_REGION": "us-east-1"})
        Platform(name='vercel', region='iad1', markers=('VERCEL',))
    """
    for rule in _RULES:
        markers = tuple(m for m in rule.markers if _present(environ, m))
        if not markers or any(_present(environ, u) for u in rule.unless):
            continue
        region = None
        for variable in rule.regions:
            if _present(environ, variable):
                region = _normalise_region(environ[variable])
                break
        return Platform(rule.name, region, markers)
    return None


def check_template(template: str, *, what: str = "endpoint template") -> frozenset[str]:
    """Raise unless *template* only uses the fields ``{base}``, ``{region}``, ``{platform}``.

    Returns:
        The fields the template uses.

    Raises:
        ConfigurationError: an unknown field, a positional field or bad braces.
    """
    import string

    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise ConfigurationError(f"invalid {what} {template!r}: {exc}") from exc
    bad = [f for f in fields if f not in _FIELDS]
    if bad:
        raise ConfigurationError(
            f"invalid {what} {template!r}: unknown field(s) {bad}; "
            "use {base}, {region}, {platform}"
        )
    return frozenset(fields)


def resolve_template(
    template: str, *, base: str | None, region: str | None, platform: str = ""
) -> str | None:
    """Fill in an endpoint template.

    Parameters:
        template: e.g. ``"{region}.fly.{base}"``; empty means no endpoint.
        base: the base domain the user configured, or None.
        region: the platform's region, or None.
        platform: the platform's name.

    Returns:
        The endpoint string, or None when the template is empty, or needs a
        region that is not known or a base domain that is not configured (the
        caller then falls back to discovery).

    Raises:
        ConfigurationError: the template uses an unknown field.

    Example::

        >>> resolve_template("{region}.fly.{base}", base="decide.example.com", region="iad")
        'iad.fly.decide.example.com'
    """
    if not template.strip():
        return None
    fields = check_template(template)
    if (region is None and "region" in fields) or (base is None and "base" in fields):
        return None
    return template.format(base=base or "", region=region or "", platform=platform)
