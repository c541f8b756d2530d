"""A deterministic request fuzzer for the shield: corpus lines and random
bytes mutated and put into every place the shield reads.

``Fuzzer(seed).case(i)`` is a pure function of ``(seed, i)``: a failing case
is reproduced from the two numbers the fuzz test prints, without running the
cases before it.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

from arcguard import RequestDetails

__all__ = ["Case", "Fuzzer"]

#: Byte sequences no UTF-8 decoder accepts as such: overlong forms, lone
#: surrogates, truncated sequences, bytes that never occur.
INVALID_UTF8 = (
    b"\xc0\xae",
    b"\xc0\xaf",
    b"\xe0\x80\xae",
    b"\xf0\x80\x80\xae",
    b"\xed\xa0\x80",
    b"\xed\xbf\xbf",
    b"\xff",
    b"\xfe",
    b"\x80",
    b"\xbf",
    b"\xc3",
    b"\xe2\x82",
    b"\xf4\x90\x80\x80",
    b"\xf8\x88\x80\x80\x80",
)
#: Fragments that steer values into the shield's parsers and decoders.
TOKENS = (
    b"'",
    b'"',
    b"`",
    b"--",
    b"/*",
    b"*/",
    b"/*!50000",
    b";",
    b"|",
    b"||",
    b"&&",
    b"$(",
    b"${",
    b"}",
    b"{{",
    b"}}",
    b"#{",
    b"<%=",
    b"%>",
    b"{%",
    b"<",
    b">",
    b"</",
    b"<script>",
    b"<!--",
    b"<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>",
    b"&#x3c;",
    b"&lt",
    b"&#60",
    b"%",
    b"%25",
    b"%u003c",
    b"%c0%ae",
    b"%2e%2e%2f",
    b"..",
    b"../",
    b"..\\",
    b"\\\\",
    b"\x00",
    b"\r\n",
    b"\n",
    b"\r",
    b"\t",
    b"+",
    b"=",
    b"&",
    b"?",
    b"#",
    b"@",
    b"[",
    b"]",
    b"[$ne]",
    b"$where",
    b"jndi:",
    b"${lower:j}",
    b"${::-j}",
    b"php://",
    b"file://",
    b"http://127.1/",
    b"http://[::1]/",
    b"0x7f000001",
    b"javascript:",
    b"onerror=",
    b"union select",
    b"or 1=1",
    b"\xef\xbc\xb3",
    b"\xe3\x80\x82",
    b"\xe2\x88\x95",
    b"\xe2\x80\xa8",
    b"\xef\xbb\xbf",
)
#: Openers whose repetition nests deeply in some parser, with their closers.
NESTERS = (
    (b"(", b")"),
    (b"[", b"]"),
    (b"{", b"}"),
    (b"${", b"}"),
    (b"${${", b"}}"),
    (b"<a>", b"</a>"),
    (b'{"a":', b"}"),
    (b"[[", b"]]"),
    (b"/*", b"*/"),
    (b"%25", b""),
    (b"'", b"'"),
    (b"$(", b")"),
)
CONTENT_TYPES = (
    "application/json",
    "application/json; charset=utf-8",
    "application/vnd.api+json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=XyZ",
    "multipart/form-data",
    "application/xml",
    "text/xml",
    "application/atom+xml",
    "text/plain",
    "text/html",
    "application/octet-stream",
    "image/png",
    "application/json; charset=ibm037",
    "application/json; charset=utf-8; charset=utf-7",
    "multipart/form-data; boundary=a; boundary=b",
    "",
    "garbage/\x00\xff",
    "application/grpc",
    "text/plain; charset=",
)
POSITIONS = (
    "path",
    "query_value",
    "query_key",
    "query_many",
    "header",
    "user_agent",
    "cookie",
    "body_json",
    "body_json_key",
    "body_json_nested",
    "body_form",
    "body_multipart",
    "body_xml",
    "body_raw",
    "everywhere",
)
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "BREW", "", "G\xe9T")


@dataclass(frozen=True, slots=True)
class Case:
    """One fuzz input: the request, where the mutated value went, its size."""

    index: int
    position: str
    details: RequestDetails
    size: int


_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PCT = tuple(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in range(256))


def _pct(data: bytes) -> str:
    # urllib.parse.quote_from_bytes(data, safe=""), ten times faster on long values.
    return "".join(map(_PCT.__getitem__, data))


def _wire(data: bytes) -> str:
    # Path and query are str encoded as UTF-8 with surrogateescape: raw bytes
    # survive as themselves, so invalid UTF-8 reaches the core unchanged.
    return data.decode("utf-8", "surrogateescape")


def _latin1(data: bytes) -> str:
    # Header values are encoded as Latin-1: every byte survives.
    return data.decode("latin-1")


class Fuzzer:
    """Mutated request cases from corpus lines (``seeds``) and random bytes.

    Example::

        fuzzer = Fuzzer(seeds, seed=1)
        for i in range(1000):
            guard.protect(fuzzer.case(i).details)
    """

    def __init__(self, seeds: list[str], *, seed: int, max_long: int = 80_000) -> None:
        self.seed = seed
        self.seeds = [s.encode() for s in seeds] or [b"x"]
        self.max_long = max_long

    # -- values ---------------------------------------------------------------

    def _random_bytes(self, r: random.Random) -> bytes:
        n = r.choice((1, 2, 8, 32, 200))
        if r.random() < 0.5:
            return r.randbytes(r.randint(0, n))
        return b"".join(r.choice(TOKENS) for _ in range(r.randint(1, 8)))

    def _mutate(self, r: random.Random, v: bytes) -> bytes:
        op = r.randrange(16)
        if op == 0 and v:  # bit flips
            b = bytearray(v)
            for _ in range(r.randint(1, 4)):
                i = r.randrange(len(b))
                b[i] ^= 1 << r.randrange(8)
            return bytes(b)
        if op == 1:  # splice with another seed
            other = r.choice(self.seeds)
            return v[: r.randint(0, len(v))] + other[r.randint(0, len(other)) :]
        if op == 2:  # insert a token or invalid UTF-8
            i = r.randint(0, len(v))
            return v[:i] + r.choice(TOKENS + INVALID_UTF8) + v[i:]
        if op == 3 and v:  # repeat a segment
            i = r.randrange(len(v))
            j = r.randint(i + 1, min(len(v), i + 16))
            return v[:i] + v[i:j] * r.choice((2, 10, 100, 1000)) + v[j:]
        if op == 4:  # deep nesting
            opener, closer = r.choice(NESTERS)
            k = r.choice((16, 64, 500, 4000))
            return opener * k + v + closer * (k if r.random() < 0.7 else r.randrange(k))
        if op == 5:  # a long run of one byte
            c = bytes([r.choice(b"a'\"<>/.%\\ ;${}(&=\x00\xff\xc0")])
            return v + c * r.choice((5, 100, 5000))
        if op == 6:  # percent-encode the whole value, once or more
            for _ in range(r.choice((1, 1, 2, 5))):
                v = _pct(v[:20_000]).encode()
            return v
        if op == 11 and v:  # truncate or delete a range
            i = r.randrange(len(v))
            return v[:i] + v[r.randint(i, len(v)) :]
        if op == 13:  # random bytes
            return v + self._random_bytes(r)
        if op == 14:  # double the whole value
            return v * 2
        if op == 15:
            return v + r.choice(INVALID_UTF8)
        # Byte-wise rewrites, on a window of at most 512 bytes: generating
        # must stay cheap next to deciding, whatever the value's length.
        i = r.randrange(len(v)) if len(v) > 512 else 0
        w = v[i : i + 512]
        if op == 7:  # percent-encode some bytes, or all as %uXXXX
            if r.random() < 0.5:
                w = b"".join(b"%%%02x" % c if r.random() < 0.5 else bytes([c]) for c in w)
            else:
                w = "".join(f"%u{ord(c):04x}" for c in w.decode("utf-8", "replace")).encode()
        elif op == 8:  # HTML character references
            form = r.choice(("&#%d;", "&#x%x;", "&#%d", "&#x%X"))
            w = b"".join((form % c).encode() if r.random() < 0.6 else bytes([c]) for c in w)
        elif op == 9:  # overlong UTF-8 for ASCII
            w = b"".join(
                bytes([0xC0 | (c >> 6), 0x80 | (c & 0x3F)])
                if c < 0x80 and r.random() < 0.5
                else bytes([c])
                for c in w
            )
        elif op == 10:  # full-width forms
            w = "".join(
                chr(ord(c) + 0xFEE0) if "!" <= c <= "~" and r.random() < 0.5 else c
                for c in w.decode("utf-8", "replace")
            ).encode()
        else:  # case flips
            w = bytes(
                c ^ 0x20 if 0x41 <= (c & ~0x20) <= 0x5A and r.random() < 0.5 else c for c in w
            )
        return v[:i] + w + v[i + 512 :]

    def value(self, r: random.Random) -> bytes:
        v = r.choice(self.seeds) if r.random() < 0.8 else self._random_bytes(r)
        for _ in range(r.choice((1, 1, 2, 3, 5))):
            v = self._mutate(r, v)
            if len(v) > self.max_long:
                break
        if r.random() < 0.005:  # past the 64 KiB value and body inspection limits
            v = (v or b"a") * (70_000 // max(1, len(v)) + 1)
        return v[: self.max_long] if r.random() < 0.999 else v

    # -- requests ---------------------------------------------------------------

    def case(self, index: int) -> Case:
        """The ``index``-th case of this seed."""
        r = random.Random(self.seed * 1_000_003 + index)  # noqa: S311 - reproducible on purpose
        position = r.choice(POSITIONS)
        v = self.value(r)
        headers: list[tuple[str, str]] = [("host", "app.example")]
        path, query, body, ctype = "/search", "", b"", ""
        method = "GET"
        if position in ("path", "everywhere"):
            path = "/" + (_wire(v) if r.random() < 0.5 else _pct(v))
        if position in ("query_value", "everywhere"):
            query = "q=" + (_pct(v) if r.random() < 0.7 else _wire(v))
        elif position == "query_key":
            query = (_pct(v) if r.random() < 0.7 else _wire(v)) + "=1"
        elif position == "query_many":
            query = "&".join(f"k{i}=" + _pct(v[i::7][:64]) for i in range(r.choice((3, 300, 1100))))
        if position in ("header", "everywhere"):
            headers.append(
                (
                    r.choice(("x-data", "referer", "x-forwarded-host", "accept", "x-\xff")),
                    _latin1(v),
                )
            )
        if position in ("user_agent", "everywhere"):
            headers.append(("user-agent", _latin1(v)))
        if position in ("cookie", "everywhere"):
            headers.append(("cookie", "a=1; " + r.choice(("s=", "", "=", "s")) + _latin1(v)))
        if position.startswith("body") or position == "everywhere":
            method = "POST"
            body, ctype = self._body(r, position, v)
        if r.random() < 0.1:
            method = r.choice(METHODS)
        if ctype or r.random() < 0.05:
            headers.append(("content-type", ctype or r.choice(CONTENT_TYPES)))
        if body and r.random() < 0.9:
            claimed = len(body) if r.random() < 0.9 else r.choice((0, 1, 10**9, len(body) * 3))
            headers.append(("content-length", str(claimed)))
        details = RequestDetails(
            ip=f"10.9.{(index >> 8) & 255}.{index & 255}",
            method=method,
            host="app.example",
            path=path,
            query=query,
            headers=headers,
            body=body,
        )
        return Case(index, position, details, len(v))

    def _body(self, r: random.Random, position: str, v: bytes) -> tuple[bytes, str]:
        text = v.decode("utf-8", "surrogateescape")
        if position == "body_json":
            try:
                return json.dumps({"comment": text}).encode(
                    "utf-8", "surrogateescape"
                ), "application/json"
            except UnicodeEncodeError:  # pragma: no cover - surrogateescape covers it
                return v, "application/json"
        if position == "body_json_key":
            return json.dumps({text: 1, "a": [text]}, ensure_ascii=r.random() < 0.5).encode(
                "utf-8", "surrogateescape"
            ), "application/vnd.api+json"
        if position == "body_json_nested":
            depth = r.choice((5, 40, 200, 3000))
            doc = '{"a":' * depth + json.dumps(text) + "}" * depth
            if r.random() < 0.3:
                doc = doc[: r.randrange(len(doc))]  # truncated: invalid JSON
            return doc.encode("utf-8", "surrogateescape"), "application/json"
        if position == "body_form":
            return b"comment=" + _pct(v).encode() + b"&" + v, "application/x-www-form-urlencoded"
        if position == "body_multipart":
            part = (
                b'--XyZ\r\nContent-Disposition: form-data; name="f"; filename="'
                + v[:200]
                + b'"\r\n\r\n'
                + v
                + b'\r\n--XyZ\r\nContent-Disposition: form-data; name="'
                + v[:50]
                + b'"\r\n\r\n'
                + v
                + b"\r\n--XyZ--"
                + (b"\r\n" if r.random() < 0.7 else b"")
            )
            return part, "multipart/form-data; boundary=XyZ"
        if position == "body_xml":
            return b'<?xml version="1.0"?><r a="' + v[:100] + b'">' + v + b"</r>", "application/xml"
        if position == "body_raw":
            return v, r.choice(CONTENT_TYPES)
        return b'{"comment": ' + json.dumps(text).encode(
            "utf-8", "surrogateescape"
        ) + b"}", "application/json"
