//! Normalisation: turning a value into what the application (or the browser,
//! or the shell) would finally see, before any matcher looks at it.
//!
//! Work limits: every function here is a single linear pass over its input;
//! repeated decoding is bounded by `Limits::max_decode_rounds`, so a value of
//! `n` bytes costs at most `O(rounds * n)`.

use unicode_normalization::UnicodeNormalization;

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn push_char_utf8(out: &mut Vec<u8>, c: char) {
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

/// One round of percent-decoding (`%XX` and IIS-style `%uXXXX`) into `out`.
/// With `plus_as_space`, `+` becomes a space (query strings and forms).
/// Returns whether anything was decoded.
pub(crate) fn percent_decode_into(src: &[u8], out: &mut Vec<u8>, plus_as_space: bool) -> bool {
    out.clear();
    out.reserve(src.len());
    let mut changed = false;
    let mut i = 0;
    while i < src.len() {
        let b = src[i];
        if b == b'%' {
            if i + 2 < src.len() {
                if let (Some(h), Some(l)) = (hex_val(src[i + 1]), hex_val(src[i + 2])) {
                    out.push(h << 4 | l);
                    i += 3;
                    changed = true;
                    continue;
                }
            }
            if i + 5 < src.len() && (src[i + 1] == b'u' || src[i + 1] == b'U') {
                let mut v: u32 = 0;
                let mut ok = true;
                for k in 0..4 {
                    match hex_val(src[i + 2 + k]) {
                        Some(h) => v = v << 4 | h as u32,
                        None => {
                            ok = false;
                            break;
                        }
                    }
                }
                if ok {
                    push_char_utf8(out, char::from_u32(v).unwrap_or('\u{fffd}'));
                    i += 6;
                    changed = true;
                    continue;
                }
            }
            out.push(b);
        } else if b == b'+' && plus_as_space {
            out.push(b' ');
            changed = true;
        } else {
            out.push(b);
        }
        i += 1;
    }
    changed
}

/// Decodes bytes as UTF-8 leniently into `out`: overlong encodings of a code
/// point (`C0 AE` for `.`, `E0 80 AF` for `/`) are decoded to that code point,
/// a lone `A0` byte (Latin-1 no-break space) becomes a space, and any other
/// invalid byte becomes U+FFFD.
pub(crate) fn lenient_utf8(src: &[u8], out: &mut String) {
    out.clear();
    if let Ok(s) = std::str::from_utf8(src) {
        out.push_str(s);
        return;
    }
    let cont = |b: Option<&u8>| b.map_or(false, |b| b & 0xc0 == 0x80);
    let mut i = 0;
    while i < src.len() {
        let b = src[i];
        if b < 0x80 {
            out.push(b as char);
            i += 1;
            continue;
        }
        let (len, init) = if b & 0xe0 == 0xc0 {
            (2, (b & 0x1f) as u32)
        } else if b & 0xf0 == 0xe0 {
            (3, (b & 0x0f) as u32)
        } else if b & 0xf8 == 0xf0 {
            (4, (b & 0x07) as u32)
        } else {
            (0, 0)
        };
        if len == 0 || i + len > src.len() || !(1..len).all(|k| cont(src.get(i + k))) {
            out.push(if b == 0xa0 { ' ' } else { '\u{fffd}' });
            i += 1;
            continue;
        }
        let mut v = init;
        for k in 1..len {
            v = v << 6 | (src[i + k] & 0x3f) as u32;
        }
        out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
        i += len;
    }
}

/// Named HTML character references that matter for attacks (and the common
/// harmless ones), as browsers decode them.
fn named_entity(name: &str) -> Option<char> {
    Some(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "tab" => '\t',
        "newline" => '\n',
        "colon" => ':',
        "semi" => ';',
        "lpar" => '(',
        "rpar" => ')',
        "sol" => '/',
        "bsol" => '\\',
        "comma" => ',',
        "period" => '.',
        "excl" => '!',
        "num" => '#',
        "dollar" => '$',
        "percnt" => '%',
        "lsqb" | "lbrack" => '[',
        "rsqb" | "rbrack" => ']',
        "lcub" | "lbrace" => '{',
        "rcub" | "rbrace" => '}',
        "grave" => '`',
        "equals" => '=',
        "plus" => '+',
        "ast" | "midast" => '*',
        "hyphen" | "dash" => '-',
        "lowbar" => '_',
        "quest" => '?',
        "commat" => '@',
        "vert" | "verbar" => '|',
        "Tab" => '\t',
        "NewLine" => '\n',
        _ => return None,
    })
}

