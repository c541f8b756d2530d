//! Smaller injection families: template injection, JNDI lookups, NoSQL
//! operators, CRLF (header) injection, XML external entities, and suspicious
//! `Content-Type` charsets.
//!
//! Work: each is a single pass; JNDI lookup resolution keeps a stack bounded
//! by `MAX_LOOKUP_DEPTH` and copies each byte at most that many times.


/// Names whose mere use inside a template expression is an attack.
fn template_global(w: &str) -> bool {
    matches!(
        w,
        "config" | "self" | "request" | "settings" | "_self" | "lipsum" | "cycler" | "joiner"
            | "namespace" | "url_for" | "get_flashed_messages" | "constructor" | "application"
            | "session" | "g" | "env" | "_context" | "this" | "$on" | "$eval" | "smarty"
            | "$smarty" | "t" | "class" | "runtime" | "java" | "process" | "global" | "object"
            | "system" | "exec" | "eval" | "require" | "import" | "os" | "subprocess" | "ex"
            | "product" | "out" | "app" | "__class__"
    )
}

/// Calls and names that make a template expression dangerous, anywhere in
/// it.
const CALLS: &[&str] = &[
    "popen", "system", "exec", "eval", "import", "open(", "read(", "getruntime", "forname",
    "constructor", "alert(", "prompt(", "confirm(", "require", "process", "os.", "globals",
    "builtins", "getclass", "class.", "spawn", "readfile", "file_get_contents", "passthru",
    "include", "new ", "invoke", "getmethod", "newinstance", "registerundefinedfiltercallback",
    "getfilter", "setattribute", "getattribute", "lookup", "mro", "subclasses", "dump(",
    "phpinfo", "shell", "cmd", "runtime", "env.", "url_for", "config.",
];

/// For each byte, a bit per entry of `CALLS` starting with it.
const fn call_starts() -> [u64; 256] {
    let mut t = [0u64; 256];
    let mut i = 0;
    while i < CALLS.len() {
        t[CALLS[i].as_bytes()[0] as usize] |= 1 << i;
        i += 1;
    }
    t
}

static CALL_STARTS: [u64; 256] = call_starts();

/// Whether any of `CALLS` occurs in `t`: one pass, comparing at each byte
/// only the entries starting with it (instead of a search per entry).
fn contains_call(t: &[u8]) -> bool {
    for i in 0..t.len() {
        let mut m = CALL_STARTS[t[i] as usize];
        while m != 0 {
            let k = m.trailing_zeros() as usize;
            m &= m - 1;
            if t[i..].starts_with(CALLS[k].as_bytes()) {
                return true;
            }
        }
    }
    false
}

/// Whether the inside of a template delimiter is an expression rather than
/// a plain variable name (`{{name}}`, `${user.name}` are plain).
fn template_expr(inner: &str) -> bool {
    let t = inner.trim().trim_start_matches(|c| c == '=' || c == '-' || c == '#' || c == '!');
    if t.is_empty() {
        return false;
    }
    let b = t.as_bytes();
    let has = |n: &[u8]| super::normalize::find(b, n).is_some();
    if has(b"__") || memchr::memchr(b'`', b).is_some() {
        return true;
    }
    if memchr::memchr3(b'(', b'[', b'.', b).is_some() && contains_call(b) {
        return true;
    }
    // Arithmetic on literals: 7*7, 7*'7', 1+1.
    for (i, &c) in b.iter().enumerate() {
        if matches!(c, b'*' | b'+' | b'-' | b'/' | b'%') && i > 0 {
            let l = b[..i].iter().rev().find(|x| **x != b' ');
            let r = b[i + 1..].iter().find(|x| **x != b' ');
            let lit = |x: Option<&u8>| x.map_or(false, |x| x.is_ascii_digit() || *x == b'\'' || *x == b'"');
            if lit(l) && lit(r) {
                return true;
            }
        }
    }
    // ASCII bytes only: `head` ends on a character boundary.
    let head_len = b.iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'_' || **c == b'$').count();
    let head = &t[..head_len];
    if template_global(head) && (head.len() == t.len() || matches!(b.get(head.len()), Some(b'.') | Some(b'|') | Some(b' '))) {
        return true;
    }
    // Filters and method chains that reach objects: |attr, .getclass, ?new
    has(b"|attr") || has(b".getclass") || has(b"?new") || has(b".forname") || has(b"|map") && has(b"system")
}


