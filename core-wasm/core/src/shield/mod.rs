//! The shield: attack detection on every part of a request an application
//! reads. See `docs/shield.md` for the categories, configuration and reason
//! format.
//!
//! Layout: [`normalize`] turns a value into what the application would see;
//! one module per family of matchers ([`sqli`], [`xss`], [`path`], [`cmdi`],
//! [`ssrf`], [`inject`]); [`body`] splits bodies into fields. This module
//! walks the request (path segments, query keys and values, headers,
//! cookies, body fields), applies the configuration, and writes the reason.
//!
//! Work limits (all from [`Limits`]): at most `max_query_params` query or
//! form pairs, `max_value_bytes` of any one value, `header_limit` (default
//! `header_inspect_bytes`) of header and cookie values in at most
//! `max_headers` headers, `body_limit` (default `body_inspect_bytes`) of
//! body, `max_json_depth` of JSON path tracking, `max_decode_rounds` of
//! decoding; see [`budget`] for what is concluded past them. Every matcher
//! is a linear pass (no backtracking regex), so a request costs time linear
//! in the bytes inspected.

mod body;
mod budget;
mod cmdi;
mod headers;
mod inject;
mod normalize;
mod path;
mod prefilter;
mod sqli;
mod ssrf;
mod xss;

#[cfg(test)]
mod tests;

use serde_json::Value;

use crate::config::{opt_usize, string_list, ConfigError};
use crate::limits::Limits;
use crate::request::Request;
use crate::result::{json_str, Conclusion, RuleResult};

use self::body::FieldSink;
use self::budget::{OnExhausted, OnLimit, Room};
use self::normalize::{excerpt, is_plain, normalize, Scratch};

/// An attack category, reported as `category` in a shield reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    SqlInjection,
    NosqlInjection,
    Xss,
    PathTraversal,
    FileInclusion,
    CommandInjection,
    Ssrf,
    TemplateInjection,
    Jndi,
    Crlf,
    Xxe,
    ContentType,
    BodyLimit,
    HeaderLimit,
}

impl Category {
    /// Every category, in reporting order.
    pub const ALL: [Category; 14] = [
        Category::SqlInjection,
        Category::NosqlInjection,
        Category::Xss,
        Category::PathTraversal,
        Category::FileInclusion,
        Category::CommandInjection,
        Category::Ssrf,
        Category::TemplateInjection,
        Category::Jndi,
        Category::Crlf,
        Category::Xxe,
        Category::ContentType,
        Category::BodyLimit,
        Category::HeaderLimit,
    ];

    /// The name used in configuration and reasons (`SQL_INJECTION`).
    pub fn as_str(self) -> &'static str {
        match self {
            Category::SqlInjection => "SQL_INJECTION",
            Category::NosqlInjection => "NOSQL_INJECTION",
            Category::Xss => "XSS",
            Category::PathTraversal => "PATH_TRAVERSAL",
            Category::FileInclusion => "FILE_INCLUSION",
            Category::CommandInjection => "COMMAND_INJECTION",
            Category::Ssrf => "SSRF",
            Category::TemplateInjection => "TEMPLATE_INJECTION",
            Category::Jndi => "JNDI",
            Category::Crlf => "CRLF",
            Category::Xxe => "XXE",
            Category::ContentType => "CONTENT_TYPE",
            Category::BodyLimit => "BODY_LIMIT",
            Category::HeaderLimit => "HEADER_LIMIT",
        }
    }

    /// Parses a category name, case-insensitively.
    pub fn from_name(name: &str) -> Option<Category> {
        Category::ALL.iter().copied().find(|c| c.as_str().eq_ignore_ascii_case(name))
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// One detection in one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub category: Category,
    /// A short redacted excerpt of the value (at most 40 characters).
    pub excerpt: String,
}

const EXCERPT_CHARS: usize = 40;

/// Which matchers apply to a location.
#[derive(Clone, Copy)]
struct Where {
    crlf: bool,
    ssrf: bool,
    plus: bool,
    /// Remember clean values (see [`CleanValues`]): in bodies, where
    /// arrays repeat the same strings; headers and query values rarely
    /// repeat, and would only pay for the lookup.
    remember: bool,
}