/// One round of HTML character-reference decoding (`&lt;`, `&#60;`,
/// `&#x3c;`, with or without `;`). Returns whether anything was decoded.
pub(crate) fn entity_decode_into(src: &str, out: &mut String) -> bool {
    out.clear();
    out.reserve(src.len());
    let b = src.as_bytes();
    let mut changed = false;
    let mut last = 0;
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'&', &b[i..]) {
        let amp = i + off;
        let mut j = amp + 1;
        let mut decoded: Option<char> = None;
        if j < b.len() && b[j] == b'#' {
            j += 1;
            let hex = j < b.len() && (b[j] == b'x' || b[j] == b'X');
            if hex {
                j += 1;
            }
            let start = j;
            let mut v: u32 = 0;
            while j < b.len() && j - start < 12 {
                let d = if hex { hex_val(b[j]).map(u32::from) } else { (b[j] as char).to_digit(10) };
                match d {
                    Some(d) => v = v.saturating_mul(if hex { 16 } else { 10 }).saturating_add(d),
                    None => break,
                }
                j += 1;
            }
            if j > start {
                decoded = Some(match char::from_u32(v) {
                    Some('\0') | None => '\u{fffd}',
                    Some(c) => c,
                });
            }
        } else {
            let start = j;
            while j < b.len() && j - start < 10 && b[j].is_ascii_alphabetic() {
                j += 1;
            }
            if j > start {
                decoded = named_entity(&src[start..j]);
            }
        }
        match decoded {
            Some(c) => {
                if j < b.len() && b[j] == b';' {
                    j += 1;
                }
                out.push_str(&src[last..amp]);
                out.push(c);
                last = j;
                changed = true;
                i = j;
            }
            None => i = amp + 1,
        }
        if i >= b.len() {
            break;
        }
    }
    out.push_str(&src[last..]);
    changed
}

/// Reusable buffers for normalisation, so that scanning many values of one
/// request does not allocate per value.
#[derive(Default)]
pub(crate) struct Scratch {
    pub(crate) bytes: Vec<u8>,
    pub(crate) a: String,
    pub(crate) b: String,
    pub(crate) norm: String,
    pub(crate) alt: String,
    pub(crate) view: String,
    pub(crate) toks: Vec<u16>,
    /// Values of this request already found clean.
    pub(crate) clean: super::CleanValues,
}

/// Normalises `value` into `scratch.norm`: repeated percent- and entity-
/// decoding (at most `rounds` rounds), lenient UTF-8 (overlong forms), NFKC (full-width and compatibility forms), a few look-alike
/// characters, and lower case.
pub(crate) fn normalize(value: &str, rounds: usize, scratch: &mut Scratch) {
    let Scratch { bytes, a, b, norm, .. } = scratch;
    let needs = value.bytes().any(|c| c == b'%' || c == b'&');
    if !needs {
        finish(value, norm);
        return;
    }
    a.clear();
    a.push_str(value);
    for _ in 0..rounds.max(1) {
        let mut changed = false;
        if a.as_bytes().contains(&b'%') && percent_decode_into(a.as_bytes(), bytes, false) {
            lenient_utf8(bytes, b);
            std::mem::swap(a, b);
            changed = true;
        }
        if a.as_bytes().contains(&b'&') && entity_decode_into(a, b) {
            std::mem::swap(a, b);
            changed = true;
        }
        if !changed {
            break;
        }
    }
    finish(a, norm);
}

