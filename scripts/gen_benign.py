"""Generates the shield's large benign corpus, tests/shield/data/benign/.

Values a user really sends, from sources not written to pass the shield:

* ``names``, ``addresses``, ``companies``, ``free_text``: Faker (pinned in the
  ``bench`` extra) in many locales;
* ``scripts_emoji``: Faker text, names and addresses in non-Latin scripts, and
  sentences with emoji (ZWJ sequences, flags, skin tones) from Unicode's
  emoji blocks;
* ``json_api``: JSON request bodies of common API shapes (sign-up, order,
  webhook event, search filter, GraphQL, JSON Patch, GeoJSON, settings) filled
  with Faker values;
* ``markdown``: chunks of the READMEs (markdown / reStructuredText) that the
  installed Python distributions ship in their METADATA, as users paste docs
  into issues and forums;
* ``code``: fenced code blocks of those READMEs (shell, SQL, Python, JSON,
  YAML...) and windows of lines from the Python standard library's sources;
* ``search_queries``: search-box queries built from SQL, shell, HTML and file
  words that are also ordinary English ("select a plan", "drop shipping",
  "rm -rf tutorial") with Faker words around them;
* ``urls``: URLs with query strings (search, tracking, OAuth callbacks,
  redirects with an encoded URL, signed storage links);
* ``tokens``: base64 and base64url tokens, JWTs, UUIDs, hex digests, API keys.

Each file is JSON lines ``{"value": ..., "from": ...}``; ``from`` says where the
value came from. Deterministic for a given seed, Faker version and set of
installed distributions (recorded in the README it writes).

Usage::

    python scripts/gen_benign.py --out tests/shield/data/benign
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.metadata as md
import json
import os
import random
import re
import sys
import sysconfig
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import faker

SEED = 20260724
# Fixed, not "this decade": the output must not depend on the day it is made.
START, END = datetime(2020, 1, 1), datetime(2026, 7, 1)
LOCALES = [
    "en_US", "en_GB", "en_IN", "en_NG", "de_DE", "de_CH", "fr_FR", "fr_CA", "es_ES",
    "es_MX", "it_IT", "pt_BR", "pt_PT", "nl_NL", "sv_SE", "no_NO", "da_DK", "fi_FI",
    "pl_PL", "cs_CZ", "hu_HU", "ro_RO", "tr_TR", "ga_IE", "id_ID", "vi_VN", "fil_PH",
    "sw", "zu_ZA", "et_EE", "lt_LT", "hr_HR",
]  # fmt: skip
SCRIPT_LOCALES = [
    "ja_JP", "zh_CN", "zh_TW", "ko_KR", "ru_RU", "uk_UA", "bg_BG", "el_GR", "ar_AA",
    "ar_EG", "he_IL", "fa_IR", "hi_IN", "bn_BD", "ta_IN", "th_TH", "hy_AM", "ka_GE",
    "ne_NP", "am_ET",
]  # fmt: skip


def fakers(locales: list[str], seed: int) -> list[faker.Faker]:
    out = []
    for i, loc in enumerate(locales):
        f = faker.Faker(loc)
        f.seed_instance(seed + i)
        out.append(f)
    return out


Item = tuple[str, str]  # (value, from)
Kinds = list[tuple[str, Callable[[faker.Faker], str]]]


def faked(rng: random.Random, n: int, fs: list[faker.Faker], kinds: Kinds) -> Iterator[Item]:
    """n values, the i-th from locale i mod len(fs), of a random kind; a kind a
    locale has no provider for is taken from the next locale."""
    for i in range(n):
        kind, make = kinds[rng.randrange(len(kinds))]
        for j in range(len(fs)):
            f = fs[(i + j) % len(fs)]
            try:
                value = make(f)
            except AttributeError:
                continue
            yield value, f"faker {f.locales[0]} {kind}"
            break


def names(rng: random.Random, n: int) -> Iterator[Item]:
    fs = fakers(LOCALES, SEED)
    kinds: Kinds = [
        ("name", lambda f: f.name()),
        ("first_name last_name", lambda f: f"{f.first_name()} {f.last_name()}"),
        ("last_name, first_name", lambda f: f"{f.last_name()}, {f.first_name()}"),
        ("user_name", lambda f: f.user_name()),
        ("email", lambda f: f.email()),
        ("name with prefix", lambda f: f"{f.prefix()} {f.name()}"),
    ]
    yield from faked(rng, n, fs, kinds)


def addresses(rng: random.Random, n: int) -> Iterator[Item]:
    fs = fakers(LOCALES, SEED + 100)
    kinds: Kinds = [
        ("address", lambda f: f.address()),
        ("street_address", lambda f: f.street_address()),
        ("city postcode", lambda f: f"{f.postcode()} {f.city()}"),
        ("phone_number", lambda f: f.phone_number()),
        ("address one line", lambda f: f.address().replace("\n", ", ")),
    ]
    yield from faked(rng, n, fs, kinds)


def companies(rng: random.Random, n: int) -> Iterator[Item]:
    fs = fakers(LOCALES, SEED + 200)
    kinds: Kinds = [
        ("company", lambda f: f.company()),
        ("catch_phrase", lambda f: f.catch_phrase()),
        ("bs", lambda f: f.bs()),
        ("job", lambda f: f.job()),
        ("company + suffix", lambda f: f"{f.company()} ({f.company_suffix()})"),
    ]
    yield from faked(rng, n, fs, kinds)


def free_text(rng: random.Random, n: int) -> Iterator[Item]:
    fs = fakers(LOCALES, SEED + 300)
    kinds: Kinds = [
        ("sentence", lambda f: f.sentence(nb_words=rng.randrange(4, 18))),
        ("paragraph", lambda f: f.paragraph(nb_sentences=rng.randrange(2, 6))),
        ("text", lambda f: f.text(max_nb_chars=rng.choice([200, 400, 800]))),
        ("paragraphs", lambda f: "\n\n".join(f.paragraphs(nb=rng.randrange(2, 4)))),
        ("review", lambda f: f"{f.sentence()} {rng.randint(1, 5)}/5 - {f.first_name()}"),
    ]
    yield from faked(rng, n, fs, kinds)


EMOJI_RANGES = [(0x1F300, 0x1F5FF), (0x1F600, 0x1F64F), (0x1F680, 0x1F6FF), (0x1F900, 0x1F9FF)]
SKIN_TONES = [chr(c) for c in range(0x1F3FB, 0x1F400)]
ZWJ_SEQUENCES = [
    "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466",
    "\U0001f3f3\ufe0f\u200d\U0001f308",
    "\U0001f469\u200d\U0001f4bb",
    "\U0001f9d1\u200d\U0001f373",
    "\u2764\ufe0f\u200d\U0001f525",
]


def emoji(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.15:
        return rng.choice(ZWJ_SEQUENCES)
    if r < 0.3:  # a flag: two regional indicators
        return "".join(chr(0x1F1E6 + rng.randrange(26)) for _ in range(2))
    lo, hi = rng.choice(EMOJI_RANGES)
    e = chr(rng.randrange(lo, hi + 1))
    return e + rng.choice(SKIN_TONES) if r < 0.4 else e


def scripts_emoji(rng: random.Random, n: int) -> Iterator[Item]:
    fs = fakers(SCRIPT_LOCALES, SEED + 400)
    en = fakers(["en_US", "es_ES", "pt_BR", "fr_FR"], SEED + 450)
    for i in range(n):
        if i % 4 == 3:
            f = en[i % len(en)]
            words = f.sentence(nb_words=rng.randrange(3, 12)).split()
            for _ in range(rng.randrange(1, 4)):
                words.insert(rng.randrange(len(words) + 1), emoji(rng))
            yield " ".join(words), f"faker {f.locales[0]} sentence + emoji"
            continue
        f = fs[i % len(fs)]
        kind = rng.choice(["name", "address", "text", "company", "text + emoji"])
        if kind == "name":
            value = f.name()
        elif kind == "address":
            value = f.address()
        elif kind == "company":
            value = f.company()
        else:
            value = f.text(max_nb_chars=rng.choice([80, 200, 400]))
            if kind == "text + emoji":
                value += " " + "".join(emoji(rng) for _ in range(rng.randrange(1, 4)))
        yield value, f"faker {f.locales[0]} {kind}"


def json_api(rng: random.Random, n: int) -> Iterator[Item]:
    fs = fakers(LOCALES[:12] + SCRIPT_LOCALES[:4], SEED + 500)

    def iso(f: faker.Faker) -> str:
        return str(f.date_time_between(START, END).isoformat() + "Z")

    shapes: list[tuple[str, Callable[[faker.Faker], Any]]] = [
        (
            "signup",
            lambda f: {
                "email": f.email(),
                "password": f.password(length=rng.randrange(10, 20)),
                "name": f.name(),
                "newsletter": rng.random() < 0.5,
                "locale": f.locales[0],
            },
        ),
        (
            "profile update",
            lambda f: {
                "user": {
                    "id": rng.randrange(1, 10**6),
                    "display_name": f.user_name(),
                    "bio": f.sentence(),
                    "website": f.url(),
                    "phone": f.phone_number(),
                },
                "address": {
                    "street": f.street_address(),
                    "city": f.city(),
                    "postcode": f.postcode(),
                    "country": f.country_code(),
                },
            },
        ),
        (
            "order",
            lambda f: {
                "order_id": f.uuid4(),
                "currency": f.currency_code(),
                "created_at": iso(f),
                "items": [
                    {
                        "sku": f.ean8(),
                        "name": f.catch_phrase(),
                        "qty": rng.randrange(1, 5),
                        "price": round(rng.uniform(1, 500), 2),
                    }
                    for _ in range(rng.randrange(1, 5))
                ],
                "shipping": {
                    "method": rng.choice(["standard", "express", "drop shipping"]),
                    "address": f.address(),
                },
                "notes": f.sentence() if rng.random() < 0.5 else None,
            },
        ),
        (
            "webhook event",
            lambda f: {
                "id": "evt_" + f.pystr(min_chars=24, max_chars=24),
                "type": rng.choice(
                    [
                        "payment_intent.succeeded",
                        "customer.updated",
                        "invoice.paid",
                        "push",
                        "pull_request.opened",
                        "issue_comment.created",
                    ]
                ),
                "created": rng.randrange(1_600_000_000, 1_800_000_000),
                "data": {
                    "object": {
                        "id": f.uuid4(),
                        "amount": rng.randrange(100, 100000),
                        "description": f.sentence(),
                        "metadata": {"order": f.ean13()},
                    }
                },
            },
        ),
        (
            "search filter",
            lambda f: {
                "query": f.sentence(nb_words=3).rstrip("."),
                "page": rng.randrange(1, 50),
                "per_page": rng.choice([10, 20, 50, 100]),
                "sort": rng.choice(["created_at", "-updated_at", "price", "relevance"]),
                "order": rng.choice(["asc", "desc"]),
                "filters": {
                    "category": f.word(),
                    "min_price": rng.randrange(0, 100),
                    "tags": f.words(nb=rng.randrange(1, 4)),
                    "in_stock": True,
                },
            },
        ),
        (
            "graphql",
            lambda f: {
                "operationName": "GetUser",
                "query": "query GetUser($id: ID!) { user(id: $id) { id name email "
                "orders(first: 10) { edges { node { id total } } } } }",
                "variables": {"id": str(rng.randrange(1, 10**5))},
            },
        ),
        (
            "json patch",
            lambda f: [
                {"op": "replace", "path": "/profile/" + f.word(), "value": f.sentence()},
                {
                    "op": rng.choice(["add", "remove", "test"]),
                    "path": f"/tags/{rng.randrange(9)}",
                    "value": f.word(),
                },
            ],
        ),
        (
            "geojson",
            lambda f: {
                "type": "Feature",
                "geometry": {
                    "type": "Point",
                    "coordinates": [float(f.longitude()), float(f.latitude())],
                },
                "properties": {"name": f.city(), "population": rng.randrange(10**3, 10**7)},
            },
        ),
        (
            "settings",
            lambda f: {
                "theme": rng.choice(["dark", "light", "system"]),
                "timezone": f.timezone(),
                "notifications": {"email": True, "sms": False, "digest": "weekly"},
                "signature": f"-- \n{f.name()}\n{f.job()}, {f.company()}",
            },
        ),
        (
            "comment",
            lambda f: {
                "post_id": rng.randrange(1, 10**6),
                "author": f.user_name(),
                "body": f.paragraph(),
                "reply_to": None,
                "client": f.user_agent(),
            },
        ),
    ]
    for i in range(n):
        f = fs[i % len(fs)]
        kind, make = shapes[rng.randrange(len(shapes))]
        doc = make(f)
        text = json.dumps(doc, ensure_ascii=rng.random() < 0.3, indent=2 if i % 3 == 0 else None)
        yield text, f"json {kind} ({f.locales[0]})"


def distributions() -> list[md.Distribution]:
    """The installed distributions ``arcguard[dev]`` pulls in (its pinned tools
    and their dependencies), by name: a set every developer's machine has."""
    from packaging.requirements import Requirement

    todo = [("arcguard", frozenset({"dev", "bench", "test"}))]
    found: dict[str, md.Distribution] = {}
    while todo:
        name, extras = todo.pop()
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        key = (dist.metadata["Name"] or name).lower().replace("_", "-")
        if key in found and not extras:
            continue
        found[key] = dist
        for line in dist.requires or []:
            req = Requirement(line)
            envs = [{"extra": e} for e in extras] or [{"extra": ""}]
            if req.marker is None or any(req.marker.evaluate(env) for env in envs):
                child = req.name.lower().replace("_", "-")
                if child not in found or req.extras:
                    todo.append((child, frozenset(req.extras)))
    found.pop("arcguard", None)
    return [found[k] for k in sorted(found)]