const QUERY: Where = Where { crlf: true, ssrf: true, plus: true, remember: false };
const HEADER: Where = Where { crlf: true, ssrf: false, plus: false, remember: false };
const BODY: Where = Where { crlf: false, ssrf: true, plus: true, remember: true };

struct Scanner<'l> {
    sens: u8,
    enabled: u32,
    limits: &'l Limits,
}

impl<'l> Scanner<'l> {
    fn on(&self, c: Category) -> bool {
        self.enabled & c.bit() != 0
    }

    /// The categories worth running on a normalised value with byte
    /// classes `m` here: enabled, applicable to the location, and not
    /// ruled out by the prefilter.
    fn gates(&self, m: u64, w: Where) -> u32 {
        let mut on = self.enabled & prefilter::possible(m, self.sens);
        if !w.crlf {
            on &= !Category::Crlf.bit();
        }
        if !w.ssrf {
            on &= !Category::Ssrf.bit();
        }
        on
    }

    /// Scans one value (already transport-decoded once, as the application
    /// receives it). `key` is the field name when known.
    ///
    /// One pass classifies the bytes (see [`prefilter`]); only a value
    /// holding `%`, `&` or non-ASCII bytes is normalised, others are at
    /// most copied lower-cased into the scratch buffer, and only when some
    /// matcher can fire on them.
    ///
    /// A body value found clean is remembered for the rest of the request
    /// (see [`CleanValues`]): the same string again in the same kind of
    /// place (every element of a JSON array) is not scanned again.
    fn scan(&self, value: &str, key: Option<&str>, w: Where, sc: &mut Scratch) -> Option<Category> {
        use self::prefilter::{classes, only, PLAIN};
        let value = cut(value, self.limits.max_value_bytes);
        if value.is_empty() {
            return None;
        }
        let raw = classes(value.as_bytes());
        // Plain values cost no more than the lookup would.
        if !w.remember || only(raw, PLAIN) || !CleanValues::fits(value) {
            return self.scan_classified(value, raw, key, w, sc);
        }
        let include = key.map_or(false, path::include_key);
        let ctx = (self.enabled & 0xffff) | (w.crlf as u32) << 16 | (w.ssrf as u32) << 17 | (w.plus as u32) << 18 | (include as u32) << 19 | (self.sens as u32) << 20;
        if sc.clean.contains(ctx, value) {
            return None;
        }
        let found = self.scan_classified(value, raw, key, w, sc);
        if found.is_none() {
            sc.clean.insert(ctx, value);
        }
        found
    }

    /// [`Scanner::scan`] of a value (already cut) with raw byte classes `raw`.
    fn scan_classified(&self, value: &str, raw: u64, key: Option<&str>, w: Where, sc: &mut Scratch) -> Option<Category> {
        use self::prefilter::{classes, only, NONASCII, PCT, PLAIN, PLUS, SP, WORDY};
        // A plain value (`report.pdf`, `.htpasswd`) only matters as a file
        // name in an include-like field.
        if only(raw, PLAIN) {
            let include = key.map_or(false, path::include_key);
            if !(include && self.on(Category::FileInclusion)) {
                return None;
            }
            let Scratch { norm, .. } = sc;
            lower_into(value, norm);
            return if path::is_file_inclusion(norm, key) { Some(Category::FileInclusion) } else { None };
        }
        if only(raw, WORDY) {
            if !self.on(Category::SqlInjection) {
                return None;
            }
            let Scratch { norm, toks, .. } = sc;
            lower_into(value, norm);
            return if sqli::is_sqli_classes(norm, raw, self.sens, toks) { Some(Category::SqlInjection) } else { None };
        }
        let decode = raw & (PCT | prefilter::AMP | NONASCII) != 0;
        let m = if decode {
            normalize(value, self.limits.max_decode_rounds, sc);
            classes(sc.norm.as_bytes())
        } else {
            // Lower-casing changes no class: the raw classes are the
            // normalised value's.
            raw
        };
        let gates = self.gates(m, w);
        // `+` for space, when a value was form-encoded twice (`%2B` read
        // back as `+`): only outside headers, and only in values without
        // spaces of their own.
        let plus = w.plus && m & PLUS != 0 && m & SP == 0;
        let alt_gates = if plus { self.gates((m & !PLUS) | SP, w) } else { 0 };
        if gates | alt_gates == 0 {
            return None;
        }
        if !decode {
            lower_into(value, &mut sc.norm);
        }
        let Scratch { norm, alt, view, toks, .. } = sc;
        if gates != 0 {
            if let Some(c) = self.detect(norm, m, key, gates, toks, view) {
                return Some(c);
            }
        }
        if alt_gates != 0 {
            alt.clear();
            alt.extend(norm.chars().map(|c| if c == '+' { ' ' } else { c }));
            return self.detect(alt, (m & !PLUS) | SP, key, alt_gates, toks, view);
        }
        None
    }