fn finish(a: &str, norm: &mut String) {
    if a.is_ascii() {
        lower_ascii_into(a, norm);
        return;
    }
    norm.clear();
    for c in a.nfkc() {
        let c = match c {
            '\u{3002}' | '\u{ff61}' => '.',
            '\u{2215}' | '\u{2044}' => '/',
            '\u{02bc}' => '\'',
            '\u{560a}' => '\n',
            '\u{560d}' => '\r',
            c => c,
        };
        if c.is_ascii() {
            norm.push(c.to_ascii_lowercase());
        } else {
            for l in c.to_lowercase() {
                norm.push(l);
            }
        }
    }
}

/// The ASCII letters of eight bytes lower-cased (other bytes unchanged).
#[inline]
fn lower8(x: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low = x & LOW7;
    // Per byte, no carry across bytes (at most 0x7f + 0x3f): the high bit
    // says `>= 'A'`, then `> 'Z'`; bytes with their own high bit set are
    // not ASCII and stay as they are.
    let at_least_a = low + 0x3f3f_3f3f_3f3f_3f3f;
    let above_z = low + 0x2525_2525_2525_2525;
    let upper = at_least_a & !above_z & !x & HIGH;
    x | (upper >> 2)
}

/// Copies `src` into `out` with ASCII letters lower-cased, eight bytes per
/// step (`make_ascii_lowercase` and the copy before it are two byte loops
/// in Wasm, most of a short value's cost).
pub(crate) fn lower_ascii_into(src: &str, out: &mut String) {
    let mut bytes = std::mem::take(out).into_bytes();
    bytes.clear();
    bytes.reserve(src.len());
    let mut chunks = src.as_bytes().chunks_exact(8);
    for c in &mut chunks {
        let x = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        bytes.extend_from_slice(&lower8(x).to_le_bytes());
    }
    for &c in chunks.remainder() {
        bytes.push(c.to_ascii_lowercase());
    }
    *out = match String::from_utf8(bytes) {
        Ok(s) => s,
        // Not reached: changing the case of ASCII letters keeps UTF-8 valid.
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
}

/// Finds a short constant `needle` in `hay`: `memchr` on its first byte,
/// then a comparison. Cheaper than building a `memmem::Finder` per call for
/// the short needles and values here; `O(len(hay) * len(needle))` at worst,
/// and needles are at most a few dozen bytes.
pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut at = 0;
    while at + needle.len() <= hay.len() {
        let p = at + memchr::memchr(first, &hay[at..hay.len() - needle.len() + 1])?;
        if &hay[p..p + needle.len()] == needle {
            return Some(p);
        }
        at = p + 1;
    }
    None
}

/// The last position of a short constant `needle` in `hay`: [`find`] from
/// the end (`memrchr` on its first byte, then a comparison).
pub(crate) fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    if needle.len() > hay.len() {
        return None;
    }
    let mut end = hay.len() - needle.len() + 1;
    while let Some(p) = memchr::memrchr(first, &hay[..end]) {
        if &hay[p..p + needle.len()] == needle {
            return Some(p);
        }
        end = p;
    }
    None
}

/// Every (possibly overlapping) position of `needle` in `hay`.
pub(crate) fn find_iter<'a>(hay: &'a [u8], needle: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    let mut at = 0;
    std::iter::from_fn(move || {
        let p = at + find(&hay[at.min(hay.len())..], needle)?;
        at = p + 1;
        Some(p)
    })
}

/// Whether a value can hold no attack at all: ASCII letters, digits, `_`,
/// `.` and `-` only. Such values skip every matcher.
pub(crate) fn is_plain(value: &str) -> bool {
    value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        && find(value.as_bytes(), b"..").is_none()
}

