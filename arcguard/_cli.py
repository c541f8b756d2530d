"""The ``arcguard`` command line.

Commands:
    check   evaluate requests (JSON lines) or attack corpora against a rules file
    serve   run the decide service
    dev     run the decide service on loopback with development defaults
    probe   show the platform found, each candidate endpoint's round trips and the choice
    demo    run a demo app protected by ArcGuard in local dev mode
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import tomllib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from ._exceptions import ConfigurationError
from ._guard import ArcGuard
from ._request import RequestDetails
from ._rules import Rule, rule_from_config

__all__ = ["load_rules", "main"]


def load_rules(path: str | Path) -> tuple[list[Rule], dict[str, Any]]:
    """Reads a TOML rules file: ``[[rules]]`` tables with ``kind`` and the
    options of the matching Python constructor, and an optional ``[guard]``
    table of :class:`ArcGuard` options (``fail_open``, ``trusted_proxies``...).

    Raises:
        ConfigurationError: naming the file, the rule and the problem.
    """
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"{p}: cannot read rules file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{p}: invalid TOML: {exc}") from None
    tables = data.get("rules")
    if not isinstance(tables, list) or not tables:
        raise ConfigurationError(f"{p}: expected one or more [[rules]] tables")
    rules = []
    for i, table in enumerate(tables):
        try:
            rules.append(rule_from_config(table))
        except ConfigurationError as exc:
            raise ConfigurationError(f"{p}: rules[{i}]: {exc}") from None
    guard_opts = data.get("guard", {})
    if not isinstance(guard_opts, dict):
        raise ConfigurationError(f"{p}: [guard] must be a table")
    return rules, guard_opts


def _request_from_json(line: str, lineno: int) -> tuple[RequestDetails, dict[str, Any]]:
    try:
        d = json.loads(line)
    except ValueError as exc:
        raise ValueError(f"line {lineno}: invalid JSON: {exc}") from None
    if not isinstance(d, dict):
        raise ValueError(f"line {lineno}: expected a JSON object")
    headers = d.get("headers") or {}
    if isinstance(headers, dict):
        header_items = [(str(k), str(v)) for k, v in headers.items()]
    elif isinstance(headers, list):
        header_items = [(str(k), str(v)) for k, v in headers]
    else:
        raise ValueError(f"line {lineno}: headers must be an object or a list of pairs")
    path = str(d.get("path") or "/")
    query = str(d.get("query") or "")
    if "?" in path and not query:
        path, query = path.split("?", 1)
    body: str | bytes = d.get("body") or ""
    if d.get("body_base64"):
        try:
            body = base64.b64decode(str(d["body_base64"]), validate=True)
        except ValueError:
            raise ValueError(f"line {lineno}: body_base64 is not base64") from None
    details = RequestDetails(
        ip=str(d.get("ip") or "127.0.0.1"),
        method=str(d.get("method") or "GET"),
        host=str(d.get("host") or dict((k.lower(), v) for k, v in header_items).get("host", "")),
        path=path,
        query=query,
        headers=header_items,
        body=body.encode() if isinstance(body, str) else bytes(body),
    )
    extras = d.get("extras") or {}
    if not isinstance(extras, dict):
        raise ValueError(f"line {lineno}: extras must be an object")
    if d.get("email") is not None:  # validate_email / protect_signup read the email extra
        extras = {**extras, "email": str(d["email"])}
    return details, {"label": d.get("label"), "extras": extras}


def _inputs(args: argparse.Namespace) -> Iterator[tuple[RequestDetails, dict[str, Any]]]:
    if args.values:
        n = 0
        for path in args.values:
            label = Path(path).stem
            with open(path, encoding="utf-8", errors="surrogateescape") as f:
                for raw in f:
                    value = raw.rstrip("\n")
                    # The corpus format: "#" alone or "# ..." is a comment;
                    # "#{7*7}" or "#hashtag" is a value.
                    if not value or value == "#" or value.startswith("# "):
                        continue
                    n += 1
                    # One client per line: each value is judged on its own,
                    # not on the shield's count of earlier lines from one IP.
                    ip = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
                    details = RequestDetails(
                        ip=ip,
                        method="GET",
                        host="app.example",
                        path="/search",
                        query=f"{args.param}={quote(value, safe='')}",
                        headers=[
                            ("host", "app.example"),
                            ("user-agent", _BROWSER_UA),
                            ("accept", "text/html"),
                        ],
                    )
                    yield details, {"label": label, "extras": {}}
        return
    stream: IO[str]
    if args.requests in (None, "-"):
        stream = sys.stdin
    else:
        stream = open(args.requests, encoding="utf-8")
    with stream:
        for lineno, line in enumerate(stream, 1):
            if line.strip():
                yield _request_from_json(line, lineno)


_BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)


def _check(args: argparse.Namespace) -> int:
    try:
        rules, opts = load_rules(args.rules)
        guard = ArcGuard(rules=rules, environ={"ARCGUARD_ENV": "development"}, **opts)
    except (ConfigurationError, TypeError) as exc:
        print(f"arcguard check: {exc}", file=sys.stderr)
        return 2
    table: dict[str, list[int]] = {}
    out = sys.stdout
    try:
        for details, meta in _inputs(args):
            extras = meta["extras"]
            decision = guard.protect(details, **extras) if extras else guard.protect(details)
            label = meta["label"]
            if args.summary:
                row = table.setdefault(str(label or "requests"), [0, 0, 0])
                row[0] += 1
                row[1] += decision.conclusion.value == "DENY"
                row[2] += decision.conclusion.value == "ERROR"
                continue
            line: dict[str, Any] = {
                "conclusion": decision.conclusion.value,
                "reason": decision.reason.to_dict(),
                "ip": decision.ip,
                "rules": [
                    {
                        "kind": r.kind,
                        "mode": r.mode,
                        "state": r.state.value,
                        "conclusion": r.conclusion.value,
                        "reason": r.reason.to_dict(),
                    }
                    for r in decision.results
                ],
            }
            if label is not None:
                line["label"] = label
            out.write(json.dumps(line) + "\n")
    except ValueError as exc:
        print(f"arcguard check: {exc}", file=sys.stderr)
        return 2
    finally:
        guard.close()
    if args.summary:
        out.write(f"{'label':<24} {'requests':>9} {'denied':>8} {'rate':>8} {'errors':>7}\n")
        for label, (n, denied, errors) in sorted(table.items()):
            rate = 100.0 * denied / n if n else 0.0
            out.write(f"{label:<24} {n:>9} {denied:>8} {rate:>7.1f}% {errors:>7}\n")
    return 0


def _demo(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from ._demo import build_demo_app
    except ImportError as exc:
        print(
            f"arcguard demo needs the demo extra (pip install 'arcguard[demo]'): {exc}",
            file=sys.stderr,
        )
        return 2
    app = build_demo_app()
    print(
        f"ArcGuard demo (local dev mode) on http://{args.host}:{args.port}/ — try:\n"
        f"  curl -i http://{args.host}:{args.port}/            (curl is a bot: 403)\n"
        f"  curl -i -A 'Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0' "
        f"'http://{args.host}:{args.port}/search?q=1%27%20OR%201=1--'   (SQL injection: 403)\n",
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


# -- arcguard dev: which of serve's flags it honours, implies or refuses ----------

#: ``serve`` flags that ``dev`` refuses, with why and the ``serve`` command that
#: does it. ``dev`` is one process on 127.0.0.1 with no key, plaintext, memory
#: and its own defaults; anything else is ``arcguard serve`` (``--dev`` there
#: keeps the dev defaults for the rest). Flags ``dev`` honours come from
#: ``decide_service.add_dev_arguments``; :data:`_DEV_IMPLIED` are accepted
#: because they ask for what dev does anyway.
_DEV_REFUSED: dict[str, tuple[bool, str]] = {
    # flag: (takes a value, reason)
    "--host": (
        True,
        "arcguard dev listens on 127.0.0.1 only (no API key, plaintext); to listen "
        "elsewhere run `arcguard serve --host ADDR --api-key-file FILE --tls-cert PEM "
        "--tls-key PEM`",
    ),
    "--redis-url": (
        True,
        "arcguard dev keeps its state in memory in one process; for a shared Redis "
        "store run `arcguard serve --no-auth --redis-url URL`",
    ),
    "--redis-timeout-ms": (
        True,
        "arcguard dev has no Redis store; run `arcguard serve --no-auth --redis-url URL "
        "--redis-timeout-ms MS`",
    ),
    "--workers": (
        True,
        "arcguard dev runs one process (its memory store is per process); run "
        "`arcguard serve --no-auth --workers N --redis-url URL --port PORT`",
    ),
    "--tls-cert": (
        True,
        "arcguard dev serves plaintext on loopback; run `arcguard serve --dev "
        "--tls-cert PEM --tls-key PEM` for TLS",
    ),
    "--tls-key": (
        True,
        "arcguard dev serves plaintext on loopback; run `arcguard serve --dev "
        "--tls-cert PEM --tls-key PEM` for TLS",
    ),
    "--api-key-file": (
        True,
        "arcguard dev accepts every call without a key; run `arcguard serve "
        "--api-key-file FILE` to require keys",
    ),
    "--allow-insecure": (
        False,
        "arcguard dev only listens on loopback, where plaintext needs no permission; "
        "run `arcguard serve --host ADDR --allow-insecure ...` for plaintext elsewhere",
    ),
    "--metrics-host": (
        True,
        "arcguard dev serves metrics on 127.0.0.1 only; run `arcguard serve --dev "
        "--metrics-host ADDR --metrics-port PORT`",
    ),
    "--max-message-size": (
        True,
        "arcguard dev keeps the default limits; run `arcguard serve --dev "
        "--max-message-size BYTES`",
    ),
    "--log-format": (
        True,
        "arcguard dev logs text; run `arcguard serve --dev --log-format json`",
    ),
    "--grace": (True, "arcguard dev keeps the default; run `arcguard serve --dev --grace S`"),
    "--event-loop": (
        True,
        "arcguard dev chooses its event loop itself; run `arcguard serve --dev --event-loop LOOP`",
    ),
}

#: ``serve`` flags that ask for what ``dev`` does anyway: accepted, no effect.
_DEV_IMPLIED: dict[str, str] = {
    "--no-auth": "implied: dev accepts calls without an API key",
    "--dev": "implied: this is dev mode",
}


class _Refused(argparse.Action):
    """Fails the parse naming the flag and why ``dev`` does not take it."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        self.reason: str = kwargs.pop("reason")
        super().__init__(option_strings, dest, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        if option_string == "--host" and values == "127.0.0.1":
            return  # the address dev listens on: honoured as it is
        parser.error(f"{option_string}: {self.reason}")


def add_dev_flags(parser: argparse.ArgumentParser) -> None:
    """The flags of ``arcguard dev``: the ones it honours (port, metrics port,
    log level), the ones it implies, and every other ``serve`` flag refused
    with a message (``tests/sdk/test_cli_dev.py`` holds the table complete)."""
    from decide_service import add_dev_arguments

    add_dev_arguments(parser)
    for flag, note in _DEV_IMPLIED.items():
        parser.add_argument(flag, action="store_true", default=None, help=note)
    for flag, (takes_value, reason) in _DEV_REFUSED.items():
        parser.add_argument(
            flag,
            action=_Refused,
            nargs=None if takes_value else 0,
            reason=reason,
            default=None,
            help=argparse.SUPPRESS,
        )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``arcguard`` command."""
    parser = argparse.ArgumentParser(prog="arcguard", description="ArcGuard request security")
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="evaluate requests against a rules file, locally")
    check.add_argument("--rules", required=True, help="TOML rules file ([[rules]] tables)")
    check.add_argument(
        "requests",
        nargs="?",
        default="-",
        help="JSON lines, one request each ({method, path, query, headers, body or "
        "body_base64, ip, label, email, extras}; headers an object or a list of "
        "[name, value] pairs; other keys are ignored); '-' or absent reads standard input",
    )
    check.add_argument(
        "--values",
        nargs="+",
        metavar="FILE",
        help="instead of requests: one raw value per line, each sent as the "
        "query parameter --param (for attack corpora)",
    )
    check.add_argument("--param", default="q", help="query parameter for --values (default q)")
    check.add_argument(
        "--summary",
        action="store_true",
        help="print a table of denials per label instead of one line per request",
    )
    check.set_defaults(func=_check)

    from decide_service import add_serve_arguments, run_dev, run_serve

    serve = sub.add_parser("serve", help="run the decide service")
    add_serve_arguments(serve)
    serve.set_defaults(func=run_serve)
    dev = sub.add_parser(
        "dev",
        help="run the decide service on loopback, development defaults",
        epilog="The other flags of `arcguard serve` are refused here, each with the "
        "`arcguard serve` command that does it.",
    )
    add_dev_flags(dev)
    dev.set_defaults(func=run_dev)

    from ._endpoint import add_probe_arguments, run_probe

    probe = sub.add_parser("probe", help="show platform, candidate round trips and the choice")
    add_probe_arguments(probe)
    probe.set_defaults(func=run_probe)

    demo = sub.add_parser("demo", help="run a demo app protected by ArcGuard (local dev mode)")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``arcguard`` console script."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