    /// Runs the matchers of the categories in `gates` on `s`, in reporting
    /// order, and returns the first that fires.
    fn detect(&self, s: &str, m: u64, key: Option<&str>, gates: u32, toks: &mut Vec<u16>, view: &mut String) -> Option<Category> {
        use Category::*;
        let sens = self.sens;
        const ORDER: [Category; 11] =
            [Jndi, Xxe, Crlf, NosqlInjection, TemplateInjection, CommandInjection, SqlInjection, Xss, PathTraversal, FileInclusion, Ssrf];
        for c in ORDER {
            if gates & c.bit() == 0 {
                continue;
            }
            let hit = match c {
                Jndi => inject::is_jndi(s),
                Xxe => inject::is_xxe(s),
                Crlf => inject::is_crlf(s),
                NosqlInjection => inject::is_nosql_classes(s, m),
                TemplateInjection => inject::is_ssti_classes(s, m),
                CommandInjection => cmdi::is_cmdi_classes(s, m, view),
                SqlInjection => sqli::is_sqli_classes(s, m, sens, toks),
                Xss => xss::is_xss_classes(s, m, sens),
                PathTraversal => path::is_traversal(s),
                FileInclusion => path::is_file_inclusion_classes(s, m, key),
                Ssrf => ssrf::is_ssrf(s, sens),
                ContentType | BodyLimit | HeaderLimit => false,
            };
            if hit {
                return Some(c);
            }
        }
        None
    }
}

/// Values of one request already found clean, with the context their
/// verdict depends on (categories enabled, sensitivity, the location's
/// rules, whether the field name is include-like). A value is compared in
/// full, never by a hash alone. Bounded: values of `MIN..=MAX` bytes, at
/// most `ENTRIES` of them (then the oldest is replaced), copied into one
/// buffer of at most `ENTRIES * MAX` bytes.
#[derive(Default)]
pub(crate) struct CleanValues {
    /// (context, length, first 8 bytes, start in `text`).
    entries: Vec<(u32, u32, u64, u32)>,
    text: Vec<u8>,
    next: usize,
}

impl CleanValues {
    const MIN: usize = 8;
    const MAX: usize = 1024;
    const ENTRIES: usize = 32;

    fn fits(value: &str) -> bool {
        (Self::MIN..=Self::MAX).contains(&value.len())
    }

    fn head(value: &[u8]) -> u64 {
        let mut h = [0u8; 8];
        for (d, s) in h.iter_mut().zip(value) {
            *d = *s;
        }
        u64::from_le_bytes(h)
    }

    fn contains(&self, ctx: u32, value: &str) -> bool {
        let v = value.as_bytes();
        let (len, head) = (v.len() as u32, Self::head(v));
        self.entries.iter().any(|&(c, l, h, at)| c == ctx && l == len && h == head && same_bytes(&self.text[at as usize..(at + l) as usize], v))
    }

    fn insert(&mut self, ctx: u32, value: &str) {
        let v = value.as_bytes();
        let entry = |at: usize| (ctx, v.len() as u32, Self::head(v), at as u32);
        if self.entries.len() < Self::ENTRIES {
            if self.entries.is_empty() {
                self.entries.reserve(Self::ENTRIES);
                self.text.reserve(1024);
            }
            self.entries.push(entry(self.text.len()));
            self.text.extend_from_slice(v);
            return;
        }
        // Full: replace the oldest entry, in its bytes when the new value
        // is no longer, else at the end while the buffer has room.
        let slot = self.next % Self::ENTRIES;
        self.next += 1;
        let (_, old_len, _, old_at) = self.entries[slot];
        let at = old_at as usize;
        if v.len() <= old_len as usize {
            self.text[at..at + v.len()].copy_from_slice(v);
            self.entries[slot] = entry(at);
        } else if self.text.len() + v.len() <= Self::ENTRIES * Self::MAX {
            self.entries[slot] = entry(self.text.len());
            self.text.extend_from_slice(v);
        }
    }
}

