//! Splitting a body (or a query string) into the fields an application sees:
//! `application/x-www-form-urlencoded` pairs, JSON keys and string values
//! with their paths, `multipart/form-data` text fields.
//!
//! Work limits: the JSON walker is a single pass over the bytes that keeps a
//! path stack of at most `Limits::max_json_depth` frames (deeper values are
//! still scanned, with the path cut short as `…`); it tolerates a truncated
//! prefix and invalid JSON. Form and multipart splitting are single passes.

use super::normalize::{lenient_utf8, percent_decode_into};

/// A field found in a body: its name (or JSON path) and its value.
pub(crate) trait FieldSink {
    /// A key (form name, JSON object key). Returns true to stop.
    fn key(&mut self, loc: &dyn Fn() -> String, key: &str) -> bool;
    /// A value. Returns true to stop.
    fn value(&mut self, loc: &dyn Fn() -> String, key: Option<&str>, value: &str) -> bool;
}

/// Form-decodes one `application/x-www-form-urlencoded` component.
pub(crate) fn form_decode<'a>(raw: &'a str, bytes: &mut Vec<u8>, out: &'a mut String) -> &'a str {
    if !raw.bytes().any(|c| c == b'%' || c == b'+') {
        return raw;
    }
    percent_decode_into(raw.as_bytes(), bytes, true);
    lenient_utf8(bytes, out);
    out
}

/// Splits a query string or form body into decoded (key, value) pairs and
/// hands them to `f`, at most `max` pairs. Returns whether pairs were left
/// out because of `max`.
pub(crate) fn for_each_pair(raw: &str, max: usize, mut f: impl FnMut(&str, &str) -> bool) -> bool {
    let mut bytes = Vec::new();
    let mut kbuf = String::new();
    let mut vbuf = String::new();
    let mut n = 0;
    for pair in raw.split('&') {
        if pair.is_empty() {
            continue;
        }
        if n == max {
            return true;
        }
        n += 1;
        let (k, v) = match pair.find('=') {
            Some(p) => (&pair[..p], &pair[p + 1..]),
            None => (pair, ""),
        };
        let k = form_decode(k, &mut bytes, &mut kbuf);
        let v = form_decode(v, &mut bytes, &mut vbuf);
        if f(k, v) {
            return false;
        }
    }
    false
}

enum Seg {
    /// A key, as the byte range of its raw (still escaped) text.
    Key(usize, usize),
    Index(usize),
}

struct Frame {
    array: bool,
    index: usize,
    expect_key: bool,
}