/// [`is_ssti`] given the byte classes `m` of `s`. Without any of the other
/// bytes that start a marker or a delimiter (`{<#_$*@~`), only the markers
/// ending in `(` can occur: they are looked for from each `(` alone.
pub(crate) fn is_ssti_classes(s: &str, m: u64) -> bool {
    use super::prefilter::{AT, DOLLAR, HASH, LBRACE, LPAR, LT, STAR, TILDE, UNDERSCORE};
    if m & (LBRACE | LT | HASH | UNDERSCORE | DOLLAR | STAR | AT | TILDE) != 0 {
        return is_ssti(s);
    }
    if m & LPAR == 0 {
        return false;
    }
    let b = s.as_bytes();
    for i in memchr::memchr_iter(b'(', b) {
        let head = &b[..=i];
        if head.ends_with(b"?new(") || head.ends_with(b".getruntime(") {
            return true;
        }
    }
    super::normalize::find(b, b"freemarker.template").is_some()
}

/// Whether `s` (normalised) is a server-side template injection.
pub(crate) fn is_ssti(s: &str) -> bool {
    let b = s.as_bytes();
    // Engine markers, from their first bytes (a search per marker would stop
    // at every `{` of `{{{{...` once per marker), and template delimiters,
    // all in one pass over the bytes that start either.
    const BRACE_MARKERS: [&[u8]; 8] = [b"php}", b"/php}", b"system(", b"exec(", b"passthru(", b"shell_exec(", b"include file=", b"self::"];
    const LT_MARKERS: [&[u8]; 2] = [b"#assign", b"#list"];
    const HASH_MARKERS: [&[u8]; 2] = [b"set(", b"foreach"];
    const UNDER_MARKERS: [&[u8]; 4] = [b"subclasses__", b"globals__", b"builtins__", b"mro__"];
    // An opener's inside ends at its closer, at most 512 bytes on, and at
    // the next opener of the same kind: every byte is inside at most one
    // opener of each kind, so `${${${...` costs one pass, not a 512-byte
    // window per opener. `pending[k]`: where the inside of the last opener
    // of kind `k` starts, judged when the next one is found or at the end.
    let mut pending: [Option<usize>; OPENERS.len()] = [None; OPENERS.len()];
    let mut paren = false;
    let n = b.len();
    for i in 0..n {
        let c = b[i];
        if !SSTI_START[c as usize] {
            continue;
        }
        let rest = &b[i + 1..];
        let d = rest.first().copied().unwrap_or(0);
        // Each marker list is compared only after the byte all its entries
        // start with.
        let markers: &[&[u8]] = match c {
            b'{' if matches!(d, b'p' | b'/' | b's' | b'e' | b'i') => &BRACE_MARKERS,
            b'<' if d == b'#' => &LT_MARKERS,
            b'#' if matches!(d, b's' | b'f') => &HASH_MARKERS,
            b'_' if d == b'_' => {
                if UNDER_MARKERS.iter().any(|m| rest[1..].starts_with(m)) {
                    return true;
                }
                continue;
            }
            b'(' => {
                // Markers ending in `(`, looked for back from it.
                paren = true;
                let head = &b[..=i];
                if head.ends_with(b"?new(") || head.ends_with(b".getruntime(") {
                    return true;
                }
                continue;
            }
            _ => &[],
        };
        if markers.iter().any(|m| rest.starts_with(m)) {
            return true;
        }
        let k = match opener_kind(c, d) {
            Some(k) => k,
            None => continue,
        };
        match pending[k] {
            // Openers of one kind do not overlap (`{{{{` is two).
            Some(st) if i < st => continue,
            Some(st) => {
                if template_at(s, k, st, Some(i)) {
                    return true;
                }
            }
            None => {}
        }
        pending[k] = Some(i + 2);
    }
    if paren && super::normalize::find(b, b"freemarker.template").is_some() {
        return true;
    }
    for (k, p) in pending.iter().enumerate() {
        if let Some(st) = *p {
            if template_at(s, k, st, None) {
                return true;
            }
        }
    }
    false
}

/// Bytes that start a marker or a delimiter in [`is_ssti`].
const fn ssti_starts() -> [bool; 256] {
    let mut t = [false; 256];
    let starts = b"{<#_($*@~";
    let mut i = 0;
    while i < starts.len() {
        t[starts[i] as usize] = true;
        i += 1;
    }
    t
}