/// Whether `a` and `b` hold the same bytes, compared eight at a time:
/// slice equality is a byte loop (`memcmp`) in Wasm.
#[inline]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail = ca.remainder() == cb.remainder();
    tail && ca.zip(cb).all(|(x, y)| u64::from_le_bytes([x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]]) == u64::from_le_bytes([y[0], y[1], y[2], y[3], y[4], y[5], y[6], y[7]]))
}

/// [`Request::header`] comparing names with [`same_bytes`].
fn header<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.headers.iter().find(|(k, _)| same_bytes(k.as_bytes(), name.as_bytes())).map(|(_, v)| v.as_ref())
}

/// Copies `value` lower-cased (ASCII) into `out`.
fn lower_into(value: &str, out: &mut String) {
    normalize::lower_ascii_into(value, out);
}

/// Cuts `s` to at most `max` bytes on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Scans one value as a query-string value (`?q=<value>` after URL
/// decoding) with every category enabled, at `sensitivity` 1 to 4.
/// `RuleSet::evaluate` on such a request gives the same verdict.
pub fn scan_value(value: &str, sensitivity: u8) -> Option<Finding> {
    let limits = Limits::default();
    let scanner = Scanner { sens: sensitivity.max(1).min(4), enabled: u32::MAX, limits: &limits };
    let mut sc = Scratch::default();
    scanner
        .scan(value, None, QUERY, &mut sc)
        .map(|category| Finding { category, excerpt: excerpt(value, EXCERPT_CHARS) })
}

/// Headers not scanned by default: opaque credentials and tokens, browser
/// client hints with fixed shapes, and those handled separately (`cookie`,
/// `content-type`).
const DEFAULT_EXCLUDED_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "content-type",
    "content-length",
    "if-none-match",
    "if-match",
    "x-csrf-token",
    "x-xsrf-token",
    "sec-websocket-key",
    "sec-websocket-accept",
    "sec-websocket-extensions",
];

const DEFAULT_EXCLUDED_HEADER_PREFIXES: &[&str] = &["sec-ch-ua", "sec-fetch-"];

/// For each first byte, a bit per length (below 32) of the names in
/// `DEFAULT_EXCLUDED_HEADERS` starting with it.
const fn excluded_lengths() -> [u32; 256] {
    let mut out = [0u32; 256];
    let mut i = 0;
    while i < DEFAULT_EXCLUDED_HEADERS.len() {
        let w = DEFAULT_EXCLUDED_HEADERS[i].as_bytes();
        out[w[0] as usize] |= 1 << w.len();
        i += 1;
    }
    out
}

static EXCLUDED_LENGTHS: [u32; 256] = excluded_lengths();

/// The compiled shield rule.
#[derive(Debug)]
pub(crate) struct ShieldRule {
    sens: u8,
    enabled: u32,
    exclude_paths: Vec<String>,
    exclude_fields: Vec<String>,
    exclude_headers: Vec<String>,
    body_limit: usize,
    on_body_limit: OnLimit,
    header_limit: usize,
    on_header_limit: OnLimit,
    on_budget_exhausted: OnExhausted,
    limits: Limits,
}

fn categories(v: &Value, option: &str) -> Result<Option<u32>, ConfigError> {
    if v.get(option).map_or(true, Value::is_null) {
        return Ok(None);
    }
    let mut mask = 0;
    for name in string_list(v, option)? {
        match Category::from_name(&name) {
            Some(c) => mask |= c.bit(),
            None => {
                let names: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
                return Err(ConfigError::new(option, format!("unknown category {:?}; expected one of {}", name, names.join(", "))));
            }
        }
    }
    Ok(Some(mask))
}

