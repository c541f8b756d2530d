"""The labelled corpora through the Wasm core, via ``guard.protect()``.

The same lines ``cargo test -p arcguard-core corpora`` scans natively, held to
the same thresholds (detection >= 97% per attack corpus, false positives <=
0.5% on the benign one), in three places an application reads them: a query
value, a JSON body value and a form field. ``pytest -s`` prints the table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from arcguard import ArcGuard, Conclusion, RequestDetails, ShieldReason, shield
from arcguard._core import get_core
from arcguard._rules import SHIELD_CATEGORIES

from ._corpora import (
    BENIGN,
    CATEGORY_OF,
    MAX_FALSE_POSITIVE_RATE,
    MIN_DETECTION_RATE,
    form_request,
    ip_addresses,
    json_request,
    load_corpora,
    query_request,
)

DEV = {"ARCGUARD_ENV": "development"}

#: position -> (request builder, the location the reason must name)
POSITIONS: dict[str, tuple[Callable[[str, str], RequestDetails], str]] = {
    "query": (query_request, "query:q"),
    "json": (json_request, "body:$.comment"),
    "form": (form_request, "body:comment"),
}
#: Corpora that do not apply to a position, and why (docs/shield.md, "Categories").
NOT_APPLICABLE = {
    ("json", "crlf"): "CRLF is not checked in bodies, where multi-line text is normal",
    ("form", "crlf"): "CRLF is not checked in bodies, where multi-line text is normal",
}
#: Of the attack lines a corpus flags, how many must be named with its own
#: category. The rest are first findings of another category that are right
#: too (``| type C:\\Windows\\win.ini`` names FILE_INCLUSION, ``'-alert(1)-'``
#: lexes as SQL); a shield naming the wrong category wholesale fails here.
MIN_OWN_CATEGORY_SHARE = 0.95
MAX_EXCERPT_CHARS = 40


@dataclass
class Outcome:
    """One corpus line's decision in one position."""

    value: str
    conclusion: Conclusion
    reason: ShieldReason


@dataclass
class Row:
    """One corpus in one position."""

    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def flagged(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.conclusion is Conclusion.DENY]

    @property
    def rate(self) -> float:
        return len(self.flagged) / len(self.outcomes)


Results = dict[tuple[str, str], Row]


def _table(corpora: dict[str, list[str]], results: Results) -> str:
    head = f"{'corpus':<10} {'lines':>5} " + " ".join(f"{p:>8}" for p in POSITIONS)
    lines = [
        "",
        "shield corpora through guard.protect() (DENY rate per position)",
        head + f" {'own category (query)':>21}",
    ]
    for name in [*CATEGORY_OF, BENIGN]:
        cells = []
        for pos in POSITIONS:
            if (pos, name) in NOT_APPLICABLE:
                cells.append(f"{'n/a':>8}")
            else:
                cells.append(f"{100 * results[pos, name].rate:>7.1f}%")
        row = results["query", name]
        own = sum(o.reason.category == CATEGORY_OF.get(name) for o in row.flagged)
        own_cell = f"{own}/{len(row.flagged)}" if name != BENIGN else "-"
        lines.append(f"{name:<10} {len(corpora[name]):>5} " + " ".join(cells) + f" {own_cell:>21}")
    for (pos, name), row in sorted(results.items()):
        if name == BENIGN:
            lines += [
                f"  false positive ({pos}): {o.value!r} -> {o.reason.category}" for o in row.flagged
            ]
        elif (pos, name) not in NOT_APPLICABLE:
            lines += [
                f"  missed ({pos}, {name}): {o.value!r}"
                for o in row.outcomes
                if o.conclusion is not Conclusion.DENY
            ]
    return "\n".join(lines)


@pytest.fixture(scope="session")
def corpora() -> dict[str, list[str]]:
    return load_corpora()


@pytest.fixture(scope="session")
def results(corpora: dict[str, list[str]]) -> Results:
    """Every line of every corpus in every position, decided once per session."""
    get_core().wait_optimized(60)
    guard = ArcGuard(rules=[shield(mode="LIVE")], environ=DEV)
    ips = ip_addresses()
    out: Results = {}
    for pos, (build, _) in POSITIONS.items():
        for name, values in corpora.items():
            row = out[pos, name] = Row()
            for value in values:
                d = guard.protect(build(value, next(ips)))
                reason = d.reason
                assert isinstance(reason, ShieldReason), (value, reason)
                row.outcomes.append(Outcome(value, d.conclusion, reason))
    guard.close()
    print(_table(corpora, out))
    return out