static SSTI_START: [bool; 256] = ssti_starts();

/// Template delimiters (opener, closer), all openers two bytes.
const OPENERS: [(&str, &str); 10] = [
    ("{{", "}}"),
    ("${", "}"),
    ("#{", "}"),
    ("*{", "}"),
    ("@{", "}"),
    ("~{", "}"),
    ("<%", "%>"),
    ("{%", "%}"),
    ("@(", ")"),
    ("{$", "}"),
];

/// The index in `OPENERS` of the opener `ab`.
fn opener_kind(a: u8, b: u8) -> Option<usize> {
    Some(match (a, b) {
        (b'{', b'{') => 0,
        (b'$', b'{') => 1,
        (b'#', b'{') => 2,
        (b'*', b'{') => 3,
        (b'@', b'{') => 4,
        (b'~', b'{') => 5,
        (b'<', b'%') => 6,
        (b'{', b'%') => 7,
        (b'@', b'(') => 8,
        (b'{', b'$') => 9,
        _ => return None,
    })
}

/// Whether the opener of kind `k` whose inside starts at `start` holds a
/// template expression; `next` is the next opener of the same kind.
fn template_at(s: &str, k: usize, start: usize, next: Option<usize>) -> bool {
    let (open, close) = OPENERS[k];
    let mut limit = s.len().min(start + 512);
    while !s.is_char_boundary(limit) {
        limit -= 1;
    }
    let stop = next.map_or(limit, |q| q.min(limit));
    let window = &s[start..stop];
    let (inner, closed) = match super::normalize::find(window.as_bytes(), close.as_bytes()) {
        // `close` is ASCII: `q` is a character boundary.
        Some(q) => (&window[..q], true),
        // Unclosed before the end or the next opener: still counts (a
        // truncated or nested expression).
        None if stop == s.len() || next == Some(stop) => (window, false),
        None => return false,
    };
    if open == "<%" && closed && (inner.starts_with('=') || inner.starts_with(' ') || inner.starts_with('@') || inner.starts_with('-')) {
        return true;
    }
    template_expr(inner)
}

const MAX_LOOKUP_DEPTH: usize = 16;

/// Resolves Log4j-style lookups the way Log4j 2 does (`${lower:j}` → `j`,
/// `${::-j}` and `${env:X:-j}` → `j`, `${date:'j'}` → `j`) and reports
/// whether a `jndi:` lookup results (also unterminated or too deep).
pub(crate) fn is_jndi(s: &str) -> bool {
    let b = s.as_bytes();
    if super::normalize::find(b, b"${").is_none() {
        return false;
    }
    if super::normalize::find(b, b"${jndi:").is_some() {
        return true;
    }
    let mut stack: Vec<String> = vec![String::new()];
    let mut i = 0;
    let mut depth_over = 0usize;
    let chars: Vec<char> = s.chars().collect();
    while i < chars.len() {
        let c = chars[i];
        if c == '$' && i + 1 < chars.len() && chars[i + 1] == '{' {
            if stack.len() > MAX_LOOKUP_DEPTH {
                depth_over += 1;
            } else {
                stack.push(String::new());
            }
            i += 2;
            continue;
        }
        if c == '}' && depth_over > 0 {
            depth_over -= 1;
            i += 1;
            continue;
        }
        if c == '}' && stack.len() > 1 {
            let inner = stack.pop().unwrap_or_default();
            if inner.starts_with("jndi:") || inner.starts_with("jndi") && inner.len() > 4 && inner.as_bytes()[4] == b':' {
                return true;
            }
            let resolved: String = if let Some(p) = inner.find(":-") {
                inner[p + 2..].to_string()
            } else if let Some(rest) = inner.strip_prefix("lower:").or_else(|| inner.strip_prefix("upper:")) {
                rest.to_string()
            } else if let Some(rest) = inner.strip_prefix("date:") {
                rest.trim_matches('\'').to_string()
            } else {
                format!("${{{}}}", inner)
            };
            if let Some(top) = stack.last_mut() {
                top.push_str(&resolved);
            }
            i += 1;
            continue;
        }
        if let Some(top) = stack.last_mut() {
            if top.len() < 4096 {
                top.push(c);
            }
        }
        for level in stack.iter().skip(1) {
            if level.starts_with("jndi:") {
                return true;
            }
        }
        i += 1;
    }
    stack.iter().skip(1).any(|l| l.starts_with("jndi:") || l.starts_with("jndi"))
}

