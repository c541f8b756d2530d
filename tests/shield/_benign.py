"""The large benign corpus (tests/shield/data/benign) as requests.

Shared by ``tests/shield/test_benign.py`` and the benchmarks. Each value is
sent three ways a browser or API client sends user input: as a query value
(``GET /search?q=``), a form body (``POST /comments``) and a JSON body
(``POST /api/comments``, ``{"comment": value}``; a ``json_api`` value is
the whole body). The requests are fixtures in the format of
``tests/shield/data/crs`` so that :func:`tests.shield._crs.run` and the peer
benchmarks send them the same way.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from ._crs import Outcome

__all__ = [
    "BENIGN_DIR",
    "ENCODINGS",
    "benign_fixtures",
    "fp_table",
    "load_benign",
]

BENIGN_DIR = Path(__file__).resolve().parent / "data" / "benign"
ENCODINGS = ("query", "form", "json")
_BROWSER = [
    ["Host", "app.example"],
    [
        "User-Agent",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
    ],
    ["Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"],
    ["Accept-Language", "en-US,en;q=0.9"],
    ["Accept-Encoding", "gzip, deflate, br"],
]


def load_benign() -> dict[str, list[dict[str, str]]]:
    """Source name -> its ``{"value", "from"}`` records, in file order."""
    out = {}
    for path in sorted(BENIGN_DIR.glob("*.jsonl")):
        with path.open(encoding="utf-8") as f:
            out[path.stem] = [json.loads(line) for line in f if line.strip()]
    return out


def _fixture(source: str, encoding: str, value: str, origin: str) -> dict[str, Any]:
    meta = {"family": source, "location": encoding, "from": origin}
    if encoding == "query":
        return {
            "method": "GET",
            "path": "/search",
            "query": "q=" + quote(value, safe=""),
            "headers": [*_BROWSER, ["Connection", "close"]],
            "body": "",
            "crs": meta,
        }
    if encoding == "form":
        body = "comment=" + quote_plus(value, safe="")
        ctype = "application/x-www-form-urlencoded"
    else:
        body = value if source == "json_api" else json.dumps({"comment": value}, ensure_ascii=False)
        ctype = "application/json"
    return {
        "method": "POST",
        "path": "/api/comments" if encoding == "json" else "/comments",
        "query": "",
        "headers": [
            *_BROWSER,
            ["Content-Type", ctype],
            ["Content-Length", str(len(body.encode("utf-8")))],
            ["Connection", "close"],
        ],
        "body": body,
        "crs": meta,
    }


def benign_fixtures(
    corpus: Mapping[str, Sequence[Mapping[str, str]]] | None = None,
    encodings: Sequence[str] = ENCODINGS,
) -> Iterator[dict[str, Any]]:
    """Every value of every source in every encoding (``crs.family`` is the
    source, ``crs.location`` the encoding)."""
    corpus = load_benign() if corpus is None else corpus
    for source, records in corpus.items():
        for enc in encodings:
            for r in records:
                yield _fixture(source, enc, r["value"], r["from"])


def fp_table(outcomes: Sequence[Outcome], title: str = "ArcGuard shield") -> str:
    """False positives per source and encoding, as text."""
    cells: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for o in outcomes:
        crs = o.fixture["crs"]
        for key in (crs["family"], "all"):
            for enc in (crs["location"], "all"):
                cell = cells[key][enc]
                cell[0] += 1
                cell[1] += o.denied
    encs = [*ENCODINGS, "all"]
    lines = [f"{title}: false positives on the benign corpus"]
    lines.append(f"  {'source':<16} {'values':>7} " + " ".join(f"{e:>13}" for e in encs))
    for key in [*sorted(k for k in cells if k != "all"), "all"]:
        row = cells[key]
        n = row["query"][0] or row["all"][0]
        fmt = [f"{row[e][1]:>5} {100 * row[e][1] / row[e][0]:>6.2f}%" for e in encs if row[e][0]]
        lines.append(f"  {key:<16} {n:>7} " + " ".join(fmt))
    return "\n".join(lines)