impl ShieldRule {
    pub(crate) fn from_config(v: &Value, limits: &Limits) -> Result<Self, ConfigError> {
        let sens = match v.get("sensitivity") {
            None | Some(Value::Null) => 2,
            Some(x) => match x.as_u64() {
                Some(n @ 1..=4) => n as u8,
                _ => return Err(ConfigError::new("sensitivity", "must be an integer from 1 to 4")),
            },
        };
        let mut enabled = categories(v, "categories")?.unwrap_or(u32::MAX);
        if let Some(off) = categories(v, "disable")? {
            enabled &= !off;
        }
        let exclude_paths = string_list(v, "exclude_paths")?;
        for p in &exclude_paths {
            if !p.starts_with('/') {
                return Err(ConfigError::new("exclude_paths", format!("{:?} must start with '/'", p)));
            }
        }
        let exclude_fields = string_list(v, "exclude_fields")?;
        for f in &exclude_fields {
            let ok = ["query:", "header:", "cookie:", "body:"].iter().any(|p| f.starts_with(p) && f.len() > p.len()) || f == "path";
            if !ok {
                return Err(ConfigError::new(
                    "exclude_fields",
                    format!("{:?} must be \"path\" or start with query:, header:, cookie: or body:", f),
                ));
            }
        }
        let exclude_headers = string_list(v, "exclude_headers")?.into_iter().map(|h| h.to_ascii_lowercase()).collect();
        let body_limit = opt_usize(v, "body_limit")?.unwrap_or(limits.body_inspect_bytes);
        let on_body_limit = OnLimit::from_config(v, "on_body_limit", OnLimit::Prefix)?;
        let header_limit = opt_usize(v, "header_limit")?.unwrap_or(limits.header_inspect_bytes);
        let on_header_limit = OnLimit::from_config(v, "on_header_limit", OnLimit::Deny)?;
        let on_budget_exhausted = OnExhausted::from_config(v)?;
        Ok(ShieldRule {
            sens,
            enabled,
            exclude_paths,
            exclude_fields,
            exclude_headers,
            body_limit,
            on_body_limit,
            header_limit,
            on_header_limit,
            on_budget_exhausted,
            limits: *limits,
        })
    }

    /// This rule's result on a request whose inspection exhausted the
    /// host's budget (`on_budget_exhausted`).
    pub(crate) fn exhausted(&self) -> RuleResult {
        self.on_budget_exhausted.result()
    }

    /// Why the header and cookie values to inspect exceed the limits
    /// (`header_limit` bytes, `max_headers` headers), if they do.
    fn headers_over_limit(&self, req: &Request) -> Option<String> {
        let cookies = !self.header_excluded_explicitly("cookie");
        let (mut bytes, mut count) = (0usize, 0usize);
        for (name, value) in &req.headers {
            let name: &str = name;
            let inspected = if same_bytes(name.as_bytes(), b"cookie") { cookies } else { !self.header_excluded(name) };
            if inspected {
                bytes += value.len();
                count += 1;
            }
        }
        if bytes > self.header_limit {
            Some(format!("{} bytes > header_limit {}", bytes, self.header_limit))
        } else if count > self.limits.max_headers {
            Some(format!("{} headers > max_headers {}", count, self.limits.max_headers))
        } else {
            None
        }
    }

    fn field_excluded(&self, kind: &str, name: &str) -> bool {
        self.exclude_fields.iter().any(|f| f.len() == kind.len() + 1 + name.len() && f.starts_with(kind) && f.as_bytes()[kind.len()] == b':' && f.ends_with(name))
    }

    fn header_excluded(&self, name: &str) -> bool {
        let n = name.as_bytes();
        let first = n.first().copied().unwrap_or(0);
        // Most names are ruled out by their first byte and length alone.
        let listed = n.len() < 32 && EXCLUDED_LENGTHS[first as usize] & (1 << n.len()) != 0;
        (listed && DEFAULT_EXCLUDED_HEADERS.iter().any(|h| same_bytes(h.as_bytes(), n)))
            || DEFAULT_EXCLUDED_HEADER_PREFIXES.iter().any(|p| p.as_bytes()[0] == first && n.len() >= p.len() && same_bytes(&n[..p.len()], p.as_bytes()))
            || self.exclude_headers.iter().any(|h| h == name)
            || self.field_excluded("header", name)
    }