FENCE = re.compile(r"^```[ \t]*([\w+-]*)[^\n]*\n(.*?)^```", re.S | re.M)


def readme(d: md.Distribution) -> str:
    body = d.metadata.get_payload()
    return str(body or d.metadata.get("Description") or "")


def markdown(rng: random.Random, n: int) -> Iterator[Item]:
    chunks: list[Item] = []
    for d in distributions():
        text = readme(d)
        paras = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
        i = 0
        while i < len(paras):
            size = rng.randrange(1, 4)
            chunk = "\n\n".join(paras[i : i + size]).strip()
            i += size
            if 40 <= len(chunk) <= 2000:
                chunks.append((chunk, f"README of {d.metadata['Name']} {d.version}"))
    rng.shuffle(chunks)
    yield from chunks[:n]


def code(rng: random.Random, n: int) -> Iterator[Item]:
    blocks: list[Item] = []
    for d in distributions():
        for m in FENCE.finditer(readme(d)):
            lang, body = m.group(1) or "plain", m.group(2).strip()
            if 10 <= len(body) <= 2000:
                blocks.append((body, f"```{lang} block in README of {d.metadata['Name']}"))
    rng.shuffle(blocks)
    half = min(len(blocks), n // 2)
    yield from blocks[:half]
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in stdlib.glob("*.py") if p.stat().st_size > 2000)
    for _ in range(n - half):
        path = rng.choice(files)
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        start = rng.randrange(len(lines))
        size = rng.randrange(3, 20)
        snippet = "\n".join(lines[start : start + size]).strip("\n")
        if snippet.strip():
            yield snippet, f"Python {sys.version.split()[0]} Lib/{path.name}:{start + 1}"