fn render(body: &[u8], path: &[Seg], overflow: usize) -> String {
    let mut out = String::from("$");
    let mut raw = Vec::new();
    let mut text = String::new();
    for s in path {
        match s {
            Seg::Key(a, b) => {
                out.push('.');
                json_string(&body[..*b], *a, &mut raw);
                lenient_utf8(&raw, &mut text);
                let short: String = text.chars().take(32).collect();
                out.push_str(&short);
            }
            Seg::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    if overflow > 0 {
        out.push_str(".…");
    }
    out
}

/// Decodes a JSON string starting after its opening quote at `i`. Returns
/// the index after the closing quote (or the end).
fn json_string(b: &[u8], mut i: usize, out: &mut Vec<u8>) -> usize {
    out.clear();
    while i < b.len() {
        let c = b[i];
        if c == b'"' {
            return i + 1;
        }
        if c == b'\\' && i + 1 < b.len() {
            let e = b[i + 1];
            i += 2;
            match e {
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'b' => out.push(8),
                b'f' => out.push(12),
                b'u' if i + 4 <= b.len() => {
                    let hex = std::str::from_utf8(&b[i..i + 4]).ok().and_then(|h| u32::from_str_radix(h, 16).ok());
                    i += 4;
                    let mut cp = hex.unwrap_or(0xfffd);
                    if (0xd800..0xdc00).contains(&cp) && i + 6 <= b.len() && b[i] == b'\\' && b[i + 1] == b'u' {
                        if let Some(lo) = std::str::from_utf8(&b[i + 2..i + 6]).ok().and_then(|h| u32::from_str_radix(h, 16).ok()) {
                            if (0xdc00..0xe000).contains(&lo) {
                                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                                i += 6;
                            }
                        }
                    }
                    let ch = char::from_u32(cp).unwrap_or('\u{fffd}');
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                other => out.push(other),
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
    i
}

/// The first `"` or `\` in `b`, eight bytes per step. JSON strings are
/// mostly short: `memchr2`'s set-up per call costs more than the search
/// in Wasm, where it reads four bytes per step.
fn quote_or_backslash(b: &[u8]) -> Option<usize> {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const QUOTES: u64 = 0x2222_2222_2222_2222;
    const SLASHES: u64 = 0x5c5c_5c5c_5c5c_5c5c;
    // The high bit of each zero byte of `x`, exactly (no carry crosses a
    // byte), so the lowest set bit is the first match.
    let zeros = |x: u64| !(((x & LOW7) + LOW7) | x) & HIGH;
    let mut chunks = b.chunks_exact(8);
    let mut at = 0;
    for c in &mut chunks {
        let x = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        let hit = zeros(x ^ QUOTES) | zeros(x ^ SLASHES);
        if hit != 0 {
            return Some(at + hit.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    chunks.remainder().iter().position(|&c| c == b'"' || c == b'\\').map(|p| at + p)
}

/// Walks JSON (possibly truncated or invalid), reporting every key and
/// string value with its path.
pub(crate) fn walk_json(body: &[u8], max_depth: usize, sink: &mut dyn FieldSink) {
    let mut frames: Vec<Frame> = Vec::new();
    let mut path: Vec<Seg> = Vec::new();
    let mut overflow = 0usize;
    let mut raw = Vec::new();
    let mut text = String::new();
    // The valid UTF-8 prefix of the body (all of it, unless the body is
    // not UTF-8 or was cut inside a character): strings inside it without
    // escapes are handed out as slices, not copied.
    let valid = match std::str::from_utf8(body) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&body[..e.valid_up_to()]).unwrap_or(""),
    };
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        match c {
            b'{' | b'[' => {
                if frames.len() >= max_depth {
                    overflow += 1;
                } else {
                    let array = c == b'[';
                    frames.push(Frame { array, index: 0, expect_key: !array });
                    if array {
                        path.push(Seg::Index(0));
                    }
                }
                i += 1;
            }
            b'}' | b']' => {
                if overflow > 0 {
                    overflow -= 1;
                } else if frames.pop().is_some() {
                    while path.len() > frames.len() {
                        path.pop();
                    }
                }
                i += 1;
            }
            b',' => {
                if overflow == 0 {
                    let depth = frames.len();
                    if let Some(f) = frames.last_mut() {
                        if f.array {
                            f.index += 1;
                            if let Some(Seg::Index(ix)) = path.last_mut() {
                                *ix = f.index;
                            }
                        } else {
                            f.expect_key = true;
                            while path.len() >= depth && depth > 0 {
                                path.pop();
                            }
                        }
                    }
                }
                i += 1;
            }
            b'"' => {
                let start = i + 1;
                let plain_end = match quote_or_backslash(&body[start..]) {
                    Some(p) if body[start + p] == b'"' && start + p <= valid.len() => Some(start + p),
                    _ => None,
                };
                let (end, value): (usize, &str) = match plain_end {
                    Some(e) => {
                        i = e + 1;
                        (e, &valid[start..e])
                    }
                    None => {
                        i = json_string(body, start, &mut raw);
                        lenient_utf8(&raw, &mut text);
                        (if i > start && body[i - 1] == b'"' { i - 1 } else { i }, &text)
                    }
                };
                let text = value;
                let is_key = overflow == 0 && frames.last().map_or(false, |f| !f.array && f.expect_key);
                if is_key {
                    let depth = frames.len();
                    if let Some(f) = frames.last_mut() {
                        f.expect_key = false;
                    }
                    while path.len() >= depth {
                        path.pop();
                    }
                    path.push(Seg::Key(start, end));
                    let p = &path;
                    if sink.key(&|| render(body, p, overflow), text) {
                        return;
                    }
                } else {
                    // The field name as written (escapes left as they are).
                    let key = match path.last() {
                        Some(Seg::Key(a, b)) if *b <= valid.len() => Some(&valid[*a..*b]),
                        Some(Seg::Key(a, b)) => std::str::from_utf8(&body[*a..*b]).ok(),
                        _ => None,
                    };
                    let p = &path;
                    if sink.value(&|| render(body, p, overflow), key, text) {
                        return;
                    }
                }
            }
            _ => i += 1,
        }
    }
}

/// The value of a `name=value` parameter in a header such as
/// `Content-Type` or `Content-Disposition`.
pub(crate) fn header_param<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    for part in header.split(';').skip(1) {
        let part = part.trim();
        if let Some(p) = part.find('=') {
            if part[..p].trim().eq_ignore_ascii_case(name) {
                return Some(part[p + 1..].trim().trim_matches('"'));
            }
        }
    }
    None
}

/// Splits a `multipart/form-data` body and reports text fields (name,
/// value) and the file names of file parts. File contents are not reported.
pub(crate) fn for_each_part(body: &[u8], boundary: &str, mut f: impl FnMut(&str, &str, bool) -> bool) {
    if boundary.is_empty() {
        return;
    }
    let delim = format!("--{}", boundary);
    let finder = memchr::memmem::Finder::new(delim.as_bytes());
    let positions: Vec<usize> = finder.find_iter(body).collect();
    let mut text = String::new();
    for w in 0..positions.len() {
        let start = positions[w] + delim.len();
        let end = positions.get(w + 1).copied().unwrap_or(body.len());
        if start >= end {
            continue;
        }
        let part = &body[start..end];
        if part.starts_with(b"--") {
            break;
        }
        let head_end = super::normalize::find(part, b"\r\n\r\n").map(|p| (p, p + 4)).or_else(|| super::normalize::find(part, b"\n\n").map(|p| (p, p + 2)));
        let (he, cs) = match head_end {
            Some(x) => x,
            None => continue,
        };
        let head = String::from_utf8_lossy(&part[..he]);
        let mut content = &part[cs..];
        if content.ends_with(b"\r\n") {
            content = &content[..content.len() - 2];
        } else if content.ends_with(b"\n") {
            content = &content[..content.len() - 1];
        }
        let mut name = "";
        let mut filename: Option<&str> = None;
        let mut ctype = "";
        for line in head.lines() {
            let line = line.trim();
            let lower_start = line.get(..20).map(|s| s.to_ascii_lowercase()).unwrap_or_else(|| line.to_ascii_lowercase());
            if lower_start.starts_with("content-disposition") {
                name = header_param(line, "name").unwrap_or("");
                filename = header_param(line, "filename");
            } else if lower_start.starts_with("content-type") {
                ctype = line.splitn(2, ':').nth(1).unwrap_or("").trim();
            }
        }
        if let Some(fname) = filename {
            if f(name, fname, true) {
                return;
            }
            continue;
        }
        let ct = ctype.to_ascii_lowercase();
        if !(ct.is_empty() || ct.starts_with("text/") || ct.contains("json") || ct.contains("xml")) {
            continue;
        }
        lenient_utf8(content, &mut text);
        if f(name, &text, false) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Collect(Vec<String>);
    impl FieldSink for Collect {
        fn key(&mut self, loc: &dyn Fn() -> String, key: &str) -> bool {
            self.0.push(format!("K {} {}", loc(), key));
            false
        }
        fn value(&mut self, loc: &dyn Fn() -> String, _key: Option<&str>, value: &str) -> bool {
            self.0.push(format!("V {} {}", loc(), value));
            false
        }
    }

    #[test]
    fn json_paths() {
        let mut c = Collect(Vec::new());
        walk_json(br#"{"a":{"b":["x","y"]},"c":"z\u0041","d":[{"e":"f"}]}"#, 32, &mut c);
        assert_eq!(
            c.0,
            vec!["K $.a a", "K $.a.b b", "V $.a.b[0] x", "V $.a.b[1] y", "K $.c c", "V $.c zA", "K $.d d", "K $.d[0].e e", "V $.d[0].e f"]
        );
    }

    #[test]
    fn quote_or_backslash_finds_the_first_of_either() {
        for len in 0..40 {
            for pos in 0..=len {
                for (a, b) in [(b'"', b'\\'), (b'\\', b'"'), (b'"', b'"')] {
                    let mut v = vec![b'a'; len];
                    if pos < len {
                        v[pos] = a;
                        for (k, c) in v.iter_mut().enumerate().skip(pos + 1) {
                            if k % 3 == 0 {
                                *c = b;
                            }
                        }
                    }
                    // Bytes next to the two in value: '!' (0x21), '#' (0x23), '[' (0x5b), ']' (0x5d), and high bytes.
                    for (k, c) in v.iter_mut().enumerate().take(pos) {
                        *c = [b'!', b'#', b'[', b']', 0xa2, 0xdc, 0][k % 7];
                    }
                    let want = v.iter().position(|&c| c == b'"' || c == b'\\');
                    assert_eq!(quote_or_backslash(&v), want, "{:?}", v);
                }
            }
        }
    }

    #[test]
    fn deep_json_is_bounded() {
        let mut body = "[".repeat(100_000);
        body.push_str("\"deep\"");
        let mut c = Collect(Vec::new());
        walk_json(body.as_bytes(), 32, &mut c);
        assert_eq!(c.0.len(), 1);
        assert!(c.0[0].contains("deep"));
    }

    #[test]
    fn multipart_fields() {
        let body = b"--xx\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello\r\n--xx\r\nContent-Disposition: form-data; name=\"f\"; filename=\"../x.php\"\r\nContent-Type: application/octet-stream\r\n\r\nBIN\r\n--xx--\r\n";
        let mut got = Vec::new();
        for_each_part(body, "xx", |n, v, file| {
            got.push(format!("{} {} {}", n, v, file));
            false
        });
        assert_eq!(got, vec!["a hello false", "f ../x.php true"]);
    }
}
