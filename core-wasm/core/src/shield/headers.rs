//! Well-known structured request headers, checked against their grammar
//! instead of every matcher.
//!
//! Browsers send `Accept`, `Accept-Language`, `Cache-Control` and the like
//! on every request; frameworks parse them into enumerations and compare
//! them with fixed lists. A value that fits the header's grammar below can
//! hold none of the bytes any attack here needs to break out of a context
//! (quotes, brackets, `<`, `$`, `{`, `|`, `&`, `` ` ``, `\`, `%`, `:` outside
//! a date, CR/LF, spaces inside a word, a parameter without `=`), so it is
//! not scanned; the JNDI and CRLF checks cannot fire on it either. A value
//! that does not fit is scanned like any other header.
//!
//! Work: one pass over at most `MAX_STRUCTURED` bytes.

/// Longer values are scanned in full.
const MAX_STRUCTURED: usize = 1024;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Grammar {
    /// `item *(OWS ";" OWS param)` separated by `,`, where an item is
    /// `token`, `token/token` or `token=token` and a param `token=token`
    /// (`text/html;q=0.9`, `en-GB,en;q=0.8`, `max-age=0, private`,
    /// `u=0, i`).
    List,
    /// An IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`.
    Date,
}

/// Structured headers and their grammars, by lower-case name.
const STRUCTURED: &[(&str, Grammar)] = &[
    ("accept", Grammar::List),
    ("accept-encoding", Grammar::List),
    ("accept-language", Grammar::List),
    ("accept-charset", Grammar::List),
    ("te", Grammar::List),
    ("cache-control", Grammar::List),
    ("pragma", Grammar::List),
    ("connection", Grammar::List),
    ("priority", Grammar::List),
    ("upgrade-insecure-requests", Grammar::List),
    ("dnt", Grammar::List),
    ("if-modified-since", Grammar::Date),
    ("if-unmodified-since", Grammar::Date),
];

/// For each first byte, a bit per length (below 32) of the names in
/// `STRUCTURED` starting with it: most names are ruled out by one load,
/// before any string comparison (a byte loop in Wasm).
const fn structured_lengths() -> [u32; 256] {
    let mut out = [0u32; 256];
    let mut i = 0;
    while i < STRUCTURED.len() {
        let w = STRUCTURED[i].0.as_bytes();
        out[w[0] as usize] |= 1 << w.len();
        i += 1;
    }
    out
}

static STRUCTURED_LENGTHS: [u32; 256] = structured_lengths();

/// The grammar of a structured header, by lower-case name.
pub(crate) fn grammar(name: &str) -> Option<Grammar> {
    let n = name.as_bytes();
    let first = n.first().copied().unwrap_or(0);
    if n.len() >= 32 || STRUCTURED_LENGTHS[first as usize] & (1 << n.len()) == 0 {
        return None;
    }
    STRUCTURED.iter().find(|(k, _)| super::same_bytes(k.as_bytes(), n)).map(|&(_, g)| g)
}

/// Whether `value` fits `g` (and so needs no scan).
pub(crate) fn fits(g: Grammar, value: &str) -> bool {
    let b = value.as_bytes();
    if b.len() > MAX_STRUCTURED {
        return false;
    }
    match g {
        Grammar::List => list(b),
        Grammar::Date => date(b),
    }
}

const fn token_bytes() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = c.is_ascii_alphanumeric() || matches!(c, b'*' | b'+' | b'.' | b'_' | b'-');
        i += 1;
    }
    t
}

static TOKEN_BYTE: [bool; 256] = token_bytes();

fn token_byte(c: u8) -> bool {
    TOKEN_BYTE[c as usize]
}

/// A token at `i`: one or more token bytes, without `..` or `--`. Returns
/// its end.
fn token(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    while j < b.len() && token_byte(b[j]) {
        if j > i && (b[j] == b'.' || b[j] == b'-') && b[j - 1] == b[j] {
            return None;
        }
        j += 1;
    }
    if j > i {
        Some(j)
    } else {
        None
    }
}

fn ows(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
        i += 1;
    }
    i
}

fn list(b: &[u8]) -> bool {
    let n = b.len();
    let mut i = 0;
    loop {
        i = ows(b, i);
        if i == n {
            return true;
        }
        if b[i] == b',' {
            i += 1;
            continue;
        }
        // item
        let mut j = match token(b, i) {
            Some(j) => j,
            None => return false,
        };
        if j < n && (b[j] == b'/' || b[j] == b'=') {
            j = match token(b, j + 1) {
                Some(k) => k,
                None => return false,
            };
        }
        // *( OWS ";" OWS token "=" token )
        loop {
            let k = ows(b, j);
            if k < n && b[k] == b';' {
                let p = ows(b, k + 1);
                let e = match token(b, p) {
                    Some(e) if e < n && b[e] == b'=' => e,
                    _ => return false,
                };
                j = match token(b, e + 1) {
                    Some(v) => v,
                    None => return false,
                };
            } else {
                j = k;
                break;
            }
        }
        if j == n {
            return true;
        }
        if b[j] != b',' {
            return false;
        }
        i = j + 1;
    }
}

fn date(b: &[u8]) -> bool {
    const SHAPE: &[u8; 29] = b"Aaa, 00 Aaa 0000 00:00:00 GMT";
    b.len() == SHAPE.len()
        && b.iter().zip(SHAPE.iter()).all(|(&c, &s)| match s {
            b'A' | b'a' => c.is_ascii_alphabetic(),
            b'0' => c.is_ascii_digit(),
            _ => c == s,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_values_fit() {
        for (name, v) in [
            ("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"),
            ("accept", "*/*"),
            ("accept", "application/json, text/plain, */*"),
            ("accept-language", "en-GB,en;q=0.9,fr;q=0.8"),
            ("accept-encoding", "gzip, deflate, br, zstd"),
            ("cache-control", "max-age=0"),
            ("cache-control", "no-cache, no-store, must-revalidate"),
            ("connection", "keep-alive"),
            ("priority", "u=0, i"),
            ("upgrade-insecure-requests", "1"),
            ("if-modified-since", "Wed, 21 Oct 2015 07:28:00 GMT"),
        ] {
            let g = grammar(name).unwrap();
            assert!(fits(g, v), "{}: {}", name, v);
        }
    }

    #[test]
    fn values_outside_the_grammar_are_scanned() {
        for v in [
            "text/html; id",
            "x;id",
            "${jndi:ldap://x/a}",
            "1 union select 1,2",
            "text/html'--",
            "../../etc/passwd",
            "a\r\nset-cookie: x=1",
            "<script>",
            "en;q=1--",
            "text/html;q=0.9 or 1=1",
            "$(id)",
            "a|b",
        ] {
            assert!(!fits(Grammar::List, v), "{}", v);
        }
        assert!(!fits(Grammar::Date, "Wed, 21 Oct 2015 07:28:00 GMT' or 1=1--"));
        assert_eq!(grammar("user-agent"), None);
        assert_eq!(grammar(""), None);
        for (name, g) in STRUCTURED {
            assert_eq!(grammar(name), Some(*g), "{}", name);
        }
        assert_eq!(grammar("referer"), None);
    }
}
