#!/usr/bin/env python3
"""Generate core-wasm/data/bots/bots.tsv, the bot table embedded in the core,
and instances.tsv, its golden corpus of sample User-Agents.

Source: the ``crawler-user-agents`` PyPI package (MIT licence,
https://github.com/monperrus/crawler-user-agents), read from wherever
``import crawleruseragents`` finds it, followed by the hand-written entries of
core-wasm/data/bots/arcguard_extra.tsv.

For every entry the script writes one tab-separated line::

    NAME  CATEGORIES  PATTERN  LITERAL [LITERAL ...]

- NAME is a stable UPPER_SNAKE identifier derived from the pattern's literal
  text (``Googlebot\\/`` -> ``GOOGLEBOT``); collisions get ``_2``, ``_3`` in
  source order.
- CATEGORIES map the source tags (``search-engine`` -> ``SEARCH_ENGINE``,
  ``monitoring`` -> ``MONITOR``, ...). An untagged entry gets ``OTHER``.
- PATTERN is the source regex rewritten for the Rust ``regex`` 1.7 syntax
  (which rejects escapes of non-meta punctuation such as ``\\/``); its
  meaning is unchanged.
- LITERALs are a prefilter: lower-cased (ASCII only) strings, 4 bytes long
  where possible, such that the pattern can only match a text containing at
  least one of them, compared ASCII-case-insensitively. An entry with no
  literal column is always confirmed with its regex (the script keeps those
  rare and reports them).

Run: ``python scripts/gen_bot_data.py`` (``--check`` fails if the committed
file is stale).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import re
import sys
from pathlib import Path

try:  # Python 3.11+
    import re._parser as sre_parse  # type: ignore[import-not-found]
    import re._constants as sre_c  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    import sre_parse  # type: ignore[no-redef]
    import sre_constants as sre_c  # type: ignore[no-redef]

import crawleruseragents

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "core-wasm" / "data" / "bots" / "bots.tsv"
EXTRA = ROOT / "core-wasm" / "data" / "bots" / "arcguard_extra.tsv"
BROWSERS = ROOT / "core-wasm" / "data" / "bots" / "browsers.txt"
# Golden corpus for the Rust tests: every sample UA with the entry it names.
INSTANCES = ROOT / "core-wasm" / "data" / "bots" / "instances.tsv"

TAGS = {
    "search-engine": "SEARCH_ENGINE",
    "ai-crawler": "AI_CRAWLER",
    "monitoring": "MONITOR",
    "seo": "SEO",
    "scanner": "SCANNER",
    "http-library": "HTTP_LIBRARY",
    "feed-reader": "FEED_READER",
    "social-preview": "SOCIAL_PREVIEW",
    "archiver": "ARCHIVER",
    "browser-automation": "BROWSER_AUTOMATION",
    "advertising": "ADVERTISING",
    "academic": "ACADEMIC",
}
DEFAULT_CATEGORY = "OTHER"

# Characters the Rust regex 1.7 parser accepts after a backslash as a literal.
RUST_META = set("\\.+*?()|[]{}^$#&-~")
# Most alternatives and longest strings kept while expanding exact sets.
MAX_SET = 16
MAX_LIT = 64


# --------------------------------------------------------------------------
# Pattern translation


def to_rust(pattern: str) -> str:
    """Rewrites escapes of non-meta punctuation (``\\/``, ``\\ ``) as plain
    characters, which Rust's regex 1.7 requires; everything else is kept."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            n = pattern[i + 1]
            if not n.isalnum() and n not in RUST_META:
                out.append(n)
            else:
                out.append(c + n)
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


# --------------------------------------------------------------------------
# Required-literal extraction
#
# info(node) returns (exact, req):
#   exact: a set of strings the node matches exactly (all of its matches), or
#          None when unknown or too large;
#   req:   a set of strings one of which every match contains, or None.
# Strings are lower-cased (ASCII) so the prefilter can be ASCII-case-
# insensitive while the regex confirmation stays exact.


def _lower_char(cp: int) -> str | None:
    ch = chr(cp)
    if ch.isascii():
        return ch.lower()
    # A non-ASCII letter with case variants could match in another case under
    # (?i); ASCII-only case folding in the prefilter would miss it.
    if ch.lower() != ch.upper():
        return None
    return ch


def _score(req: set[str] | None) -> tuple[int, int]:
    if not req:
        return (-1, 0)
    return (min(len(s) for s in req), -len(req))


def _best(*cands: set[str] | None) -> set[str] | None:
    best = None
    for c in cands:
        if c and _score(c) > _score(best):
            best = c
    return best


def _cross(a: set[str], b: set[str]) -> set[str] | None:
    if len(a) * len(b) > MAX_SET:
        return None
    out = {x + y for x in a for y in b}
    if any(len(s) > MAX_LIT for s in out):
        return None
    return out


