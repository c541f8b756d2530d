//! The compiled form of a filter expression and its evaluation.

use std::borrow::Cow;
use std::collections::HashSet;
use std::net::IpAddr;

use memchr::memmem;
use regex::Regex;

use crate::request::Request;

/// A request field. Map fields carry their key (header names lower-cased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Field {
    IpSrc,
    Method,
    Host,
    Uri,
    UriPath,
    UriPathRaw,
    UriQuery,
    UriArg(String),
    Header(String),
    UserAgent,
    Referer,
    Cookie,
    CookieNamed(String),
    BodyRaw,
    Local(String),
}

/// Every field name, for documentation and "did you mean" suggestions.
/// Map fields (a `["key"]` follows) end with `[]`.
pub(super) const FIELD_NAMES: &[&str] = &[
    "ip.src",
    "http.request.method",
    "http.host",
    "http.request.uri",
    "http.request.uri.path",
    "http.request.uri.path.raw",
    "http.request.uri.query",
    "http.request.uri.args[]",
    "http.request.headers[]",
    "http.user_agent",
    "http.referer",
    "http.cookie",
    "http.request.cookies[]",
    "http.request.body.raw",
    "local[]",
];

impl Field {
    /// The field for a plain (non-map) name.
    pub(super) fn plain(name: &str) -> Option<Field> {
        Some(match name {
            "ip.src" => Field::IpSrc,
            "http.request.method" => Field::Method,
            "http.host" => Field::Host,
            "http.request.uri" => Field::Uri,
            "http.request.uri.path" => Field::UriPath,
            "http.request.uri.path.raw" => Field::UriPathRaw,
            "http.request.uri.query" => Field::UriQuery,
            "http.user_agent" => Field::UserAgent,
            "http.referer" => Field::Referer,
            "http.cookie" => Field::Cookie,
            "http.request.body.raw" => Field::BodyRaw,
            _ => return None,
        })
    }

    /// The field for a map name and its key.
    pub(super) fn map(name: &str, key: &str) -> Option<Field> {
        Some(match name {
            "http.request.uri.args" => Field::UriArg(key.to_string()),
            "http.request.headers" => Field::Header(key.to_ascii_lowercase()),
            "http.request.cookies" => Field::CookieNamed(key.to_string()),
            "local" => Field::Local(key.to_string()),
            _ => return None,
        })
    }

    pub(super) fn is_map(name: &str) -> bool {
        matches!(name, "http.request.uri.args" | "http.request.headers" | "http.request.cookies" | "local")
    }

    /// The field's text; a missing value is the empty string.
    fn text<'r>(&self, req: &'r Request<'_>) -> Cow<'r, str> {
        match self {
            Field::IpSrc => Cow::Borrowed(req.ip.as_ref()),
            Field::Method => Cow::Borrowed(req.method.as_ref()),
            Field::Host => Cow::Borrowed(req.host.as_ref()),
            Field::Uri => {
                if req.query.is_empty() {
                    Cow::Borrowed(req.path.as_ref())
                } else {
                    Cow::Owned(format!("{}?{}", req.path, req.query))
                }
            }
            Field::UriPath => percent_decode(&req.path, false),
            Field::UriPathRaw => Cow::Borrowed(req.path.as_ref()),
            Field::UriQuery => Cow::Borrowed(req.query.as_ref()),
            Field::UriArg(name) => query_arg(&req.query, name).unwrap_or(Cow::Borrowed("")),
            Field::Header(name) => Cow::Borrowed(req.header(name).unwrap_or("")),
            Field::UserAgent => Cow::Borrowed(req.header("user-agent").unwrap_or("")),
            Field::Referer => Cow::Borrowed(req.header("referer").unwrap_or("")),
            Field::Cookie => Cow::Borrowed(req.header("cookie").unwrap_or("")),
            Field::CookieNamed(name) => Cow::Borrowed(cookie(req, name).unwrap_or("")),
            Field::BodyRaw => String::from_utf8_lossy(req.body),
            Field::Local(name) => Cow::Borrowed(req.extra(name).unwrap_or("")),
        }
    }
}