SQL_WORDS = [
    "select", "union", "insert", "update", "delete", "drop", "where", "order by", "group by",
    "having", "join", "table", "from", "exec", "sleep", "benchmark", "schema", "like",
    "truncate", "alter", "create", "grant", "null", "or", "and", "information", "declare",
    "cast", "char", "limit", "offset", "case when", "database",
]  # fmt: skip
SHELL_WORDS = [
    "rm -rf", "cat", "ls", "sudo", "curl", "wget", "grep", "chmod 777", "kill -9", "ping",
    "echo", "bash", "powershell", "cmd", "nc", "whoami", "ssh", "tar -xzf", "cron",
    "netstat", "ifconfig", "python -m", "npm install", "pip install", "eval", "exec",
]  # fmt: skip
WEB_WORDS = [
    "script", "alert", "onload", "iframe", "javascript", "cookie", "document", "window",
    "etc passwd", "windows system32", "wp-config", "admin", "login", "proxy", "localhost",
    "template", "include", "shell", "upload", "<br> tag", "html <div>", "xml", "jndi",
]  # fmt: skip
SHAPES = [
    "{w}", "{w} {n}", "{n} {w}", "how to {w} {n}", "{w} {n} tutorial", "what does {w} mean",
    "{w} vs {w2}", "best {n} for {w}", "{w} {n} near me", "why is my {n} {w}",
    "{w} in {lang}", "{w} {n} example", "{n} {w} {n2}", "\"{w}\" {n}", "{w} {n}?",
    "{w} {n} error", "fix {w} {n}", "{w} a {n}", "{w} the {n} from {n2}",
]  # fmt: skip
ENGLISH = [
    "select a plan", "drop shipping", "rm -rf tutorial", "union station", "order by phone",
    "insert coin", "delete my account", "update windows", "sleep apnea", "table for two",
    "drop down menu", "cat food", "where to eat", "kill bill", "ping pong table",
    "shell station", "script writing", "union jack", "grant application", "benchmark test",
]  # fmt: skip


