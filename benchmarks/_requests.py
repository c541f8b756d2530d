"""Requests shared by the benchmarks: a typical browser GET and friends."""

from __future__ import annotations

from typing import Any

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)


def browser_scope(
    path: str = "/products/shoes", query: bytes = b"color=blue&size=42&page=2", ua: str = CHROME
) -> dict[str, Any]:
    """An ASGI scope for a typical browser GET: 12 headers and a query string."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "client": ("203.0.113.7", 53122),
        "server": ("10.0.0.5", 443),
        "headers": [
            (b"host", b"shop.example.com"),
            (b"user-agent", ua.encode()),
            (b"accept", b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            (b"accept-language", b"en-US,en;q=0.9,de;q=0.8"),
            (b"accept-encoding", b"gzip, deflate, br, zstd"),
            (b"cookie", b"session=9f8e7d6c5b4a; theme=dark; cart=3"),
            (b"referer", b"https://shop.example.com/products"),
            (b"sec-fetch-dest", b"document"),
            (b"sec-fetch-mode", b"navigate"),
            (b"sec-fetch-site", b"same-origin"),
            (b"sec-ch-ua", b'"Chromium";v="124", "Google Chrome";v="124"'),
            (b"upgrade-insecure-requests", b"1"),
        ],
    }
