"""Refresh arcguard/_data/cloudflare_ips.json from Cloudflare's published ranges.

    python scripts/refresh_cloudflare_ips.py                 # the API, into the package data
    python scripts/refresh_cloudflare_ips.py --check         # say what would change; write nothing

Source: https://api.cloudflare.com/client/v4/ips (the same ranges as
https://www.cloudflare.com/ips-v4/ and https://www.cloudflare.com/ips-v6/).

The download is checked before anything is written, and the file in place is
the last good copy until a download passes every check:

* schema: a successful API answer with ``ipv4_cidrs`` and ``ipv6_cidrs``, each
  a non-empty list of public networks of the right family, none broader than
  /8 (IPv4) or /16 (IPv6), none twice (``arcguard._proxies.check_cloudflare_document``);
* no sudden large change: when more than ``--max-change`` (default 25 %) of the
  networks in the old and new lists together differ, or of the addresses they
  cover, the script refuses unless ``--allow-large-change`` says a person
  looked (a truncated or hijacked answer looks like a large change);
* the new file is written next to the old one and moved over it, so a failed
  write leaves the old copy whole.

Exit status: 0 written (or nothing to change), 1 refused (reason on stderr), 2 bad usage.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import json
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from arcguard._proxies import CLOUDFLARE_DATA, check_cloudflare_document  # noqa: E402

DEFAULT_URL = "https://api.cloudflare.com/client/v4/ips"
DEFAULT_OUTPUT = ROOT / "arcguard" / CLOUDFLARE_DATA
DEFAULT_MAX_CHANGE = 0.25
#: Largest answer read, bytes (the real one is about 1 KB).
MAX_BYTES = 1 << 20


class Refused(Exception):
    """The download failed or did not pass a check; nothing was written."""


def fetch(url: str, timeout: float) -> Any:
    request = urllib.request.Request(url, headers={"accept": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            raw = response.read(MAX_BYTES + 1)
    except (urllib.error.URLError, OSError) as exc:
        raise Refused(f"download of {url} failed: {exc}") from exc
    if len(raw) > MAX_BYTES:
        raise Refused(f"{url}: answer larger than {MAX_BYTES} bytes")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise Refused(f"{url}: not JSON: {exc}") from exc


def _size(cidrs: list[str]) -> int:
    # Addresses covered, IPv6 counted in /64s so that both families weigh alike.
    total = 0
    for cidr in cidrs:
        network = ipaddress.ip_network(cidr)
        total += network.num_addresses >> 64 if network.version == 6 else network.num_addresses
    return total


def change(old: list[str], new: list[str]) -> float:
    """The larger of the share of networks and the share of addresses that differ."""
    a, b = set(old), set(new)
    networks = len(a ^ b) / max(len(a | b), 1)
    before, after = _size(sorted(a)), _size(sorted(b))
    addresses = abs(after - before) / max(before, after, 1)
    return max(networks, addresses)


def refresh(
    url: str,
    output: Path,
    *,
    max_change: float,
    allow_large_change: bool,
    check_only: bool,
    timeout: float,
) -> str:
    """Download, check and write; returns what was done. Raises Refused."""
    try:
        v4, v6 = check_cloudflare_document(fetch(url, timeout))
    except ValueError as exc:
        raise Refused(f"{url}: {exc}") from exc
    previous: dict[str, Any] = {}
    if output.exists():
        previous = json.loads(output.read_text("utf-8"))
        old4, old6 = check_cloudflare_document(previous)
        if (sorted(old4), sorted(old6)) == (sorted(v4), sorted(v6)):
            return "unchanged"
        moved = change(old4 + old6, v4 + v6)
        if moved > max_change and not allow_large_change:
            raise Refused(
                f"{moved:.0%} of the ranges would change (more than {max_change:.0%}); "
                "check the lists by hand and run again with --allow-large-change"
            )
    if check_only:
        return "would change"
    document = {
        "source": previous.get("source")
        or [
            "https://www.cloudflare.com/ips-v4/",
            "https://www.cloudflare.com/ips-v6/",
            DEFAULT_URL,
        ],
        "retrieved": datetime.date.today().isoformat(),
        "how": f"Downloaded from {url} by scripts/refresh_cloudflare_ips.py and checked.",
        "ipv4_cidrs": v4,
        "ipv6_cidrs": v6,
    }
    handle, temporary = tempfile.mkstemp(dir=output.parent, prefix=output.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            json.dump(document, f, indent=2)
            f.write("\n")
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return "written"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--url", default=DEFAULT_URL, help=f"what to download ({DEFAULT_URL})")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="file to refresh")
    parser.add_argument(
        "--max-change",
        type=float,
        default=DEFAULT_MAX_CHANGE,
        help="largest share of the ranges that may change without --allow-large-change",
    )
    parser.add_argument("--allow-large-change", action="store_true")
    parser.add_argument("--check", action="store_true", help="check and compare, write nothing")
    parser.add_argument("--timeout", type=float, default=20.0, help="download timeout, seconds")
    args = parser.parse_args(argv)
    try:
        done = refresh(
            args.url,
            args.output,
            max_change=args.max_change,
            allow_large_change=args.allow_large_change,
            check_only=args.check,
            timeout=args.timeout,
        )
    except Refused as exc:
        print(f"refresh_cloudflare_ips: refused, {args.output} kept: {exc}", file=sys.stderr)
        return 1
    print(f"refresh_cloudflare_ips: {args.output}: {done}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