def search_queries(rng: random.Random, n: int) -> Iterator[Item]:
    fs = fakers(["en_US", "en_US", "en_US", "de_DE", "es_ES"], SEED + 600)
    langs = ["python", "sql", "bash", "mysql", "postgres", "excel", "linux", "windows", "js"]
    yield from ((q, "search phrase") for q in ENGLISH)
    for i in range(n - len(ENGLISH)):
        f = fs[i % len(fs)]
        pool = rng.choice([SQL_WORDS, SHELL_WORDS, WEB_WORDS])
        q = rng.choice(SHAPES).format(
            w=rng.choice(pool), w2=rng.choice(pool), n=f.word(), n2=f.word(),
            lang=rng.choice(langs),
        )  # fmt: skip
        yield q, f"search query ({f.locales[0]} words)"


def urls(rng: random.Random, n: int) -> Iterator[Item]:
    fs = fakers(LOCALES[:10], SEED + 700)
    for i in range(n):
        f = fs[i % len(fs)]
        kind = rng.choice(["search", "utm", "oauth", "redirect", "signed", "page", "api"])
        if kind == "search":
            q = f.sentence(nb_words=rng.randrange(2, 6)).rstrip(".")
            url = f"https://www.{f.domain_name()}/search?" + urlencode(
                {"q": q, "hl": f.locales[0][:2], "start": rng.randrange(0, 50) * 10}
            )
        elif kind == "utm":
            url = f.url() + f.uri_path() + "?" + urlencode({
                "utm_source": rng.choice(["newsletter", "twitter", "google"]),
                "utm_medium": rng.choice(["email", "cpc", "social"]),
                "utm_campaign": f.slug(), "ref": f.user_name(),
            })  # fmt: skip
        elif kind == "oauth":
            url = f"https://{f.domain_name()}/oauth/callback?" + urlencode({
                "code": f.pystr(min_chars=20, max_chars=40),
                "state": base64.urlsafe_b64encode(rng.randbytes(18)).decode().rstrip("="),
                "scope": "openid email profile",
            })  # fmt: skip
        elif kind == "redirect":
            inner = f.url() + f.uri_path() + "?" + urlencode({"tab": f.word(), "id": i})
            url = f"https://{f.domain_name()}/login?next={quote(inner, safe='')}"
        elif kind == "signed":
            url = (
                f"https://{f.domain_word()}.s3.amazonaws.com/{f.file_path(depth=2)[1:]}?"
                + urlencode(
                    {
                        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
                        "X-Amz-Credential": f"AKIA{f.pystr(min_chars=16, max_chars=16).upper()}/"
                        f"20260101/us-east-1/s3/aws4_request",
                        "X-Amz-Expires": 3600,
                        "X-Amz-Signature": hashlib.sha256(rng.randbytes(16)).hexdigest(),
                    }
                )
            )
        elif kind == "page":
            url = f.uri() + ("#" + f.slug() if rng.random() < 0.3 else "")
        else:
            url = f"https://api.{f.domain_name()}/v{rng.randrange(1, 4)}/{f.word()}s?" + urlencode(
                {"filter[status]": "active", "page[size]": 25, "include": "author,comments"}
            )
        yield url, f"url {kind} ({f.locales[0]})"