def _class_chars(items) -> set[str] | None:
    chars: set[str] = set()
    for op, av in items:
        if op == sre_c.LITERAL:
            ch = _lower_char(av)
            if ch is None:
                return None
            chars.add(ch)
        elif op == sre_c.RANGE:
            lo, hi = av
            if hi - lo > 8:
                return None
            for cp in range(lo, hi + 1):
                ch = _lower_char(cp)
                if ch is None:
                    return None
                chars.add(ch)
        else:  # NEGATE, CATEGORY, ...
            return None
    return chars if len(chars) <= 4 else None


def _seq(items) -> tuple[set[str] | None, set[str] | None]:
    run: set[str] | None = {""}
    best: set[str] | None = None
    exact_all = True
    for op, av in items:
        ex, req = _node(op, av)
        if ex is not None and run is not None:
            joined = _cross(run, ex)
            if joined is not None:
                run = joined
                continue
        # The run ends here.
        exact_all = False
        best = _best(best, run, ex, req)
        run = ex if ex is not None else {""}
    best = _best(best, run)
    return (run if exact_all else None), best


def _node(op, av) -> tuple[set[str] | None, set[str] | None]:
    if op == sre_c.LITERAL:
        ch = _lower_char(av)
        return ({ch}, {ch}) if ch is not None else (None, None)
    if op == sre_c.IN:
        chars = _class_chars(av)
        return (chars, chars) if chars else (None, None)
    if op in (sre_c.AT, sre_c.ASSERT, sre_c.ASSERT_NOT):
        return ({""}, None)
    if op == sre_c.SUBPATTERN:
        return _seq(av[-1])
    if op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, getattr(sre_c, "POSSESSIVE_REPEAT", None)):
        lo, hi, sub = av
        ex, req = _seq(sub)
        if lo == hi and ex is not None and lo <= 8:
            out: set[str] | None = {""}
            for _ in range(lo):
                out = _cross(out, ex) if out is not None else None
            if out is not None:
                return out, _best(out)
        if lo >= 1:
            return None, _best(ex, req)
        return None, None
    if op == sre_c.BRANCH:
        alts = [_seq(a) for a in av[1]]
        if all(ex is not None for ex, _ in alts):
            union = set().union(*(ex for ex, _ in alts))
            if len(union) <= MAX_SET:
                return union, _best(union)
        reqs = [_best(ex, req) for ex, req in alts]
        if all(r for r in reqs):
            union = set().union(*reqs)
            if len(union) <= MAX_SET:
                return None, union
        return None, None
    return None, None


def literals(pattern: str) -> list[str]:
    """Prefilter keys for a pattern (empty: always confirm).

    Every match of the pattern contains one of the required literals, so it
    also contains any fixed window of it; see ``window``.
    """
    _, req = _seq(sre_parse.parse(pattern))
    if not req or min(len(s) for s in req) < 2:
        return []
    # A shorter literal contained in a longer one makes the longer redundant.
    kept = sorted(req, key=len)
    out: list[str] = []
    for s in kept:
        if not any(k in s for k in out):
            out.append(s)
    return sorted(out)


KEY = 4


def windows(lit: str) -> list[str]:
    """The KEY-byte windows of a literal that are whole UTF-8 text."""
    raw = lit.encode("utf-8")
    out = []
    for i in range(len(raw) - KEY + 1):
        try:
            out.append(raw[i : i + KEY].decode("utf-8"))
        except UnicodeDecodeError:
            continue
    return out


def window(lit: str, browsers: list[str], shared: dict[str, int]) -> str:
    """Cuts a literal to the KEY-byte window seen in the fewest browser
    User-Agents (browsers.txt), then shared by the fewest other literals, so
    ordinary traffic rarely reaches a regex and a bot's UA few wrong ones.
    The core indexes KEY-byte keys in a hash table, which builds in
    microseconds where an automaton over whole literals took milliseconds."""
    best = None
    for w in windows(lit):
        score = (sum(w in b for b in browsers), shared[w])
        if best is None or score < best[0]:
            best = (score, w)
    return best[1] if best else lit


# --------------------------------------------------------------------------
# Names


def name_for(pattern: str) -> str:
    """UPPER_SNAKE name from the pattern's literal characters."""
    parts: list[str] = []

    def walk(items) -> None:
        for op, av in items:
            if op == sre_c.LITERAL:
                parts.append(chr(av))
            elif op == sre_c.IN and _class_chars(av):
                chars = sorted(_class_chars(av))  # type: ignore[arg-type]
                parts.append(chars[0] if len(chars) == 1 else " ")
            elif op == sre_c.SUBPATTERN:
                walk(av[-1])
            elif op == sre_c.BRANCH:
                # The first alternative names the entry.
                walk(av[1][0])
            else:
                parts.append(" ")

    walk(sre_parse.parse(pattern))
    text = "".join(parts)
    name = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").upper()
    return name or "BOT"