/// MongoDB query and aggregation operators.
fn mongo_op(w: &[u8]) -> bool {
    matches!(
        w,
        b"ne" | b"eq" | b"gt" | b"gte" | b"lt" | b"lte" | b"in" | b"nin" | b"regex" | b"where"
            | b"exists" | b"or" | b"and" | b"not" | b"nor" | b"expr" | b"elemmatch" | b"all"
            | b"size" | b"type" | b"mod" | b"text" | b"function" | b"accumulator" | b"jsonschema"
            | b"lookup" | b"match" | b"group" | b"project" | b"unionwith" | b"out" | b"merge"
            | b"options" | b"search" | b"comment" | b"addfields" | b"set" | b"unset"
    )
}

/// Whether a JSON or form key is a Mongo operator (`$ne`, `user[$ne]`).
pub(crate) fn is_nosql_key(key: &str) -> bool {
    let b = key.as_bytes();
    // Keys are short: a plain loop costs less than `memchr`'s set-up.
    if !b.iter().any(|&c| c == b'$') {
        return false;
    }
    let mut i = 0;
    while let Some(p) = memchr::memchr(b'$', &b[i..]) {
        let at = i + p;
        let prev = if at > 0 { b[at - 1] } else { b'[' };
        let mut j = at + 1;
        while j < b.len() && b[j].is_ascii_alphabetic() {
            j += 1;
        }
        let word = key[at + 1..j].to_ascii_lowercase();
        if matches!(prev, b'[' | b'.' | b'"' | b'\'') && mongo_op(word.as_bytes()) && (j == b.len() || matches!(b[j], b']' | b'"' | b'\'' | b'.')) {
            return true;
        }
        i = at + 1;
    }
    false
}

/// Whether `s` (normalised) carries Mongo operators or `$where` JavaScript.
#[cfg(test)]
pub(crate) fn is_nosql(s: &str) -> bool {
    is_nosql_classes(s, super::prefilter::classes(s.as_bytes()))
}

/// [`is_nosql`] given the byte classes `m` of `s`: each form is looked for
/// only when its bytes occur.
pub(crate) fn is_nosql_classes(s: &str, m: u64) -> bool {
    use super::prefilter::{DOLLAR, DOT, DQUOTE, LPAR, SEMI, SQUOTE};
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(p) = if m & DOLLAR != 0 { memchr::memchr(b'$', &b[i..]) } else { None } {
        let at = i + p;
        i = at + 1;
        let prev = if at > 0 { b[at - 1] } else { b'{' };
        if !matches!(prev, b'{' | b'[' | b'"' | b'\'' | b',' | b' ' | b'.' | b'\t') {
            continue;
        }
        let mut j = at + 1;
        while j < b.len() && b[j].is_ascii_alphabetic() {
            j += 1;
        }
        if !mongo_op(&b[at + 1..j]) {
            continue;
        }
        let mut k = j;
        if k < b.len() && matches!(b[k], b'"' | b'\'' | b']') {
            k += 1;
        }
        while k < b.len() && b[k] == b' ' {
            k += 1;
        }
        if k < b.len() && (matches!(b[k], b':' | b'=') || (k > j && b[k - 1] == b']')) || (k == b.len() && k > j && b[k - 1] == b']') {
            return true;
        }
    }
    // $where JavaScript: properties of `this` (`this.password`,
    // `tojson(this)`, `keys(this`), `db.` calls. Every form has a `(` or a
    // `.` next to the word, so only those bytes are visited.
    for d in memchr::memchr2_iter(b'.', b'(', if m & (DOT | LPAR) != 0 { b } else { &[] }) {
        if b[d] == b'(' {
            if b[d + 1..].starts_with(b"this") {
                let p = d + 1;
                if b[p + 4..].starts_with(b")") && b[..p].ends_with(b"tojson(") || b[..p].ends_with(b"keys(") {
                    return true;
                }
            }
            continue;
        }
        let r = &b[d + 1..];
        if d >= 4 && &b[d - 4..d] == b"this" {
            for m in ["password", "passwd", "username", "user", "email", "token", "role", "isadmin", "secret", "constructor", "__proto__"] {
                if r.starts_with(m.as_bytes()) {
                    return true;
                }
            }
        }
        if d >= 2 && &b[d - 2..d] == b"db" {
            let p = d - 2;
            if (p == 0 || !b[p - 1].is_ascii_alphanumeric()) && (r.starts_with(b"getcollection") || r.starts_with(b"users.") || r.starts_with(b"collection")) {
                return true;
            }
        }
    }
    for p in memchr::memchr_iter(b';', if m & SEMI != 0 { b } else { &[] }) {
        let after = s[p + 1..].trim_start();
        if after.starts_with("return true") || after.starts_with("return 1") || after.starts_with("return(true") {
            return true;
        }
    }
    // `'||'1'=='1`, `' || 1==1//`, `'; return true; var x='`, `';while(true){}'`
    for q in memchr::memchr2_iter(b'\'', b'"', if m & (SQUOTE | DQUOTE) != 0 { b } else { &[] }) {
        let rest = s[q + 1..].trim_start();
        let rb = rest.as_bytes();
        if rest.starts_with("||") || rest.starts_with("&&") {
            // 48 bytes, which may end inside a character: bytes, not a str.
            let w = &rb[..rb.len().min(48)];
            let has = |n: &[u8]| super::normalize::find(w, n).is_some();
            if has(b"==") || has(b"!=") || has(b"true") && memchr::memchr(b'=', w).is_none() {
                return true;
            }
        }
        if rb.first() == Some(&b';') {
            let after = rest[1..].trim_start();
            for w in ["return ", "return(", "while(", "while (", "sleep(", "var ", "let ", "this.", "function(", "for(", "for (", "throw ", "db."] {
                if after.starts_with(w) {
                    return true;
                }
            }
        }
    }
    false
}