    pub(crate) fn evaluate(&self, req: &Request) -> RuleResult {
        let scanner = Scanner { sens: self.sens, enabled: self.enabled, limits: &self.limits };
        let mut sc = Scratch::default();
        let mut rep = Report::default();

        // Path: the whole decoded path for traversal and sensitive files,
        // then each segment for everything else.
        let path_excluded = self.exclude_fields.iter().any(|f| f == "path");
        normalize(&req.path, self.limits.max_decode_rounds, &mut sc);
        if !self.exclude_paths.is_empty() {
            let norm_path = resolve_dots(&sc.norm);
            if self.exclude_paths.iter().any(|p| norm_path.starts_with(p.to_ascii_lowercase().as_str())) && !path::is_traversal(&sc.norm) {
                return RuleResult::new(Conclusion::Allow, "{\"type\":\"SHIELD\",\"suspicious\":false,\"excluded\":true}".into());
            }
        }
        if !path_excluded {
            if scanner.on(Category::PathTraversal) && path::is_traversal(&sc.norm) {
                rep.add(Category::PathTraversal, "path", &req.path);
            } else if scanner.on(Category::FileInclusion) && path::is_file_inclusion(&sc.norm, None) {
                rep.add(Category::FileInclusion, "path", &req.path);
            }
            if !is_plain_path(&req.path) {
                let mut bytes = Vec::new();
                let mut seg_text = String::new();
                for seg in req.path.split('/') {
                    if seg.is_empty() || is_plain(seg) {
                        continue;
                    }
                    percent_once(seg, &mut bytes, &mut seg_text);
                    if let Some(c) = scanner.scan(&seg_text, None, QUERY, &mut sc) {
                        rep.add(c, "path", seg);
                    }
                }
            }
        }

        // Query keys and values.
        let query_truncated = body::for_each_pair(&req.query, self.limits.max_query_params, |k, v| {
            if self.field_excluded("query", k) {
                return false;
            }
            self.scan_pair(&scanner, "query", k, v, QUERY, &mut sc, &mut rep);
            false
        });
        if query_truncated {
            rep.note("query", "max_query_params");
        }

        // Headers, then cookies, within the header limit.
        let mut room = Room(usize::MAX);
        let mut headers = true;
        if let Some(why) = self.headers_over_limit(req) {
            match self.on_header_limit {
                OnLimit::Deny => {
                    rep.add(Category::HeaderLimit, "headers", &why);
                    headers = false;
                }
                OnLimit::Allow => {
                    rep.note("headers", "over_limit_not_inspected");
                    headers = false;
                }
                OnLimit::Prefix => {
                    rep.note("headers", "prefix_inspected");
                    room = Room(self.header_limit);
                }
            }
        }
        if headers {
            self.scan_headers(&scanner, req, &mut room, &mut sc, &mut rep);
        }

        self.scan_body(&scanner, req, &mut sc, &mut rep);
        rep.finish()
    }

    fn scan_headers(&self, scanner: &Scanner, req: &Request, room: &mut Room, sc: &mut Scratch, rep: &mut Report) {
        // (Past `max_headers` only under `on_header_limit: "prefix"`.)
        let mut inspected = 0;
        for (name, value) in &req.headers {
            let name: &str = name;
            if same_bytes(name.as_bytes(), b"content-type") && scanner.on(Category::ContentType) && inject::is_odd_content_type(value, self.sens) {
                rep.add(Category::ContentType, "header:content-type", value);
            }
            if self.header_excluded(name) {
                continue;
            }
            inspected += 1;
            if inspected > self.limits.max_headers {
                break;
            }
            let value = room.take(value);
            if headers::grammar(name).map_or(false, |g| headers::fits(g, value)) {
                continue;
            }
            if let Some(c) = scanner.scan(value, Some(name), HEADER, sc) {
                rep.add(c, &format!("header:{}", name), value);
            }
        }
        if self.header_excluded_explicitly("cookie") {
            return;
        }
        for (name, value) in req.cookie_pairs() {
            if self.field_excluded("cookie", name) {
                continue;
            }
            let value = room.take(value);
            if let Some(c) = scanner.scan(value, Some(name), HEADER, sc) {
                rep.add(c, &format!("cookie:{}", name), value);
            }
        }
    }

    fn header_excluded_explicitly(&self, name: &str) -> bool {
        self.exclude_headers.iter().any(|h| h == name)
    }