# --------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="fail if the generated files are stale")
    args = ap.parse_args()

    src = Path(crawleruseragents.__file__).with_name("crawler-user-agents.json")
    entries = json.loads(src.read_text(encoding="utf-8"))
    version = importlib.metadata.version("crawler-user-agents")

    browsers = [
        b.lower() for b in BROWSERS.read_text(encoding="utf-8").splitlines()
        if b and not b.startswith("#")
    ]
    rows: list[tuple[str, list[str], str, list[str]]] = []
    used: set[str] = set()
    samples: list[tuple[str, str]] = []

    def add(base: str, cats: list[str], pattern: str, instances: list[str]) -> None:
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base}_{n}"
        used.add(name)
        rust = to_rust(pattern)
        if "\t" in rust or "\n" in rust:
            raise SystemExit(f"pattern with a tab or newline: {pattern!r}")
        rows.append((name, cats, rust, literals(pattern)))
        for ua in instances:
            if "\t" in ua or "\n" in ua or "\r" in ua:
                continue  # not representable in the TSV (none at present)
            samples.append((name, ua))

    upstream = []
    for e in entries:
        tags = e.get("tags") or []
        unknown = [t for t in tags if t not in TAGS]
        if unknown:
            raise SystemExit(f"unknown tag(s) {unknown} in {e['pattern']!r}: extend TAGS")
        cats = sorted({TAGS[t] for t in tags}) or [DEFAULT_CATEGORY]
        upstream.append(re.compile(e["pattern"]))
        add(name_for(e["pattern"]), cats, e["pattern"], e.get("instances") or [])

    for line in EXTRA.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, cats, pattern, sample = line.split("\t")
        if any(p.search(sample) for p in upstream):
            raise SystemExit(f"{name}: already detected upstream, remove it from {EXTRA.name}")
        if not re.search(pattern, sample):
            raise SystemExit(f"{name}: pattern does not match its sample")
        if name in used:
            raise SystemExit(f"{name}: name already used")
        add(name, cats.split(","), pattern, [sample])

    shared: dict[str, int] = {}
    for lit in {lit for r in rows for lit in r[3]}:
        for w in set(windows(lit)):
            shared[w] = shared.get(w, 0) + 1
    rows = [(n, c, p, sorted({window(lit, browsers, shared) for lit in lits})) for n, c, p, lits in rows]

    lines = [
        "# GENERATED by scripts/gen_bot_data.py - do not edit by hand.",
        f"# Source: crawler-user-agents {version} (PyPI), "
        "https://github.com/monperrus/crawler-user-agents",
        "#   MIT License, Copyright (c) 2017 Martin Monperrus; the patterns below are",
        "#   that list's, rewritten for Rust regex syntax, followed by ArcGuard's own",
        "#   entries from arcguard_extra.tsv.",
        "# Columns (tab-separated): NAME CATEGORIES PATTERN LITERAL...",
        "#   LITERALs: lower-case prefilter keys (4 bytes where possible), one of",
        "#   which (ASCII case-insensitively) every match of PATTERN contains;",
        "#   none = always confirm.",
    ]
    for name, cats, pattern, lits in rows:
        lines.append("\t".join([name, ",".join(cats), pattern, *lits]))
    text = "\n".join(lines) + "\n"
    corpus = "\n".join([
        "# GENERATED by scripts/gen_bot_data.py - do not edit by hand.",
        f"# The sample User-Agents (`instances`) of crawler-user-agents {version}",
        "#   (MIT License, Copyright (c) 2017 Martin Monperrus) and of arcguard_extra.tsv.",
        "# Columns (tab-separated): NAME USER_AGENT",
        *("\t".join(s) for s in samples),
    ]) + "\n"

    no_lit = [r[0] for r in rows if not r[3]]
    odd = sum(1 for r in rows for lit in r[3] if len(lit.encode()) != KEY)
    hot = sorted({lit for r in rows for lit in r[3] if any(lit in b for b in browsers)})
    if args.check:
        if OUT.read_text(encoding="utf-8") != text or INSTANCES.read_text(encoding="utf-8") != corpus:
            print(f"{OUT} is stale: run scripts/gen_bot_data.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    INSTANCES.write_text(corpus, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(rows)} entries, "
          f"{len(samples)} samples, "
          f"{len(no_lit)} without a prefilter literal: {', '.join(no_lit) or '-'}; "
          f"{odd} keys not {KEY} bytes; keys seen in browsers: {hot or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