/// Whether `s` (decoded, lower case) injects a header or a body via CR/LF:
/// a line break followed by `Name:` or by a second line break.
pub(crate) fn is_crlf(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(p) = memchr::memchr2(b'\r', b'\n', &b[i..]) {
        let mut j = i + p;
        let mut breaks = 0;
        while j < b.len() && matches!(b[j], b'\r' | b'\n') {
            if b[j] == b'\n' {
                breaks += 1;
            }
            j += 1;
        }
        if breaks >= 2 && j < b.len() {
            return true;
        }
        while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
            j += 1;
        }
        let start = j;
        while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'-' || b[j] == b'_') && j - start < 64 {
            j += 1;
        }
        if j > start && b[start].is_ascii_alphabetic() {
            let mut k = j;
            while k < b.len() && b[k] == b' ' {
                k += 1;
            }
            if k < b.len() && b[k] == b':' && !b[k + 1..].starts_with(b"//") {
                return true;
            }
        }
        i = j.max(i + p + 1);
    }
    false
}

/// Whether `s` (normalised) declares XML entities or external DTDs, or uses
/// XInclude.
pub(crate) fn is_xxe(s: &str) -> bool {
    let b = s.as_bytes();
    if memchr::memchr(b'<', b).is_none() {
        return false;
    }
    if super::normalize::find(b, b"xmlns:xi=").is_some() {
        return true;
    }
    // Each `<!doctype` declaration runs to the next `>`. Declarations
    // without a `>` between them share their end, and each is a suffix of
    // the first of them: the last position of each pattern before that end,
    // found once, answers "does this declaration contain it" for all of
    // them (`<!doctype<!doctype...` would otherwise re-read the rest of the
    // value from each).
    const PATTERNS: [&[u8]; 6] = [b"[", b" system", b"\tsystem", b"\nsystem", b"public", b"w3.org"];
    let mut group: Option<(usize, [Option<usize>; 6])> = None;
    for lt in memchr::memchr_iter(b'<', b) {
        let rest = &b[lt + 1..];
        if rest.starts_with(b"!entity") || rest.starts_with(b"xi:include") {
            return true;
        }
        if !rest.starts_with(b"!doctype") {
            continue;
        }
        let start = lt + 9;
        let last = match group {
            Some((end, last)) if start <= end => last,
            _ => {
                let end = memchr::memchr(b'>', &b[start..]).map_or(b.len(), |q| start + q);
                let decl = &b[start..end];
                let mut last = [None; 6];
                for (l, pat) in last.iter_mut().zip(PATTERNS.iter()) {
                    *l = super::normalize::rfind(decl, pat).map(|q| start + q);
                }
                group = Some((end, last));
                last
            }
        };
        let has = |k: usize| last[k].map_or(false, |q| q >= start);
        if has(0) || has(1) || has(2) || has(3) || (has(4) && !has(5)) {
            return true;
        }
    }
    false
}