/// A short, safe excerpt of a value for a reason: at most `max` characters,
/// control characters escaped, runs of one character longer than four cut
/// with `…`.
pub(crate) fn excerpt(value: &str, max: usize) -> String {
    let mut out = String::new();
    let mut n = 0;
    let mut prev: Option<char> = None;
    let mut run = 0;
    for c in value.chars() {
        if Some(c) == prev {
            run += 1;
        } else {
            run = 1;
            prev = Some(c);
        }
        if run > 4 {
            if run == 5 {
                // The `…` counts against `max` like any character: with no
                // room left after it, it ends the excerpt too.
                out.push('…');
                n += 1;
                if n > max - 1 {
                    return out;
                }
            }
            continue;
        }
        let piece: String = match c {
            '\n' => "\\n".into(),
            '\r' => "\\r".into(),
            '\t' => "\\t".into(),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => format!("\\x{:02x}", c as u32),
            c => c.to_string(),
        };
        let w = piece.chars().count();
        if n + w > max - 1 {
            out.push('…');
            return out;
        }
        out.push_str(&piece);
        n += w;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        let mut sc = Scratch::default();
        normalize(s, 4, &mut sc);
        sc.norm
    }

    #[test]
    fn repeated_percent_encoding_is_decoded_up_to_the_limit() {
        assert_eq!(norm("%2527"), "'");
        assert_eq!(norm("%252527"), "'");
        assert_eq!(norm("%25252525252527"), "%252527");
    }

    #[test]
    fn iis_unicode_and_overlong_utf8_are_decoded() {
        assert_eq!(norm("%u003cscript"), "<script");
        assert_eq!(norm("%c0%ae%c0%ae%c0%af"), "../");
        assert_eq!(norm("%e0%80%ae"), ".");
    }

    #[test]
    fn html_entities_are_decoded_with_or_without_semicolon() {
        assert_eq!(norm("&lt;a&gt;&#x3C;&#60&#0000106;&colon;"), "<a><<j:");
        assert_eq!(norm("AT&T &copy; &amp;lt;"), "at&t &copy; <");
    }

    #[test]
    fn full_width_forms_fold_to_ascii() {
        assert_eq!(norm("ＳＥＬＥＣＴ＜ｓｃｒｉｐｔ＞"), "select<script>");
    }

    #[test]
    fn excerpts_are_short_and_escaped() {
        assert_eq!(excerpt("a\r\nb", 40), "a\\r\\nb");
        assert_eq!(excerpt("aaaaaaaaaaaab", 40), "aaaa…b");
        assert!(excerpt(&"ab".repeat(100), 40).chars().count() <= 40);
    }

    #[test]
    fn a_run_cut_at_the_limit_counts_against_it() {
        // 35 characters, a run (4 kept + `…` = 40), then more.
        let v = format!("<script>alert(1)</script>abcdefghij{}x", "/".repeat(8));
        let e = excerpt(&v, 40);
        assert_eq!(e.chars().count(), 40, "{}", e);
        assert!(e.ends_with("////…"), "{}", e);
        let e = excerpt(r#"<base href="javascript:/a/-alert(1)///////">"#, 40);
        assert!(e.chars().count() <= 40, "{}", e);
        for len in 30..50 {
            for run in 4..9 {
                let v = format!("{}{}yz", "ab".repeat(len / 2), "/".repeat(run));
                assert!(excerpt(&v, 40).chars().count() <= 40, "{}", v);
            }
        }
    }

    #[test]
    fn lower_ascii_into_matches_the_standard_library() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut out = String::new();
        for len in 0..48 {
            for _ in 0..200 {
                let s: String = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        ['A', 'Z', 'a', 'z', '@', '[', '`', '{', 'é', 'É', 'Ａ', '\u{7f}', '\0', 'M', '5'][(seed % 15) as usize]
                    })
                    .collect();
                lower_ascii_into(&s, &mut out);
                assert_eq!(out, s.to_ascii_lowercase(), "{:?}", s);
            }
        }
        for b in 0u8..=127 {
            let s = (b as char).to_string().repeat(9);
            lower_ascii_into(&s, &mut out);
            assert_eq!(out, s.to_ascii_lowercase(), "{}", b);
        }
    }

    #[test]
    fn rfind_finds_the_last_occurrence() {
        assert_eq!(rfind(b"abcabc", b"bc"), Some(4));
        assert_eq!(rfind(b"abcabc", b"abc"), Some(3));
        assert_eq!(rfind(b"abcab", b"bc"), Some(1));
        assert_eq!(rfind(b"ab", b"abc"), None);
        assert_eq!(rfind(b"", b"a"), None);
        assert_eq!(rfind(b"aaa", b"aa"), Some(1));
    }
}
