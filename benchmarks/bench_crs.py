"""The shield on outside data: OWASP CRS v4's PL1 regression requests and the
large benign corpus, per family, location, source and sensitivity.

Run: python -m pytest benchmarks/bench_crs.py -p no:cacheprovider -s --benchmark-only

The same requests, sent the same way, as tests/shield/test_crs.py and
tests/shield/test_benign.py (which hold the floor and the ceiling): each
fixture's WSGI environ through ``guard.details(environ, body=...)`` and
``guard.protect()``, a fresh client IP each. ``shield(mode="LIVE")`` at its
default sensitivity, then at each sensitivity 1..4 for the table of
docs/shield.md. Apache + ModSecurity on the same requests:
benchmarks/peers/bench_modsecurity.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from arcguard import ArcGuard, shield
from arcguard._core import get_core
from tests.shield._benign import ENCODINGS, benign_fixtures, fp_table
from tests.shield._crs import FAMILIES, Outcome, load_fixtures, misses_summary, rates, run, table

DEV = {"ARCGUARD_ENV": "development"}


@pytest.fixture(scope="module", autouse=True)
def optimized_core() -> None:
    assert get_core().wait_optimized(60), "the optimised Wasm module did not arrive in 60 s"


def guard_at(**options: Any) -> ArcGuard:
    return ArcGuard(rules=[shield(mode="LIVE", **options)], environ=DEV)


@pytest.fixture(scope="module")
def guard() -> Iterator[ArcGuard]:
    g = guard_at()
    yield g
    g.close()


def test_crs_detection_per_family_and_location(benchmark: Any, guard: ArcGuard) -> None:
    fixtures = load_fixtures("attacks")
    out: list[Outcome] = []

    def once() -> None:
        out[:] = run(guard, fixtures)

    benchmark.pedantic(once, rounds=3, iterations=1)
    per_request = benchmark.stats.stats.min / len(fixtures) * 1e6
    print("\n" + table(out, "CRS v4 PL1 attacks, shield(mode='LIVE')"))
    print(f"  ({per_request:.1f} us per request, environ to decision, fastest of 3 passes)")
    print("\nmisses per family (rule, location, count, one example):")
    print(misses_summary(out))
    negatives = run(guard, load_fixtures("negatives"), net=94)
    print("\n" + table(negatives, "CRS negatives (CRS expects no rule to fire)"))


def test_benign_false_positives_per_source(benchmark: Any, guard: ArcGuard) -> None:
    fixtures = list(benign_fixtures())
    out: list[Outcome] = []

    def once() -> None:
        out[:] = run(guard, fixtures, net=95)

    benchmark.pedantic(once, rounds=1, iterations=1)
    print("\n" + fp_table(out, "shield(mode='LIVE')"))
    examples: dict[str, list[str]] = {}
    for o in out:
        if o.denied:
            key = f"{o.fixture['crs']['family']} as {o.fixture['crs']['location']}"
            examples.setdefault(key, []).append(
                f"{o.reason.get('category')} at {o.reason.get('location')}: "
                f"{o.reason.get('excerpt')!r}"
            )
    print("false positives, first 3 per source and encoding:")
    for key, items in sorted(examples.items()):
        print(f"  {key} ({len(items)})")
        for item in items[:3]:
            print(f"    {item}")


def test_sensitivity_levels(benchmark: Any) -> None:
    """Detection on the CRS set and false positives on the benign corpus per sensitivity."""
    attacks = load_fixtures("attacks")
    benign = list(benign_fixtures())
    rows = []

    def measure() -> None:
        rows.clear()
        for level in (1, 2, 3, 4):
            g = guard_at(sensitivity=level)
            try:
                crs = rates(run(g, attacks))
                fp = run(g, benign, net=95)
            finally:
                g.close()
            by_enc = {
                e: [o.denied for o in fp if o.fixture["crs"]["location"] == e] for e in ENCODINGS
            }
            rows.append(
                (
                    level,
                    crs,
                    sum(o.denied for o in fp) / len(fp),
                    {e: sum(v) / len(v) for e, v in by_enc.items()},
                )
            )

    t = time.perf_counter()
    benchmark.pedantic(measure, rounds=1, iterations=1)
    print(f"\nsensitivity table ({time.perf_counter() - t:.0f} s)")
    fams = " | ".join(f"{k} {FAMILIES[k]}" for k in FAMILIES)
    print(f"| sensitivity | CRS PL1 ({len(attacks)}) | {fams} | benign FP ({len(benign)}) "
          "| as query | as form | as JSON |")  # fmt: skip
    print("| --- " * (6 + len(FAMILIES)) + "|")
    for level, crs, fp, enc in rows:
        fam = " | ".join(f"{100 * crs['families'][k]:.1f}%" for k in FAMILIES)
        print(
            f"| {level} | {100 * crs['overall']:.1f}% | {fam} | {100 * fp:.2f}% | "
            + " | ".join(f"{100 * enc[e]:.2f}%" for e in ENCODINGS)
            + " |"
        )
