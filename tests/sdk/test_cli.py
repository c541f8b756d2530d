"""``arcguard check``: rules from TOML, requests from JSON lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from arcguard._cli import main

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0"
RULES = """
[[rules]]
kind = "bot"
mode = "LIVE"
deny = ["CATEGORY:HTTP_LIBRARY"]

[[rules]]
kind = "filter"
mode = "DRY_RUN"
deny = ['http.request.uri.path matches "^/admin"']
"""


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    p = tmp_path / "rules.toml"
    p.write_text(RULES)
    return p


def lines(*reqs: dict) -> str:
    return "".join(json.dumps(r) + "\n" for r in reqs)


def test_check_prints_one_decision_per_request(rules: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    reqs = tmp_path / "r.jsonl"
    reqs.write_text(
        lines(
            {"method": "GET", "path": "/", "headers": {"User-Agent": "curl/8.1"}, "ip": "1.2.3.4"},
            {
                "method": "GET",
                "path": "/admin/x",
                "query": "a=%27",
                "headers": {"User-Agent": FIREFOX},
                "ip": "1.2.3.4",
            },
        )
    )
    assert main(["check", "--rules", str(rules), str(reqs)]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["conclusion"] for o in out] == ["DENY", "ALLOW"]
    assert out[0]["rules"][0] == {**out[0]["rules"][0], "kind": "bot", "conclusion": "DENY"}
    dry = out[1]["rules"][1]
    assert (dry["kind"], dry["state"], dry["conclusion"]) == ("filter", "DRY_RUN", "DENY")
    assert "reason" in dry


def test_check_reads_standard_input_through_the_console_script(rules: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "arcguard", "check", "--rules", str(rules), "-"],
        input=lines({"path": "/", "headers": {"user-agent": "Wget/1.21"}}),
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(proc.stdout)["conclusion"] == "DENY"


def test_bad_rules_file_is_a_clear_error(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "bad.toml"
    p.write_text('[[rules]]\nkind = "filter"\ndeny = ["http.host =="]\n')
    assert main(["check", "--rules", str(p), "-"]) == 2
    err = capsys.readouterr().err
    assert "rule 0" in err and "position" in err


def test_unknown_kind_in_rules_file(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "bad.toml"
    p.write_text('[[rules]]\nkind = "firewall"\n')
    assert main(["check", "--rules", str(p), "-"]) == 2
    assert "firewall" in capsys.readouterr().err


def test_malformed_request_line_is_reported_with_its_number(
    rules: Path, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    reqs = tmp_path / "r.jsonl"
    reqs.write_text('{"path": "/"}\n{oops\n')
    assert main(["check", "--rules", str(rules), str(reqs)]) == 2
    assert "line 2" in capsys.readouterr().err
