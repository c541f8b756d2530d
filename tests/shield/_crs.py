"""The OWASP CRS regression requests (tests/shield/data/crs) as a user sends them.

Shared by ``tests/shield/test_crs.py`` and ``benchmarks/bench_crs.py``. Each
fixture (made by ``scripts/crs_fixtures.py``) is the request go-ftw puts on
the wire; :func:`wsgi_environ` turns it into the environ a WSGI server
(gunicorn's conventions, PEP 3333) hands the app, and :func:`run` sends it
through ``guard.details(environ, body=...)`` and ``guard.protect()`` from a
fresh client IP.
"""

from __future__ import annotations

import base64
import io
import json
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from arcguard import ArcGuard

__all__ = [
    "CRS_DIR",
    "FAMILIES",
    "LOCATIONS",
    "Outcome",
    "load_fixtures",
    "misses_summary",
    "rates",
    "run",
    "table",
    "wire_bytes",
    "wsgi_environ",
]

CRS_DIR = Path(__file__).resolve().parent / "data" / "crs"
#: CRS rule-file family -> name.
FAMILIES = {
    "930": "LFI",
    "931": "RFI",
    "932": "RCE",
    "933": "PHP",
    "934": "generic/Node",
    "941": "XSS",
    "942": "SQLi",
    "943": "session fixation",
    "944": "Java",
}
LOCATIONS = ("query", "path", "form", "json", "text", "xml", "multipart", "cookie", "header")


def load_fixtures(name: str = "attacks") -> list[dict[str, Any]]:
    """The fixtures of ``<name>.jsonl`` (``attacks`` or ``negatives``), in order."""
    path = CRS_DIR / f"{name}.jsonl"
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def body_of(fixture: Mapping[str, Any]) -> bytes:
    """The body bytes as sent (everything after the header block)."""
    if fixture.get("body_base64"):
        return base64.b64decode(fixture["body_base64"])
    return str(fixture.get("body") or "").encode("utf-8", "surrogateescape")


def target_of(fixture: Mapping[str, Any]) -> str:
    query = fixture.get("query") or ""
    return str(fixture["path"]) + ("?" + query if query else "")


