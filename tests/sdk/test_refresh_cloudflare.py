"""scripts/refresh_cloudflare_ips.py against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._servers import PYTHON, ROOT

pytestmark = pytest.mark.integration

SCRIPT = ROOT / "scripts" / "refresh_cloudflare_ips.py"
SHIPPED = ROOT / "arcguard" / "_data" / "cloudflare_ips.json"


class Answers:
    """What the server answers next: (status, body)."""

    def __init__(self) -> None:
        self.status = 200
        self.body = b""


@pytest.fixture
def server() -> Iterator[tuple[str, Answers]]:
    answers = Answers()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(answers.status)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(answers.body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/client/v4/ips", answers
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def shipped() -> dict[str, Any]:
    return json.loads(SHIPPED.read_text())


def api(v4: list[str], v6: list[str], success: bool = True) -> bytes:
    document = {"result": {"ipv4_cidrs": v4, "ipv6_cidrs": v6, "etag": "x"}, "success": success}
    return json.dumps({**document, "errors": [], "messages": []}).encode()


def run(url: str, output: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [PYTHON, str(SCRIPT), "--url", url, "--output", str(output), "--timeout", "5", *extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def output(tmp_path: Path) -> Path:
    copy = tmp_path / "cloudflare_ips.json"
    shutil.copyfile(SHIPPED, copy)
    return copy


def test_a_small_change_is_written(server: tuple[str, Answers], output: Path) -> None:
    url, answers = server
    v4, v6 = shipped()["ipv4_cidrs"], shipped()["ipv6_cidrs"]
    answers.body = api([*v4, "8.8.4.0/24"][1:], v6)  # one range gone, one new
    result = run(url, output)
    assert result.returncode == 0, result.stderr
    written = json.loads(output.read_text())
    assert "8.8.4.0/24" in written["ipv4_cidrs"] and v4[0] not in written["ipv4_cidrs"]
    assert written["how"].startswith(f"Downloaded from {url}")


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (200, api([], ["2400:cb00::/32"]), "non-empty"),
        (200, api(["173.245.48.0/20"], ["2400:cb00::/32"], success=False), "not a success"),
        (200, b'{"result": {"ipv4": []}, "success": true}', "ipv4_cidrs"),
        (200, b"<html>captive portal</html>", "not JSON"),
        (200, api(["10.0.0.0/8"], ["2400:cb00::/32"]), "not a public range"),
        (200, api(["0.0.0.0/1"], ["2400:cb00::/32"]), "broader"),
        (200, api(["2400:cb00::/32"], ["2400:cb00::/32"]), "IPv4"),
        (500, b"{}", "download"),
    ],
)
def test_a_bad_download_is_refused_and_the_last_good_copy_kept(
    server: tuple[str, Answers], output: Path, status: int, body: bytes, reason: str
) -> None:
    url, answers = server
    answers.status, answers.body = status, body
    before = output.read_bytes()
    result = run(url, output)
    assert result.returncode == 1
    assert reason in result.stderr and "kept" in result.stderr
    assert output.read_bytes() == before
    assert [p.name for p in output.parent.iterdir()] == [output.name]  # no stray temporary


def test_a_sudden_large_change_needs_a_person(server: tuple[str, Answers], output: Path) -> None:
    url, answers = server
    answers.body = api(["173.245.48.0/20"], ["2400:cb00::/32"])  # most ranges gone
    before = output.read_bytes()
    refused = run(url, output)
    assert refused.returncode == 1 and "--allow-large-change" in refused.stderr
    assert output.read_bytes() == before
    assert run(url, output, "--check").returncode == 1
    accepted = run(url, output, "--allow-large-change")
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(output.read_text())["ipv4_cidrs"] == ["173.245.48.0/20"]


def test_the_same_lists_change_nothing(server: tuple[str, Answers], output: Path) -> None:
    url, answers = server
    answers.body = api(shipped()["ipv4_cidrs"][::-1], shipped()["ipv6_cidrs"])
    before = output.read_bytes()
    result = run(url, output)
    assert result.returncode == 0 and "unchanged" in result.stdout
    assert output.read_bytes() == before
