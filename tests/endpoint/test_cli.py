"""``arcguard probe``: table and JSON output against real health servers."""

from __future__ import annotations

import argparse
import io
import json

import pytest

from arcguard._endpoint import add_probe_arguments, run_probe
from tests.endpoint.support import Backend, free_port

pytestmark = pytest.mark.integration


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="arcguard probe")
    add_probe_arguments(parser)
    return parser.parse_args(argv)


def run(argv: list[str], environ: dict[str, str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = run_probe(parse(argv), environ=environ, stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def candidates(backends: dict[str, Backend]) -> str:
    return ",".join(b.target for b in backends.values())


def test_table_shows_platform_candidates_samples_and_choice(backends: dict[str, Backend]) -> None:
    environ = {"FLY_APP_NAME": "shop", "FLY_REGION": "iad", "ARCGUARD_ENDPOINT_TEMPLATE_FLY": ""}
    status, out, _ = run(["--candidates", candidates(backends), "--samples", "2"], environ)
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == "platform: fly (region iad; from FLY_APP_NAME, FLY_REGION)"
    assert lines[1].split()[:3] == ["#", "target", "source"]
    assert backends["fast"].target in lines[2] and lines[2].endswith("ok")
    assert backends["slow"].target in lines[4]
    assert len(lines[2].split()) == 2 + 1 + 1 + 2 + 1 + 1  # two samples
    assert lines[-1].startswith(f"choice: {backends['fast'].target} (configured)")


def test_json_output(backends: dict[str, Backend]) -> None:
    status, out, _ = run(["--json", "--candidates", candidates(backends)], {})
    document = json.loads(out)
    assert status == 0
    assert document["platform"] is None
    assert [c["target"] for c in document["candidates"]] == [
        backends[name].target for name in ("fast", "medium", "slow")
    ]
    first = document["candidates"][0]
    assert first["ok"] is True and len(first["samples_ms"]) == 3
    assert first["median_ms"] == sorted(first["samples_ms"])[1]
    assert document["choice"]["target"] == backends["fast"].target


def test_dead_explicit_endpoint_exits_1() -> None:
    status, out, _ = run(
        ["--json", "--endpoint", f"127.0.0.1:{free_port()}", "--timeout-ms", "100"], {}
    )
    document = json.loads(out)
    assert status == 1
    assert document["choice"]["source"] == "explicit"
    assert document["candidates"][0]["ok"] is False


def test_endpoint_outside_allow_list_exits_2_with_the_reason() -> None:
    status, out, err = run([], {"ARCGUARD_ENDPOINT": "collector.evil.test"})
    assert status == 2
    assert out == ""
    assert "collector.evil.test" in err and "allowed hosts" in err
