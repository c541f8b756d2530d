"""The shield on OWASP CRS v4's own regression requests (tests/shield/data/crs).

Each paranoia-level-1 attack stage is sent exactly as written, through
``guard.details(environ, body=...)`` and ``guard.protect()`` with a WSGI
environ as a server builds it and a fresh client IP per request, to
``shield(mode="LIVE")`` at its default sensitivity. Detection per family and
per location is printed (``-s`` or on failure); the floor in ``floor.json``
is asserted so that a regression fails. Raise the floor as the detectors
improve; never lower it to make a change pass.

The CRS requests are the yardstick, not material: they stay out of the
shield's corpora (core-wasm/data/corpora).
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

import pytest

from arcguard import ArcGuard, shield

from ._corpora import load_corpora
from ._crs import (
    CRS_DIR,
    FAMILIES,
    Outcome,
    body_of,
    load_fixtures,
    misses_summary,
    rates,
    run,
    table,
    wire_bytes,
)

DEV = {"ARCGUARD_ENV": "development"}
ROOT = CRS_DIR.parents[3]


@pytest.fixture(scope="module")
def floor() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CRS_DIR / "floor.json").read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def guard() -> Iterator[ArcGuard]:
    g = ArcGuard(rules=[shield(mode="LIVE")], environ=DEV)
    yield g
    g.close()


@pytest.fixture(scope="module")
def attacks(guard: ArcGuard) -> list[Outcome]:
    outcomes = run(guard, load_fixtures("attacks"))
    print("\n" + table(outcomes, "CRS PL1 attacks, shield(mode='LIVE')"))
    print(misses_summary(outcomes, per_family=3))
    return outcomes


def test_the_converted_set_is_the_pl1_attack_suite() -> None:
    fixtures = load_fixtures("attacks")
    assert 1900 <= len(fixtures) <= 2200
    assert {f["crs"]["family"] for f in fixtures} == set(FAMILIES)
    assert len({f["ip"] for f in fixtures}) == len(fixtures)
    commits = {f["crs"]["commit"] for f in fixtures}
    assert len(commits) == 1
    readme = (CRS_DIR / "README.md").read_text(encoding="utf-8")
    assert commits.pop() in readme
    assert "Apache License" in (CRS_DIR / "LICENSE").read_text(encoding="utf-8")
    # The wire form is a well-formed request line and header block.
    for f in fixtures:
        head = wire_bytes(f).split(b"\r\n\r\n", 1)[0]
        assert head.split(b"\r\n")[0].count(b" ") >= 2


def test_crs_detection_holds_the_floor(attacks: list[Outcome], floor: dict[str, Any]) -> None:
    got = rates(attacks)
    report = table(attacks)
    assert not any(o.error for o in attacks), report
    assert 100 * got["overall"] >= floor["overall"], report
    for family, minimum in floor["families"].items():
        assert 100 * got["families"][family] >= minimum, f"family {family}\n{report}"


def test_crs_negatives_stay_under_the_ceiling(guard: ArcGuard, floor: dict[str, Any]) -> None:
    """Stages CRS expects no rule to fire on: reported, and held under a ceiling."""
    outcomes = run(guard, load_fixtures("negatives"), net=94)
    print("\n" + table(outcomes, "CRS negatives (expected to pass)"))
    denied = sum(o.denied for o in outcomes)
    assert not any(o.error for o in outcomes)
    assert 100 * denied / len(outcomes) <= floor["negatives_max"], table(outcomes)


def _payload_values(fixture: dict[str, Any]) -> Iterator[str]:
    for pair in parse_qsl(fixture["query"], keep_blank_values=True):
        yield from pair
    body = body_of(fixture).decode("utf-8", "replace")
    yield body
    for pair in parse_qsl(body, keep_blank_values=True):
        yield from pair
    for name, value in fixture["headers"]:
        yield value
        if name.lower() == "cookie":
            for part in value.split(";"):
                for piece in part.strip().partition("=")[::2]:
                    yield piece
                    yield unquote(piece)


def test_crs_requests_stay_out_of_the_shield_corpora() -> None:
    """A few textbook payloads are everyone's; copying CRS tests in would add dozens."""
    crs = {v for f in load_fixtures("attacks") for v in _payload_values(f) if len(v) >= 20}
    lines = {v for values in load_corpora().values() for v in values}
    shared = sorted(crs & lines)
    assert len(shared) <= 5, shared


def test_arcguard_check_reads_the_fixtures_per_family() -> None:
    """``arcguard check --summary`` on the fixture file: one row per family
    (the ``label``), every request read."""
    args = ["check", "--rules", "benchmarks/shield.toml", str(CRS_DIR / "attacks.jsonl")]
    proc = subprocess.run(
        [sys.executable, "-m", "arcguard", *args, "--summary"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=120,
    )
    rows = {line.split()[0]: int(line.split()[1]) for line in proc.stdout.splitlines()[1:]}
    fixtures = load_fixtures("attacks")
    assert sum(rows.values()) == len(fixtures)
    assert {label.split("-")[0] for label in rows} == set(FAMILIES)


def test_arcguard_check_reads_a_body_that_is_not_utf8(tmp_path: Path) -> None:
    """``body_base64`` carries bytes ``body`` cannot (a Java serialization magic,
    CRS 944200's raw request): the body the rules see is those bytes."""
    body = b"x=\xac\xed\x00\x05&q=1' OR '1'='1"
    line = {
        "method": "POST",
        "path": "/post",
        "headers": [["Content-Type", "application/x-www-form-urlencoded"]],
        "body_base64": base64.b64encode(body).decode(),
    }
    requests = tmp_path / "requests.jsonl"
    requests.write_text(json.dumps(line) + "\n" + json.dumps({**line, "body_base64": "*"}) + "\n")
    args = ["check", "--rules", "benchmarks/shield.toml", str(requests)]
    proc = subprocess.run(
        [sys.executable, "-m", "arcguard", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    first = json.loads(proc.stdout.splitlines()[0])
    assert first["conclusion"] == "DENY", first
    assert first["reason"]["category"] == "SQL_INJECTION", first
    assert proc.returncode == 2
    assert "line 2: body_base64 is not base64" in proc.stderr
