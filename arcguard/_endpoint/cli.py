"""``arcguard probe``: show the detected platform, each candidate's round trips, and the choice.

The console script (``arcguard._cli``) adds the subcommand with
:func:`add_probe_arguments` and runs it with :func:`run_probe`. Options given
on the command line win over the ``ARCGUARD_*`` environment variables.

Exit status: 0 when the chosen endpoint answered its probes, 1 when it did not,
2 for a configuration error.

Example::

    $ arcguard probe --candidates 127.0.0.1:50051,127.0.0.1:50052
    platform: none
    #  target            source      region  samples (ms)       median ms  status
    1  127.0.0.1:50052   configured  -       0.41 0.38 0.40     0.40       ok
    2  127.0.0.1:50051   configured  -       30.9 30.7 31.0     30.90      ok
    choice: 127.0.0.1:50052 (configured): lowest median round trip (0.40 ms)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from .._exceptions import ConfigurationError
from .selector import EndpointSelector, RankedEndpoint
from .settings import EndpointSettings

__all__ = ["add_probe_arguments", "main", "probe_command", "run_probe"]


def add_probe_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``arcguard probe`` to *parser* (a subcommand's parser).

    Example::

        sub = subparsers.add_parser("probe", help="probe the decide-service endpoints")
        add_probe_arguments(sub)
        sub.set_defaults(func=run_probe)
    """
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--endpoint", help="explicit endpoint (overrides ARCGUARD_ENDPOINT)")
    parser.add_argument(
        "--candidates", help="comma-separated candidates (overrides ARCGUARD_CANDIDATES)"
    )
    parser.add_argument("--domain", help="discovery domain (overrides ARCGUARD_DISCOVERY_DOMAIN)")
    parser.add_argument("--nameserver", help="DNS server address for discovery")
    parser.add_argument("--dns-port", type=int, help="DNS server port for discovery")
    parser.add_argument("--samples", type=int, help="health checks per candidate")
    parser.add_argument("--timeout-ms", type=float, help="timeout of one health check, in ms")
    parser.add_argument(
        "--allowed-hosts", help="comma-separated allowed hosts (overrides ARCGUARD_ALLOWED_HOSTS)"
    )


def _settings(args: argparse.Namespace, environ: Mapping[str, str]) -> EndpointSettings:
    settings = EndpointSettings.from_environ(environ)
    changes: dict[str, object] = {}

    def split(value: str) -> tuple[str, ...]:
        return tuple(p.strip() for p in value.split(",") if p.strip())

    if getattr(args, "allowed_hosts", None):
        changes["allowed_hosts"] = split(args.allowed_hosts)
    if getattr(args, "endpoint", None):
        changes["endpoint"] = args.endpoint
    if getattr(args, "candidates", None):
        changes["candidates"] = split(args.candidates)
    if getattr(args, "domain", None):
        changes["discovery_domain"] = args.domain
    if getattr(args, "nameserver", None):
        changes["dns_nameserver"] = args.nameserver
    if getattr(args, "dns_port", None) is not None:
        changes["dns_port"] = args.dns_port
    if getattr(args, "samples", None) is not None:
        changes["probe_samples"] = args.samples
    if getattr(args, "timeout_ms", None) is not None:
        changes["probe_timeout"] = args.timeout_ms / 1000.0
    return settings.replace(**changes) if changes else settings


def _row(entry: RankedEndpoint) -> dict[str, Any]:
    result = entry.probe
    return {
        "target": entry.target,
        "host": entry.candidate.host,
        "port": entry.candidate.port,
        "source": entry.source,
        "priority": entry.candidate.priority,
        "weight": entry.candidate.weight,
        "region": entry.candidate.region,
        "samples_ms": [round(v, 3) for v in result.samples_ms] if result else [],
        "median_ms": round(result.median_ms, 3)
        if result and result.median_ms is not None
        else None,
        "ok": bool(result and result.ok),
        "error": result.error if result else "not probed",
    }


def _table(rows: list[dict[str, Any]]) -> list[str]:
    header = ["#", "target", "source", "region", "samples (ms)", "median ms", "status"]
    body = [
        [
            str(i),
            row["target"],
            row["source"],
            row["region"] or "-",
            " ".join(f"{v:.2f}" for v in row["samples_ms"]) or "-",
            f"{row['median_ms']:.2f}" if row["median_ms"] is not None else "-",
            "ok" if row["ok"] else f"FAIL {row['error']}",
        ]
        for i, row in enumerate(rows, 1)
    ]
    widths = [max(len(r[c]) for r in [header, *body]) for c in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(r, widths, strict=True)).rstrip()
        for r in [header, *body]
    ]


def run_probe(
    args: argparse.Namespace,
    *,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run ``arcguard probe`` with parsed *args*; returns the exit status.

    Parameters:
        args: the namespace from a parser set up by :func:`add_probe_arguments`.
        environ: the environment; None reads ``os.environ``.
        stdout: where the report goes (default ``sys.stdout``).
        stderr: where errors go (default ``sys.stderr``).
    """
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    env = os.environ if environ is None else environ
    try:
        selector = EndpointSelector(_settings(args, env), environ=env)
    except ConfigurationError as exc:
        print(f"arcguard probe: configuration error: {exc}", file=err)
        return 2
    try:
        selector.probe_now()
        ranked = selector.ranked()
        choice = selector.choice()
    finally:
        selector.close()
    rows = [_row(entry) for entry in ranked]
    chosen = next((row for row in rows if row["target"] == choice.target), None)
    status = 0 if chosen is not None and chosen["ok"] else 1
    platform = selector.platform
    if getattr(args, "json", False):
        document = {
            "platform": None
            if platform is None
            else {
                "name": platform.name,
                "region": platform.region,
                "markers": list(platform.markers),
            },
            "candidates": rows,
            "choice": {"target": choice.target, "source": choice.source, "reason": choice.reason},
        }
        print(json.dumps(document, indent=2), file=out)
        return status
    if platform is None:
        print("platform: none", file=out)
    else:
        print(
            f"platform: {platform.name} (region {platform.region or '-'}; "
            f"from {', '.join(platform.markers)})",
            file=out,
        )
    for line in _table(rows):
        print(line, file=out)
    print(f"choice: {choice.target} ({choice.source}): {choice.reason}", file=out)
    return status


def probe_command(args: argparse.Namespace) -> int:
    """Same as :func:`run_probe` with the process environment and standard streams."""
    return run_probe(args)


def main(argv: list[str] | None = None) -> int:
    """Run ``arcguard probe`` on its own: ``python -m arcguard._endpoint.cli [options]``."""
    parser = argparse.ArgumentParser(prog="arcguard probe", description=__doc__.split("\n")[0])
    add_probe_arguments(parser)
    return run_probe(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
