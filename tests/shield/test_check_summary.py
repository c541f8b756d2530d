"""``arcguard check --values ... --summary``: the per-corpus table, via the console entry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ._corpora import (
    BENIGN,
    CATEGORY_OF,
    CORPORA_DIR,
    MAX_FALSE_POSITIVE_RATE,
    MIN_DETECTION_RATE,
    load_corpora,
)

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "benchmarks" / "shield.toml"


def check_summary(rules: Path, files: list[Path]) -> dict[str, tuple[int, int, float, int]]:
    """Runs ``python -m arcguard check --summary`` and parses its table:
    label -> (requests, denied, rate, errors)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "arcguard",
            "check",
            "--rules",
            str(rules),
            "--values",
            *map(str, files),
            "--summary",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=120,
    )
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["label", "requests", "denied", "rate", "errors"], proc.stdout
    table = {}
    for line in lines[1:]:
        label, n, denied, rate, errors = line.split()
        table[label] = (int(n), int(denied), float(rate.rstrip("%")), int(errors))
    return table


@pytest.fixture(scope="module")
def corpus_files() -> list[Path]:
    return sorted(CORPORA_DIR.glob("*.txt"))


@pytest.fixture(scope="module")
def table(corpus_files: list[Path]) -> dict[str, tuple[int, int, float, int]]:
    return check_summary(RULES, corpus_files)


def test_summary_has_a_row_per_corpus_and_no_errors(
    table: dict[str, tuple[int, int, float, int]],
) -> None:
    assert set(table) == {*CATEGORY_OF, BENIGN}
    assert all(errors == 0 for (_, _, _, errors) in table.values())


def test_summary_rates_meet_the_corpus_thresholds(
    table: dict[str, tuple[int, int, float, int]],
) -> None:
    for label, (n, denied, rate, _) in table.items():
        assert rate == pytest.approx(100 * denied / n, abs=0.05)
        if label == BENIGN:
            assert denied / n <= MAX_FALSE_POSITIVE_RATE, table[label]
        else:
            assert denied / n >= MIN_DETECTION_RATE, (label, table[label])


def test_summary_does_not_depend_on_the_order_of_the_files(
    corpus_files: list[Path],
    table: dict[str, tuple[int, int, float, int]],
) -> None:
    # Benign last, after every attack: with escalation in play it would read 100%.
    reordered = [f for f in corpus_files if f.stem != BENIGN] + [CORPORA_DIR / "benign.txt"]
    assert check_summary(RULES, reordered) == table


def test_summary_with_default_escalation_judges_each_line_on_its_content(
    tmp_path: Path,
    corpus_files: list[Path],
    table: dict[str, tuple[int, int, float, int]],
) -> None:
    rules = tmp_path / "shield.toml"
    rules.write_text('[[rules]]\nkind = "shield"\nmode = "LIVE"\n')
    reordered = [f for f in corpus_files if f.stem != BENIGN] + [CORPORA_DIR / "benign.txt"]
    assert check_summary(rules, reordered) == table


def test_summary_reads_the_lines_the_corpus_format_defines(
    table: dict[str, tuple[int, int, float, int]],
) -> None:
    corpora = load_corpora()
    assert {label: row[0] for label, row in table.items()} == {
        name: len(values) for name, values in corpora.items()
    }
