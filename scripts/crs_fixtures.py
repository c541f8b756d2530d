"""Turns an OWASP CRS v4 checkout's regression tests into request fixtures.

The fixtures are the JSON-lines requests ``arcguard check`` reads (see
``arcguard/_cli.py``), one object per go-ftw test stage of the application
attack suites (``tests/regression/tests/REQUEST-930`` ... ``REQUEST-944``),
each the request go-ftw puts on the wire, byte for byte:

* ``method``, ``path``, ``query`` (the request target split at its first
  ``?``; UTF-8 text, percent-encoding untouched), ``version``;
* ``headers``: ordered ``[name, value]`` pairs as sent, the ones go-ftw adds
  included (``Content-Type: application/x-www-form-urlencoded`` for a body
  without one, ``Content-Length``, ``Connection: close``), each byte one
  character (Latin-1, as HTTP reads header bytes);
* ``body`` (UTF-8 text) or ``body_base64`` (bytes that are not UTF-8), after
  go-ftw's encoding of form bodies (keys and values URL-encoded when the body
  holds no ``%`` or ``+``) and its ``\\n`` -> ``\\r\\n`` in multipart bodies;
* ``ip``: a distinct client address per fixture;
* ``label``: the family (``942-sqli``), so ``arcguard check --summary`` prints
  detection per family;
* ``crs``: where it came from and what it is: rule id, test id, stage, family,
  ``location`` of the payload (query, path, form, json, text, xml, multipart,
  cookie, header), the ids CRS expects to fire or not, and the CRS version and
  commit.

Kept: ``attacks.jsonl``, the stages that expect a paranoia-level-1 rule
(section of the rule file, cross-checked with its ``paranoia-level/N`` tag)
to fire; ``negatives.jsonl``, the stages that expect no rule at all to fire
but list a PL1 rule that must not. Also written: CRS's ``LICENSE`` and a
``README.md`` naming version, commit and this command.

Usage (the committed set)::

    python scripts/crs_fixtures.py \\
        --git-dir /work/.mirror/coreruleset+coreruleset/repo --rev HEAD \\
        --out tests/shield/data/crs

Needs PyYAML (the ``dev`` extra).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import yaml

FAMILIES = {
    "930": "lfi",
    "931": "rfi",
    "932": "rce",
    "933": "php",
    "934": "generic",
    "941": "xss",
    "942": "sqli",
    "943": "session-fixation",
    "944": "java",
}
SUITE = re.compile(r"REQUEST-(9[34]\d)-")
# go-ftw's methodsWithBodyRegex, quirk included (^POST|PUT|PATCH|DELETE$).
METHODS_WITH_BODY = re.compile(r"^POST|PUT|PATCH|DELETE$")
PL_MARKER = re.compile(r'TX:DETECTION_PARANOIA_LEVEL\s+"@lt (\d)"')
PL_TAG = re.compile(r"tag:'paranoia-level/(\d)'")
RULE_ID = re.compile(r"\bid:(\d+)")
VERSION = re.compile(r"ver:'OWASP_CRS/([^']+)'")


def extract(git_dir: Path, rev: str, into: Path) -> tuple[str, str]:
    """Writes the tests, rules and licence of ``rev`` under ``into``; returns (commit, describe)."""
    commit = subprocess.run(
        ["git", f"--git-dir={git_dir}", "rev-parse", f"{rev}^{{commit}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    describe = subprocess.run(
        ["git", f"--git-dir={git_dir}", "describe", "--tags", commit],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    paths = ["tests/regression/tests", "rules", "LICENSE"]
    archive = subprocess.run(
        ["git", f"--git-dir={git_dir}", "archive", commit, *paths],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return commit, describe or commit[:12]


def paranoia_levels(rules_dir: Path) -> tuple[dict[int, int], str]:
    """Rule id -> paranoia level for the REQUEST-9xx rule files, and CRS's version string.

    A rule's level is the section of its file it sits in (after
    ``TX:DETECTION_PARANOIA_LEVEL "@lt N"`` markers); a ``paranoia-level/N``
    tag that disagrees is an error.
    """
    levels: dict[int, int] = {}
    versions: Counter[str] = Counter()
    for conf in sorted(rules_dir.glob("REQUEST-9*.conf")):
        text = conf.read_text(encoding="utf-8")
        statements = re.sub(r"\\\n", " ", text).split("\n")
        section = 1
        for st in statements:
            st = st.strip()
            if not st.startswith(("SecRule", "SecAction")):
                continue
            versions.update(VERSION.findall(st))
            marker = PL_MARKER.search(st)
            if marker:
                section = int(marker.group(1))
                continue
            m = RULE_ID.search(st)
            if not m:
                continue  # a chained rule: no id of its own
            rule = int(m.group(1))
            tag = PL_TAG.search(st)
            if tag and int(tag.group(1)) != section:
                raise SystemExit(f"{conf.name}: rule {rule} tagged PL{tag.group(1)} in PL{section}")
            levels[rule] = section
    version = versions.most_common(1)[0][0] if versions else "unknown"
    return levels, version


def form_encoded(data: bytes) -> bytes:
    """go-ftw's encodeDataParameters: URL-encode keys and values of a body that
    Go's url.QueryUnescape leaves unchanged (no ``%``, no ``+``)."""
    if b"%" in data or b"+" in data:
        return data
    out = []
    for token in data.split(b"&"):
        key, eq, value = token.partition(b"=")
        if not eq:
            out.append(quote_plus(key, safe=""))
        else:
            out.append(quote_plus(key, safe="") + "=" + quote_plus(value, safe=""))
    return "&".join(out).encode()