    #[allow(clippy::too_many_arguments)]
    fn scan_pair(&self, scanner: &Scanner, kind: &str, k: &str, v: &str, w: Where, sc: &mut Scratch, rep: &mut Report) {
        if scanner.on(Category::NosqlInjection) && inject::is_nosql_key(k) {
            rep.add(Category::NosqlInjection, &format!("{}:{}", kind, k), k);
        } else if let Some(c) = scanner.scan(k, None, w, sc) {
            rep.add(c, &format!("{}:{}", kind, k), k);
        }
        if let Some(c) = scanner.scan(v, Some(k), w, sc) {
            rep.add(c, &format!("{}:{}", kind, k), v);
        }
    }

    fn scan_body(&self, scanner: &Scanner, req: &Request, sc: &mut Scratch, rep: &mut Report) {
        let declared = header(req, "content-length").and_then(|v| v.trim().parse::<usize>().ok()).unwrap_or(0);
        let size = declared.max(req.body.len());
        if size == 0 && req.body.is_empty() {
            return;
        }
        let mut body = req.body;
        if size > self.body_limit {
            match self.on_body_limit {
                OnLimit::Allow => {
                    rep.note("body", "over_limit_not_inspected");
                    return;
                }
                OnLimit::Deny => {
                    rep.add(Category::BodyLimit, "body", &format!("{} bytes > body_limit {}", size, self.body_limit));
                    return;
                }
                OnLimit::Prefix => {
                    rep.note("body", "prefix_inspected");
                    if body.len() > self.body_limit {
                        body = &body[..self.body_limit];
                    }
                }
            }
        }
        if body.is_empty() {
            return;
        }
        let ct = req.header("content-type").unwrap_or("").to_ascii_lowercase();
        let mime = ct.split(';').next().unwrap_or("").trim();
        let excluded_body = self.exclude_fields.iter().any(|f| f == "body:*" || f == "body:$");
        if excluded_body {
            return;
        }
        if mime == "application/x-www-form-urlencoded" {
            let text = String::from_utf8_lossy(body);
            let truncated = body::for_each_pair(&text, self.limits.max_query_params, |k, v| {
                if !self.field_excluded("body", k) {
                    self.scan_pair(scanner, "body", k, v, BODY, sc, rep);
                }
                false
            });
            if truncated {
                rep.note("body", "max_query_params");
            }
        } else if mime == "application/json" || mime.ends_with("+json") || mime == "text/json" {
            let json_exclusions = self.exclude_fields.iter().any(|f| f.starts_with("body:$"));
            let mut sink = JsonSink { rule: self, scanner, sc, rep, json_exclusions };
            body::walk_json(body, self.limits.max_json_depth, &mut sink);
        } else if mime == "multipart/form-data" {
            let boundary = body::header_param(req.header("content-type").unwrap_or(""), "boundary").unwrap_or("").to_string();
            body::for_each_part(body, &boundary, |name, value, is_file| {
                if self.field_excluded("body", name) {
                    return false;
                }
                let loc = if is_file { format!("body:{}:filename", name) } else { format!("body:{}", name) };
                if let Some(c) = scanner.scan(value, Some(name), BODY, sc) {
                    rep.add(c, &loc, value);
                }
                false
            });
        } else if mime.starts_with("image/")
            || mime.starts_with("audio/")
            || mime.starts_with("video/")
            || mime.starts_with("font/")
            || matches!(mime, "application/octet-stream" | "application/pdf" | "application/zip" | "application/gzip" | "application/protobuf" | "application/x-protobuf" | "application/wasm")
            || mime.starts_with("application/grpc")
        {
            // Opaque binary: nothing an injection matcher can read.
        } else {
            let text = String::from_utf8_lossy(body);
            let xml = mime.ends_with("/xml") || mime.ends_with("+xml");
            if xml {
                if scanner.on(Category::Xxe) {
                    normalize(cut(&text, self.limits.max_value_bytes), self.limits.max_decode_rounds, sc);
                    if inject::is_xxe(&sc.norm) {
                        rep.add(Category::Xxe, "body", &text);
                        return;
                    }
                }
                // Markup is expected in XML: scan everything but XSS.
                let xml_scanner = Scanner { sens: scanner.sens, enabled: scanner.enabled & !Category::Xss.bit(), limits: scanner.limits };
                if let Some(c) = xml_scanner.scan(&text, None, BODY, sc) {
                    rep.add(c, "body", &text);
                }
            } else if let Some(c) = scanner.scan(&text, None, BODY, sc) {
                rep.add(c, "body", &text);
            }
        }
    }
}