/// Whether a `Content-Type` value is a known WAF-bypass shape: two charset
/// parameters, a charset outside the usual ones (`ibm037`, `utf-7`, ...),
/// or two `boundary` parameters.
pub(crate) fn is_odd_content_type(ct: &str, sens: u8) -> bool {
    let lower = ct.to_ascii_lowercase();
    let mut charsets = 0;
    let mut boundaries = 0;
    for part in lower.split(';').skip(1) {
        let part = part.trim();
        let (k, v) = match part.find('=') {
            Some(p) => (part[..p].trim(), part[p + 1..].trim().trim_matches('"')),
            None => (part, ""),
        };
        if k == "charset" {
            charsets += 1;
            let ok = matches!(
                v,
                "utf-8" | "utf8" | "us-ascii" | "ascii" | "iso-8859-1" | "iso8859-1" | "latin1"
                    | "latin-1" | "windows-1252" | "cp1252" | "iso-8859-15" | "iso-8859-2"
                    | "windows-1250" | "windows-1251" | "koi8-r" | "shift_jis" | "euc-jp"
                    | "euc-kr" | "gb2312" | "gbk" | "gb18030" | "big5" | "iso-2022-jp"
                    | "utf-16" | "utf-16le" | "utf-16be" | "iso-8859-9" | "windows-1256"
            );
            if !ok {
                return true;
            }
        } else if k == "boundary" {
            boundaries += 1;
        }
    }
    charsets > 1 || boundaries > 1 || (sens >= 3 && lower.split(';').next().map_or(false, |t| t.contains(',')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opener_kinds_match_the_table() {
        for (k, (open, _)) in OPENERS.iter().enumerate() {
            let o = open.as_bytes();
            assert_eq!(opener_kind(o[0], o[1]), Some(k), "{}", open);
            assert!(SSTI_START[o[0] as usize], "{}", open);
        }
        assert_eq!(opener_kind(b'{', b'x'), None);
        for m in ["{php}", "{/php}", "{system('id')}", "{exec(x)}", "{passthru(x)}", "{shell_exec(x)}", "{include file='x'}", "{self::x}", "<#assign x>", "<#list x>", "#set($a=1)", "#foreach($x in $y)", "''.__subclasses__", "x.__globals__", "__builtins__", "a.__mro__"] {
            assert!(is_ssti(m), "{}", m);
        }
    }

    #[test]
    fn templates() {
        for s in ["{{7*7}}", "${7*7}", "<%= 7*7 %>", "#{7*7}", "{{''.__class__.__mro__}}", "{{config.items()}}", "{{self}}"] {
            assert!(is_ssti(s), "{}", s);
        }
        for s in ["hello {{name}}", "${home}/bin", "{{user.name}}", "a {b} c", "#{hashtag}"] {
            assert!(!is_ssti(s), "{}", s);
        }
    }

    #[test]
    fn jndi_obfuscations() {
        for s in [
            "${jndi:ldap://x/a}",
            "${${lower:j}ndi:ldap://x/a}",
            "${${::-j}${::-n}${::-d}${::-i}:rmi://x/a}",
            "${${env:nan:-j}ndi${env:nan:-:}ldap://x}",
            "${j${lower:n}di:dns://x}",
        ] {
            assert!(is_jndi(s), "{}", s);
        }
        assert!(!is_jndi("${home}"));
    }

    #[test]
    fn nosql_forms() {
        assert!(is_nosql_key("user[$ne]"));
        assert!(is_nosql_key("$where"));
        assert!(!is_nosql_key("price$"));
        for s in ["{\"$ne\": null}", "[$regex]=.*", "' || '1'=='1", "'; return true; var x='"] {
            assert!(is_nosql(s), "{}", s);
        }
        assert!(!is_nosql("it costs $5 or $10"));
    }

    #[test]
    fn crlf_and_xxe() {
        assert!(is_crlf("x\r\nset-cookie: a=b"));
        assert!(!is_crlf("line one\nline two"));
        assert!(is_xxe("<!doctype x [<!entity y system \"file:///etc/passwd\">]>"));
        assert!(!is_xxe("<!doctype html><html></html>"));
        assert!(is_odd_content_type("application/json; charset=ibm037", 2));
        assert!(is_odd_content_type("text/plain; charset=utf-8; charset=utf-7", 2));
        assert!(!is_odd_content_type("application/json; charset=UTF-8", 2));
    }
}