def header_index(headers: list[list[str]], name: str) -> int:
    for i, (k, _) in enumerate(headers):
        if k.lower() == name:
            return i
    return -1


def wire_request(stage: dict[str, Any]) -> tuple[str, str, str, list[list[str]], bytes]:
    """(method, target, version, headers, body) as go-ftw sends the stage."""
    if stage.get("encoded_request"):
        return parse_raw(base64.b64decode(stage["encoded_request"]))
    method = stage.get("method") or "GET"
    target = stage.get("uri") or "/"
    version = stage.get("version") or "HTTP/1.1"
    headers = [[str(k), str(v)] for k, v in (stage.get("headers") or {}).items()]
    data = stage.get("data")
    if data is not None and "{{" in data:
        raise SystemExit(f"go template in data, not supported: {data[:60]!r}")
    body = (data or "").encode("utf-8")
    auto = stage.get("autocomplete_headers", True)
    if body and auto:
        ct = header_index(headers, "content-type")
        if ct < 0:
            headers.append(["Content-Type", "application/x-www-form-urlencoded"])
        if any(
            k.lower() == "content-type" and v.lower() == "application/x-www-form-urlencoded"
            for k, v in headers
        ):
            body = form_encoded(body)
    if any(k.lower() == "content-type" and "multipart/form-data;" in v.lower() for k, v in headers):
        body = body.replace(b"\n", b"\r\n")
    if auto:
        if header_index(headers, "connection") < 0:
            headers.append(["Connection", "close"])
        if header_index(headers, "content-length") < 0 and (
            body or METHODS_WITH_BODY.search(method)
        ):
            headers.append(["Content-Length", str(len(body))])
    # Header bytes as HTTP reads them: one character per byte.
    headers = [
        [k.encode("utf-8").decode("latin-1"), v.encode("utf-8").decode("latin-1")]
        for k, v in headers
    ]
    return method, target, version, headers, body


def parse_raw(raw: bytes) -> tuple[str, str, str, list[list[str]], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    headers = [[k, v.lstrip(" ")] for k, _, v in (line.partition(":") for line in lines[1:])]
    return method, target, version, headers, body


def rebuild(method: str, target: str, version: str, headers: list[list[str]], body: bytes) -> bytes:
    """The wire bytes of a fixture (what the peer benchmark sends)."""
    head = f"{method} {target} {version}\r\n".encode("utf-8", "surrogateescape")
    head += b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in headers)
    return head + b"\r\n" + body


# Parts of a request that recur in at least this many fixtures are CRS's
# boilerplate (``/post``, ``test=value``, its User-Agent), not a payload.
BOILERPLATE = 10
PLAIN_PATHS = re.compile(r"/(?:get|post|upload|index\.html)?/?")


def body_kind(content_type: str) -> str:
    ct = content_type.lower()
    for needle, kind in (
        ("multipart/", "multipart"),
        ("xml", "xml"),
        ("json", "json"),
        ("x-www-form-urlencoded", "form"),
    ):
        if needle in ct:
            return kind
    return "text"


def parts(fixture: dict[str, Any]) -> list[tuple[str, str]]:
    """(location, content) of each part of a request a payload can sit in."""
    found = [("path", fixture["path"]), ("query", fixture["query"])]
    for k, v in fixture["headers"]:
        name = k.lower()
        if name in ("host", "connection", "content-length"):
            continue
        found.append(("cookie" if name == "cookie" else "header", f"{name}: {v}"))
    body = fixture.get("body", fixture.get("body_base64", ""))
    if body:
        ct = next((v for k, v in fixture["headers"] if k.lower() == "content-type"), "")
        found.append((body_kind(ct), body))
    return found


def locate(items: list[dict[str, Any]]) -> None:
    """Sets ``crs.location`` of each fixture: the part of the request that is
    its own (not boilerplate); if several are, the body, then a cookie, the
    query, another header, the path (a test's marker header such as
    ``X-FTW`` or an off-site ``Referer`` comes with a payload elsewhere)."""
    seen = Counter(p for f in items for p in set(parts(f)))
    order = ("multipart", "xml", "json", "form", "text", "cookie", "query", "header", "path")
    for f in items:
        own = {
            kind
            for kind, content in parts(f)
            if content
            and seen[(kind, content)] < BOILERPLATE
            and not (kind == "path" and PLAIN_PATHS.fullmatch(content))
        }
        f["crs"]["location"] = next(
            (k for k in order if k in own), "query" if f["query"] else "path"
        )