struct JsonSink<'a, 'b, 'l> {
    rule: &'a ShieldRule,
    scanner: &'a Scanner<'l>,
    sc: &'b mut Scratch,
    rep: &'b mut Report,
    /// Whether any `body:$...` exclusion is configured (checked once per
    /// body, not per field).
    json_exclusions: bool,
}

impl<'a, 'b, 'l> JsonSink<'a, 'b, 'l> {
    fn excluded(&self, loc: &dyn Fn() -> String) -> bool {
        if !self.json_exclusions {
            return false;
        }
        let l = loc();
        self.rule.field_excluded("body", &l) || self.rule.exclude_fields.iter().any(|f| f.starts_with("body:$") && l.starts_with(&f[5..]) && l.as_bytes().get(f.len() - 5).map_or(false, |&c| c == b'.' || c == b'['))
    }
}

impl<'a, 'b, 'l> FieldSink for JsonSink<'a, 'b, 'l> {
    fn key(&mut self, loc: &dyn Fn() -> String, key: &str) -> bool {
        if self.excluded(loc) {
            return false;
        }
        if self.scanner.on(Category::NosqlInjection) && (inject::is_nosql_key(key) || (key.starts_with('$') && inject::is_nosql_key(&format!("[{}]", key)))) {
            self.rep.add(Category::NosqlInjection, &format!("body:{}", loc()), key);
        } else if let Some(c) = self.scanner.scan(key, None, BODY, self.sc) {
            self.rep.add(c, &format!("body:{}", loc()), key);
        }
        false
    }

    fn value(&mut self, loc: &dyn Fn() -> String, key: Option<&str>, value: &str) -> bool {
        if self.excluded(loc) {
            return false;
        }
        if let Some(c) = self.scanner.scan(value, key, BODY, self.sc) {
            self.rep.add(c, &format!("body:{}", loc()), value);
        }
        false
    }
}

/// Percent-decodes a path segment once (no `+` rule in paths).
fn percent_once(seg: &str, bytes: &mut Vec<u8>, out: &mut String) {
    normalize::percent_decode_into(seg.as_bytes(), bytes, false);
    normalize::lenient_utf8(bytes, out);
}

fn is_plain_path(p: &str) -> bool {
    p.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'.' | b'~'))
}

/// Removes `.` and `..` segments (RFC 3986 5.2.4) and repeated slashes,
/// with `\` read as `/`: the path an exclusion prefix is compared with.
fn resolve_dots(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let p = p.split(|c| c == '?' || c == '#').next().unwrap_or("");
    let owned = p.replace('\\', "/");
    for seg in owned.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut r = String::from("/");
    r.push_str(&out.join("/"));
    if p.ends_with('/') && r.len() > 1 {
        r.push('/');
    }
    r
}

#[derive(Default)]
struct Report {
    first: Option<(Category, String, String)>,
    count: usize,
    notes: Vec<(&'static str, &'static str)>,
}

impl Report {
    fn add(&mut self, c: Category, location: &str, value: &str) {
        self.count += 1;
        if self.first.is_none() {
            let loc: String = excerpt(location, 64);
            self.first = Some((c, loc, excerpt(value, EXCERPT_CHARS)));
        }
    }

    fn note(&mut self, key: &'static str, value: &'static str) {
        if !self.notes.iter().any(|(k, _)| *k == key) {
            self.notes.push((key, value));
        }
    }

    fn finish(self) -> RuleResult {
        let mut r = String::with_capacity(128);
        r.push_str("{\"type\":\"SHIELD\"");
        let conclusion = match &self.first {
            Some((c, loc, ex)) => {
                r.push_str(",\"category\":");
                json_str(&mut r, c.as_str());
                r.push_str(",\"location\":");
                json_str(&mut r, loc);
                r.push_str(",\"excerpt\":");
                json_str(&mut r, ex);
                r.push_str(",\"suspicious\":true,\"findings\":");
                r.push_str(&self.count.to_string());
                Conclusion::Deny
            }
            None => {
                r.push_str(",\"suspicious\":false");
                Conclusion::Allow
            }
        };
        for (k, v) in &self.notes {
            r.push(',');
            json_str(&mut r, k);
            r.push(':');
            json_str(&mut r, v);
        }
        r.push('}');
        RuleResult::new(conclusion, r)
    }
}