/// A string-valued operand: a field, possibly transformed.
#[derive(Debug)]
pub(super) enum StrExpr {
    Field(Field),
    Lower(Box<StrExpr>),
    Upper(Box<StrExpr>),
    UrlDecode(Box<StrExpr>),
}

impl StrExpr {
    fn eval<'r>(&self, req: &'r Request<'_>) -> Cow<'r, str> {
        match self {
            StrExpr::Field(f) => f.text(req),
            StrExpr::Lower(e) => {
                let s = e.eval(req);
                if s.chars().any(char::is_uppercase) {
                    Cow::Owned(s.to_lowercase())
                } else {
                    s
                }
            }
            StrExpr::Upper(e) => {
                let s = e.eval(req);
                if s.chars().any(char::is_lowercase) {
                    Cow::Owned(s.to_uppercase())
                } else {
                    s
                }
            }
            StrExpr::UrlDecode(e) => match e.eval(req) {
                Cow::Borrowed(s) => percent_decode(s, true),
                Cow::Owned(s) => Cow::Owned(percent_decode(&s, true).into_owned()),
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CmpOp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn test(self, o: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            CmpOp::Eq => o == Equal,
            CmpOp::Lt => o == Less,
            CmpOp::Le => o != Greater,
            CmpOp::Gt => o == Greater,
            CmpOp::Ge => o != Less,
        }
    }
}

/// A set of strings: a scan for a few, a hash set for many.
#[derive(Debug)]
pub(super) enum StrSet {
    Few(Vec<String>),
    Many(HashSet<String>),
}

impl StrSet {
    pub(super) fn new(items: Vec<String>) -> StrSet {
        if items.len() <= 8 {
            StrSet::Few(items)
        } else {
            StrSet::Many(items.into_iter().collect())
        }
    }

    fn contains(&self, s: &str) -> bool {
        match self {
            StrSet::Few(v) => v.iter().any(|x| x == s),
            StrSet::Many(h) => h.contains(s),
        }
    }
}

#[derive(Debug)]
pub(super) enum StrTest {
    /// `num` is set when the literal is a number (or the operator is an
    /// ordering): then both sides compare numerically if the value parses.
    Cmp { op: CmpOp, text: String, num: Option<f64> },
    Contains(memmem::Finder<'static>),
    Matches(Regex),
    In(StrSet),
}

#[derive(Debug)]
pub(super) enum IntTest {
    Cmp(CmpOp, i64),
    /// Inclusive ranges; a single value `n` is `(n, n)`.
    In(Vec<(i64, i64)>),
}

/// An address range: `v6` says which family, bounds are inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct IpRange {
    pub(super) v6: bool,
    pub(super) lo: u128,
    pub(super) hi: u128,
}

impl IpRange {
    pub(super) fn cidr(addr: IpAddr, prefix: u32) -> IpRange {
        let (v6, bits, n) = ip_bits(addr);
        let host = bits - prefix;
        let mask: u128 = if host == 0 { 0 } else { (!0u128) >> (128 - host) };
        IpRange { v6, lo: n & !mask, hi: n | mask }
    }

    fn contains(&self, v6: bool, n: u128) -> bool {
        self.v6 == v6 && self.lo <= n && n <= self.hi
    }
}

/// (is IPv6, address bits, value); IPv4-mapped IPv6 counts as IPv4.
pub(super) fn ip_bits(addr: IpAddr) -> (bool, u32, u128) {
    match addr {
        IpAddr::V4(a) => (false, 32, u32::from(a) as u128),
        IpAddr::V6(a) => {
            let s = a.segments();
            if s[..5] == [0, 0, 0, 0, 0] && s[5] == 0xffff {
                (false, 32, ((s[6] as u128) << 16) | s[7] as u128)
            } else {
                (true, 128, u128::from(a))
            }
        }
    }
}

#[derive(Debug)]
pub(super) enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Xor(Vec<Node>),
    Not(Box<Node>),
    Str(StrExpr, StrTest),
    /// `len(...)` compared with integers.
    Len(StrExpr, IntTest),
    /// `ip.src` in the given ranges (`==` is a one-address range).
    Ip(Vec<IpRange>),
    StartsWith(StrExpr, String),
    EndsWith(StrExpr, String),
}

impl Node {
    pub(super) fn eval(&self, req: &Request<'_>) -> bool {
        match self {
            Node::And(v) => v.iter().all(|n| n.eval(req)),
            Node::Or(v) => v.iter().any(|n| n.eval(req)),
            Node::Xor(v) => v.iter().fold(false, |acc, n| acc ^ n.eval(req)),
            Node::Not(n) => !n.eval(req),
            Node::Str(lhs, test) => {
                let s = lhs.eval(req);
                match test {
                    StrTest::Cmp { op, text, num } => {
                        let ord = match (num, parse_num(&s)) {
                            (Some(b), Some(a)) => match a.partial_cmp(b) {
                                Some(o) => o,
                                None => return false,
                            },
                            _ => s.as_bytes().cmp(text.as_bytes()),
                        };
                        op.test(ord)
                    }
                    StrTest::Contains(f) => f.find(s.as_bytes()).is_some(),
                    StrTest::Matches(re) => re.is_match(&s),
                    StrTest::In(set) => set.contains(&s),
                }
            }
            Node::Len(lhs, test) => {
                let n = lhs.eval(req).len() as i64;
                match test {
                    IntTest::Cmp(op, v) => op.test(n.cmp(v)),
                    IntTest::In(ranges) => ranges.iter().any(|&(lo, hi)| lo <= n && n <= hi),
                }
            }
            Node::Ip(ranges) => match req.ip.trim().parse::<IpAddr>() {
                Ok(addr) => {
                    let (v6, _, n) = ip_bits(addr);
                    ranges.iter().any(|r| r.contains(v6, n))
                }
                Err(_) => false,
            },
            Node::StartsWith(lhs, p) => lhs.eval(req).starts_with(p.as_str()),
            Node::EndsWith(lhs, p) => lhs.eval(req).ends_with(p.as_str()),
        }
    }
}

/// A number if the text is one (decimal, optional sign and fraction).
pub(super) fn parse_num(s: &str) -> Option<f64> {
    let t = s.trim();
    let body = t.strip_prefix(|c| c == '-' || c == '+').unwrap_or(t);
    let mut parts = body.splitn(2, '.');
    let int = parts.next().unwrap_or("");
    let frac = parts.next();
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let ok = match frac {
        None => digits(int),
        Some(f) => (digits(int) || int.is_empty()) && digits(f),
    };
    if ok {
        t.parse().ok()
    } else {
        None
    }
}

/// Percent-decodes `%XX` (and `+` as a space when `plus` is set); invalid
/// escapes stay as they are; invalid UTF-8 is decoded lossily.
pub(super) fn percent_decode(s: &str, plus: bool) -> Cow<'_, str> {
    let b = s.as_bytes();
    if !b.iter().any(|&c| c == b'%' || (plus && c == b'+')) {
        return Cow::Borrowed(s);
    }
    let hex = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(if plus && c == b'+' { b' ' } else { c });
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

/// The first value of a query parameter, both name and value decoded.
fn query_arg<'r>(query: &'r str, name: &str) -> Option<Cow<'r, str>> {
    for pair in query.split('&') {
        let (k, v) = match pair.find('=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, ""),
        };
        if percent_decode(k, true) == name {
            return Some(percent_decode(v, true));
        }
    }
    None
}

/// One cookie's value from the `cookie` headers, without allocating.
fn cookie<'r>(req: &'r Request<'_>, name: &str) -> Option<&'r str> {
    for (k, v) in &req.headers {
        if k != "cookie" {
            continue;
        }
        for part in v.split(';') {
            let part = part.trim();
            let (n, val) = match part.find('=') {
                Some(i) => (part[..i].trim(), part[i + 1..].trim()),
                None => (part, ""),
            };
            if n == name {
                return Some(val);
            }
        }
    }
    None
}