def fixtures(root: Path, commit: str) -> tuple[list[dict[str, Any]], ...]:
    levels, crs_version = paranoia_levels(root / "rules")
    attacks: list[dict[str, Any]] = []
    negatives: list[dict[str, Any]] = []
    tests_dir = root / "tests" / "regression" / "tests"
    for suite in sorted(tests_dir.iterdir()):
        m = SUITE.match(suite.name)
        if not m or m.group(1) not in FAMILIES:
            continue
        family = m.group(1)
        for path in sorted(suite.glob("*.yaml")):
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
            rule = int(doc["rule_id"])
            for test in doc["tests"]:
                for n, stage in enumerate(test["stages"], 1):
                    log = (stage.get("output") or {}).get("log") or {}
                    expect = [int(i) for i in log.get("expect_ids") or []]
                    no_expect = [int(i) for i in log.get("no_expect_ids") or []]
                    if any(levels.get(i) == 1 for i in expect):
                        kept = attacks
                    elif not expect and any(levels.get(i) == 1 for i in no_expect):
                        kept = negatives
                    else:
                        continue
                    method, target, http, headers, body = wire_request(stage["input"])
                    path_part, _, query = target.partition("?")
                    fixture: dict[str, Any] = {
                        "method": method,
                        "path": path_part,
                        "query": query,
                        "version": http,
                        "headers": headers,
                    }
                    try:
                        fixture["body"] = body.decode("utf-8")
                    except UnicodeDecodeError:
                        fixture["body_base64"] = base64.b64encode(body).decode()
                    fixture["crs"] = {
                        "rule": rule,
                        "test": test["test_id"],
                        "stage": n,
                        "family": family,
                        "location": "",
                        "expect_ids": expect,
                        "no_expect_ids": no_expect,
                        "desc": test.get("desc", ""),
                        "version": crs_version,
                        "commit": commit,
                    }
                    fixture["label"] = f"{family}-{FAMILIES[family]}"
                    kept.append(fixture)
    locate(attacks + negatives)
    for kind, items in (("a", attacks), ("n", negatives)):
        for i, f in enumerate(items):
            f["ip"] = f"10.{93 if kind == 'a' else 94}.{i >> 8 & 255}.{i & 255}"
    return attacks, negatives


def write_jsonl(path: Path, items: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for item in items:
            f.write(json.dumps(item, ensure_ascii=False, sort_keys=False) + "\n")


README = """\
# OWASP CRS regression tests as request fixtures

The application-attack suites of the OWASP Core Rule Set's regression tests
(`tests/regression/tests/REQUEST-930` ... `REQUEST-944`), converted to the
JSON-lines requests `arcguard check` reads, each exactly the request go-ftw
puts on the wire. They are the shield's outside yardstick: not material for
its corpora (`core-wasm/data/corpora`), and never special-cased.

- CRS version **{version}**, commit `{commit}` (`git describe`: `{describe}`),
  <https://github.com/coreruleset/coreruleset>.
- Licence: Apache-2.0, CRS's own text in `LICENSE` here.
- `attacks.jsonl`: {n_attacks} stages that expect a paranoia-level-1 rule to fire.
- `negatives.jsonl`: {n_negatives} stages that expect no rule to fire while
  naming a PL1 rule that must not.
- `floor.json`: the detection floor `tests/shield/test_crs.py` asserts (raise it
  as the detectors improve).

Regenerate (after `git -C <crs> fetch` or with another `--rev`):

    python scripts/crs_fixtures.py --git-dir {git_dir} --rev {rev} --out {out}

Per family (attacks): {families}.
Per location (attacks): {locations}.

Fixture fields: see `scripts/crs_fixtures.py`. The `crs` object is metadata
(`arcguard check` ignores it); `label` is the family.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--git-dir", type=Path, required=True, help="a CRS git directory")
    parser.add_argument("--rev", default="HEAD", help="the commit or tag to convert")
    parser.add_argument("--out", type=Path, default=Path("tests/shield/data/crs"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        commit, describe = extract(args.git_dir, args.rev, root)
        attacks, negatives = fixtures(root, commit)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "LICENSE").write_bytes((root / "LICENSE").read_bytes())
    write_jsonl(args.out / "attacks.jsonl", attacks)
    write_jsonl(args.out / "negatives.jsonl", negatives)
    families = Counter(f["label"] for f in attacks)
    locations = Counter(f["crs"]["location"] for f in attacks)
    (args.out / "README.md").write_text(
        README.format(
            version=attacks[0]["crs"]["version"],
            commit=commit,
            describe=describe,
            n_attacks=len(attacks),
            n_negatives=len(negatives),
            git_dir=args.git_dir,
            rev=args.rev,
            out=args.out,
            families=", ".join(f"{k} {v}" for k, v in sorted(families.items())),
            locations=", ".join(f"{k} {v}" for k, v in locations.most_common()),
        ),
        encoding="utf-8",
    )
    print(f"{len(attacks)} attacks, {len(negatives)} negatives -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
