"""The labelled shield corpora (core-wasm/data/corpora) and requests built from their lines.

Shared by the shield tests and ``benchmarks/bench_shield.py``. The file
format is the one ``cargo test -p arcguard-core corpora`` reads (see
docs/shield.md, "Corpora"): a line that is ``#`` or starts with ``# `` is a
comment, empty lines are skipped, nothing else is trimmed except a trailing
``\\r``. So ``#{7*7}`` and ``#hashtag`` are values, not comments.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from arcguard import RequestDetails

__all__ = [
    "BENIGN",
    "CATEGORY_OF",
    "CORPORA_DIR",
    "MAX_FALSE_POSITIVE_RATE",
    "MIN_DETECTION_RATE",
    "form_request",
    "ip_addresses",
    "json_request",
    "load_corpora",
    "load_corpus",
    "query_request",
]

CORPORA_DIR = Path(__file__).resolve().parents[2] / "core-wasm" / "data" / "corpora"
#: The false-positive corpus; every other file is one attack category.
BENIGN = "benign"
#: Corpus file stem -> the category the shield should name for its lines.
CATEGORY_OF = {
    "sqli": "SQL_INJECTION",
    "nosqli": "NOSQL_INJECTION",
    "xss": "XSS",
    "traversal": "PATH_TRAVERSAL",
    "lfi_rfi": "FILE_INCLUSION",
    "cmdi": "COMMAND_INJECTION",
    "ssrf": "SSRF",
    "ssti": "TEMPLATE_INJECTION",
    "jndi": "JNDI",
    "crlf": "CRLF",
    "xxe": "XXE",
}
#: The thresholds ``cargo test`` asserts natively (core-wasm/core/src/shield/tests.rs).
MIN_DETECTION_RATE = 0.97
MAX_FALSE_POSITIVE_RATE = 0.005

HOST = "app.example"
UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)


def load_corpus(path: Path) -> list[str]:
    """The values of one corpus file, in order."""
    values = []
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line.endswith("\r"):
            line = line[:-1]
        if line == "" or line == "#" or line.startswith("# "):
            continue
        values.append(line)
    return values


def load_corpora() -> dict[str, list[str]]:
    """Every corpus by file stem, benign included; fails if the set of files changed."""
    corpora = {p.stem: load_corpus(p) for p in sorted(CORPORA_DIR.glob("*.txt"))}
    expected = {*CATEGORY_OF, BENIGN}
    if set(corpora) != expected:
        raise RuntimeError(
            f"corpora in {CORPORA_DIR} are {sorted(corpora)}, expected {sorted(expected)}: "
            "update CATEGORY_OF"
        )
    return corpora


def ip_addresses() -> Iterator[str]:
    """Distinct client IPs (10.0.0.1, 10.0.0.2, ...).

    Corpus requests each come from their own IP: from one IP, the shield's
    escalation would block the client after a few attack lines and deny the
    benign lines that follow for that reason, not for their content.
    """
    for n in itertools.count(1):
        yield f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def query_request(value: str, ip: str = "198.51.100.7") -> RequestDetails:
    """``GET /search?q=<value percent-encoded>``."""
    return RequestDetails(
        ip=ip,
        method="GET",
        host=HOST,
        path="/search",
        query="q=" + quote(value, safe=""),
        headers=[("host", HOST), ("user-agent", UA), ("accept", "text/html")],
    )


def _post(body: bytes, content_type: str, ip: str) -> RequestDetails:
    return RequestDetails(
        ip=ip,
        method="POST",
        host=HOST,
        path="/comments",
        headers=[
            ("host", HOST),
            ("user-agent", UA),
            ("content-type", content_type),
            ("content-length", str(len(body))),
        ],
        body=body,
    )


def json_request(value: str, ip: str = "198.51.100.7") -> RequestDetails:
    """``POST /comments`` with the JSON body ``{"comment": <value>}``."""
    return _post(json.dumps({"comment": value}).encode(), "application/json", ip)


def form_request(value: str, ip: str = "198.51.100.7") -> RequestDetails:
    """``POST /comments`` with the form body ``comment=<value percent-encoded>``."""
    body = ("comment=" + quote(value, safe="")).encode()
    return _post(body, "application/x-www-form-urlencoded", ip)