def jwt(rng: random.Random, f: faker.Faker) -> str:
    def b64(obj: Any) -> str:
        raw = json.dumps(obj, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    header = {"alg": rng.choice(["HS256", "RS256", "ES256"]), "typ": "JWT"}
    claims = {
        "sub": str(rng.randrange(10**6)),
        "name": f.name(),
        "email": f.email(),
        "iat": rng.randrange(1_600_000_000, 1_800_000_000),
        "scope": "read:orders write:profile",
    }
    sig = base64.urlsafe_b64encode(rng.randbytes(rng.choice([32, 64]))).decode().rstrip("=")
    return f"{b64(header)}.{b64(claims)}.{sig}"


def tokens(rng: random.Random, n: int) -> Iterator[Item]:
    f = fakers(["en_US"], SEED + 800)[0]
    kinds: list[tuple[str, Callable[[], str]]] = [
        ("base64", lambda: base64.b64encode(rng.randbytes(rng.randrange(8, 96))).decode()),
        (
            "base64url",
            lambda: base64.urlsafe_b64encode(rng.randbytes(rng.randrange(8, 96))).decode(),
        ),
        ("jwt", lambda: jwt(rng, f)),
        ("bearer jwt", lambda: "Bearer " + jwt(rng, f)),
        ("uuid", lambda: str(uuid.UUID(bytes=rng.randbytes(16), version=4))),
        ("sha256 hex", lambda: hashlib.sha256(rng.randbytes(8)).hexdigest()),
        ("md5 hex", lambda: hashlib.md5(rng.randbytes(8), usedforsecurity=False).hexdigest()),
        ("api key", lambda: rng.choice(["sk_live_", "pk_test_", "ghp_", "xoxb-", "AKIA"])
         + base64.b32encode(rng.randbytes(20)).decode().rstrip("=")),
        ("basic auth", lambda: "Basic " + base64.b64encode(
            f"{f.user_name()}:{f.password()}".encode()).decode()),
        ("base64 json", lambda: base64.b64encode(json.dumps(
            {"user": f.user_name(), "exp": rng.randrange(10**9, 2 * 10**9)}).encode()).decode()),
    ]  # fmt: skip
    for _ in range(n):
        kind, make = kinds[rng.randrange(len(kinds))]
        yield make(), f"token {kind}"


SOURCES: dict[str, tuple[Callable[[random.Random, int], Iterator[Item]], int]] = {
    "names": (names, 700),
    "addresses": (addresses, 600),
    "companies": (companies, 500),
    "free_text": (free_text, 600),
    "scripts_emoji": (scripts_emoji, 600),
    "json_api": (json_api, 500),
    "markdown": (markdown, 600),
    "code": (code, 600),
    "search_queries": (search_queries, 600),
    "urls": (urls, 500),
    "tokens": (tokens, 500),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("tests/shield/data/benign"))
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    if os.environ.get("PYTHONHASHSEED") != "0":
        # Some Faker providers pick from sets: string hashing must not vary per run.
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable, *sys.argv])  # noqa: S606 (ourselves again)
    args.out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name, (make, n) in SOURCES.items():
        rng = random.Random(f"{args.seed}:{name}")  # noqa: S311 (data, not secrets)
        seen: set[str] = set()
        with (args.out / f"{name}.jsonl").open("w", encoding="utf-8") as out:
            for value, origin in make(rng, n):
                if value in seen or not value.strip():
                    continue
                seen.add(value)
                out.write(json.dumps({"value": value, "from": origin}, ensure_ascii=False) + "\n")
        counts[name] = len(seen)
    dists = ", ".join(f"{d.metadata['Name']} {d.version}" for d in distributions())
    lines = [
        "# Benign corpus",
        "",
        "Values users send, from sources not written to pass the shield (see",
        "`scripts/gen_benign.py` for each source). Each `<source>.jsonl` line is",
        '`{"value": ..., "from": ...}`. `tests/shield/test_benign.py` sends every value as',
        "a query value, a form body and a JSON body and asserts `ceiling.json`.",
        "",
        "Regenerate: `python scripts/gen_benign.py --out tests/shield/data/benign` "
        f"(seed {args.seed}, Faker {faker.VERSION}, Python {sys.version.split()[0]}).",
        "",
        "| source | values |",
        "| --- | --- |",
        *(f"| {k} | {v} |" for k, v in counts.items()),
        f"| total | {sum(counts.values())} |",
        "",
        f"`markdown` and `code` read the READMEs of the installed distributions: {dists}.",
        "",
    ]
    (args.out / "README.md").write_text("\n".join(lines), encoding="utf-8")
    print(f"{sum(counts.values())} values -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