def wire_bytes(fixture: Mapping[str, Any]) -> bytes:
    """The request exactly as go-ftw sends it: request line, headers, body."""
    line = f"{fixture['method']} {target_of(fixture)} {fixture.get('version') or 'HTTP/1.1'}"
    head = line.encode("utf-8", "surrogateescape") + b"\r\n"
    head += b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in fixture["headers"])
    return head + b"\r\n" + body_of(fixture)


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def wsgi_environ(fixture: Mapping[str, Any], ip: str) -> tuple[dict[str, Any], bytes]:
    """The WSGI environ a server builds for the fixture's wire bytes, and the body
    the app reads (``Content-Length`` bytes of what was sent).

    As gunicorn does: native strings are the wire bytes as Latin-1; PATH_INFO
    is the percent-decoded path, RAW_URI the request target as sent; header
    names with ``_`` are dropped (gunicorn's and Werkzeug's default, against
    header smuggling), repeated headers joined with ``,``.
    """
    body = body_of(fixture)
    raw_target = target_of(fixture).encode("utf-8", "surrogateescape").decode("latin-1")
    split = urlsplit(raw_target)
    path = split.path or "/"
    environ: dict[str, Any] = {
        "REQUEST_METHOD": fixture["method"],
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
        "QUERY_STRING": split.query
        if raw_target.startswith("http")
        else raw_target.partition("?")[2],
        "RAW_URI": raw_target,
        "SERVER_PROTOCOL": fixture.get("version") or "HTTP/1.1",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": ip,
        "REMOTE_PORT": "49152",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in fixture["headers"]:
        if "_" in name or not _TOKEN.fullmatch(name):
            continue
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        value = value.strip(" \t")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    length = environ.get("CONTENT_LENGTH", "")
    if length.isdigit():
        body = body[: int(length)]
    environ["wsgi.input"] = io.BytesIO(body)
    return environ, body


@dataclass(frozen=True)
class Outcome:
    """One fixture's decision."""

    fixture: Mapping[str, Any]
    denied: bool
    error: bool
    reason: Mapping[str, Any]


def run(guard: ArcGuard, fixtures: Iterable[Mapping[str, Any]], net: int = 93) -> list[Outcome]:
    """Sends each fixture through ``guard.details(environ, body=...)`` and
    ``guard.protect()``, each from its own client IP (``10.<net>.x.y``)."""
    out = []
    for n, fixture in enumerate(fixtures):
        environ, body = wsgi_environ(fixture, f"10.{net}.{n >> 8 & 255}.{n & 255}")
        decision = guard.protect(guard.details(environ, body=body))
        out.append(
            Outcome(
                fixture,
                decision.is_denied(),
                decision.conclusion.value == "ERROR",
                decision.reason.to_dict(),
            )
        )
    return out


def _group(outcomes: Sequence[Outcome], key: str) -> dict[str, tuple[int, int]]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for o in outcomes:
        row = counts[str(o.fixture["crs"][key])]
        row[0] += 1
        row[1] += o.denied
    return {k: (n, d) for k, (n, d) in counts.items()}


def rates(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Detection as fractions: ``overall``, ``families`` {930: ...}, ``locations``."""
    n = len(outcomes)
    return {
        "overall": sum(o.denied for o in outcomes) / n if n else 0.0,
        "families": {k: d / t for k, (t, d) in sorted(_group(outcomes, "family").items())},
        "locations": {k: d / t for k, (t, d) in _group(outcomes, "location").items()},
    }


def table(outcomes: Sequence[Outcome], title: str = "ArcGuard shield") -> str:
    """Detection per family and per location, as text."""
    lines = [f"{title}: {sum(o.denied for o in outcomes)}/{len(outcomes)} denied"]
    lines.append(f"  {'family':<24} {'requests':>8} {'denied':>7} {'rate':>7}")
    for fam, (n, d) in sorted(_group(outcomes, "family").items()):
        name = f"{fam} {FAMILIES.get(fam, '')}"
        lines.append(f"  {name:<24} {n:>8} {d:>7} {100 * d / n:>6.1f}%")
    lines.append(f"  {'location':<24} {'requests':>8} {'denied':>7} {'rate':>7}")
    by_loc = _group(outcomes, "location")
    for loc in sorted(by_loc, key=lambda k: LOCATIONS.index(k) if k in LOCATIONS else 99):
        n, d = by_loc[loc]
        lines.append(f"  {loc:<24} {n:>8} {d:>7} {100 * d / n:>6.1f}%")
    errors = sum(o.error for o in outcomes)
    if errors:
        lines.append(f"  ERROR decisions: {errors}")
    return "\n".join(lines)


def misses_summary(outcomes: Sequence[Outcome], per_family: int = 6) -> str:
    """The missed fixtures per family, grouped by CRS rule (its test
    description) and location, most frequent first, with one example each."""
    groups: dict[str, Counter[tuple[int, str]]] = defaultdict(Counter)
    example: dict[tuple[int, str], str] = {}
    for o in outcomes:
        if o.denied:
            continue
        crs = o.fixture["crs"]
        key = (int(crs["rule"]), str(crs["location"]))
        groups[str(crs["family"])][key] += 1
        example.setdefault(key, _excerpt(o.fixture))
    lines = []
    for fam in sorted(groups):
        total = sum(groups[fam].values())
        lines.append(f"{fam} {FAMILIES.get(fam, '')}: {total} missed")
        for (rule, loc), n in groups[fam].most_common(per_family):
            lines.append(f"  {n:>4} rule {rule} in {loc}: {example[(rule, loc)]}")
    return "\n".join(lines)


_BOILERPLATE_HEADERS = {
    "host",
    "user-agent",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "connection",
    "content-length",
    "content-type",
}


def _excerpt(fixture: Mapping[str, Any], width: int = 110) -> str:
    loc = fixture["crs"]["location"]
    if loc in ("cookie", "header"):
        pairs = [
            (k, v) for k, v in fixture["headers"] if (k.lower() == "cookie") == (loc == "cookie")
        ]
        own = [(k, v) for k, v in pairs if k.lower() not in _BOILERPLATE_HEADERS] or pairs
        text = " | ".join(f"{k}: {v}" for k, v in own)
    elif loc in ("query", "path"):
        text = target_of(fixture)
    else:
        text = body_of(fixture).decode("utf-8", "replace")
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 1] + "…"