ATTACKS = [
    pytest.param(pos, name, id=f"{pos}-{name}")
    for pos in POSITIONS
    for name in CATEGORY_OF
    if (pos, name) not in NOT_APPLICABLE
]


def test_corpora_are_the_ones_cargo_test_reads(corpora: dict[str, list[str]]) -> None:
    assert all(len(corpora[name]) >= 40 for name in CATEGORY_OF)
    assert len(corpora[BENIGN]) >= 400
    # Lines starting with "#" but not "# " are values (SSTI's #{7*7}, benign #hashtag).
    assert "#{7*7}" in corpora["ssti"]
    assert "#hashtag" in corpora[BENIGN]


@pytest.mark.parametrize(("position", "corpus"), ATTACKS)
def test_attack_corpus_detection_rate_is_at_least_97_percent(
    results: Results, position: str, corpus: str
) -> None:
    row = results[position, corpus]
    missed = [o.value for o in row.outcomes if o.conclusion is not Conclusion.DENY]
    assert row.rate >= MIN_DETECTION_RATE, (
        f"{corpus} as {position}: {100 * row.rate:.1f}% < 97%; missed: {missed}"
    )


@pytest.mark.parametrize("position", list(POSITIONS))
def test_benign_corpus_false_positive_rate_is_at_most_half_a_percent(
    results: Results, position: str
) -> None:
    row = results[position, BENIGN]
    flagged = [(o.value, o.reason.category) for o in row.flagged]
    assert row.rate <= MAX_FALSE_POSITIVE_RATE, (
        f"benign as {position}: {100 * row.rate:.2f}% > 0.5%: {flagged}"
    )
    assert all(o.conclusion is Conclusion.ALLOW for o in row.outcomes if o not in row.flagged)


@pytest.mark.parametrize("position", list(POSITIONS))
def test_denials_name_a_category_and_the_location_of_the_value(
    results: Results, position: str
) -> None:
    location = POSITIONS[position][1]
    for (pos, _), row in results.items():
        if pos != position:
            continue
        for o in row.flagged:
            assert o.reason.suspicious, o
            assert o.reason.category in SHIELD_CATEGORIES, o
            assert o.reason.location == location, o
    for (pos, corpus), row in results.items():
        if pos != position or corpus == BENIGN or (pos, corpus) in NOT_APPLICABLE:
            continue
        own = [o for o in row.flagged if o.reason.category == CATEGORY_OF[corpus]]
        if row.flagged:
            assert len(own) / len(row.flagged) >= MIN_OWN_CATEGORY_SHARE, (
                corpus,
                [(o.value, o.reason.category) for o in row.flagged if o not in own],
            )


def _control_chars(text: str) -> list[str]:
    return [c for c in text if ord(c) < 0x20 or ord(c) == 0x7F]


@pytest.mark.parametrize("position", list(POSITIONS))
def test_excerpts_are_short_and_hold_no_raw_control_characters(
    results: Results, position: str
) -> None:
    for (pos, _), row in results.items():
        if pos != position:
            continue
        for o in row.flagged:
            ex = o.reason.excerpt
            assert ex, o
            assert not _control_chars(ex), o
            assert len(ex) <= MAX_EXCERPT_CHARS, o


def test_excerpt_with_a_run_cut_at_the_limit_is_at_most_40_chars() -> None:
    guard = ArcGuard(rules=[shield(mode="LIVE")], environ=DEV)
    # 35 characters, then a run (4 kept + "…" = 40), then more: the corpus line
    # <base href="javascript:/a/-alert(1)///////"> is one such value.
    value = "<script>alert(1)</script>abcdefghij" + "/" * 8 + "x"
    d = guard.protect(query_request(value))
    assert d.conclusion is Conclusion.DENY
    excerpt = d.reason.excerpt  # type: ignore[attr-defined]
    assert len(excerpt) <= MAX_EXCERPT_CHARS, (len(excerpt), excerpt)


def test_control_characters_in_a_flagged_value_are_escaped_in_the_excerpt() -> None:
    guard = ArcGuard(rules=[shield(mode="LIVE")], environ=DEV)
    d = guard.protect(query_request("x\r\nSet-Cookie: a=b\x00\x7f"))
    assert d.conclusion is Conclusion.DENY
    excerpt = d.reason.excerpt  # type: ignore[attr-defined]
    assert not _control_chars(excerpt)
    assert "\\r\\n" in excerpt
