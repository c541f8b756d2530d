"""The email data compiled into the core is what its generator makes of the
pinned source packages (scripts/gen_email_data.py --check)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests._servers import ROOT


def test_committed_email_data_matches_the_pinned_packages() -> None:
    pytest.importorskip("disposable_email_domains")
    pytest.importorskip("publicsuffixlist")
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_email_data.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
