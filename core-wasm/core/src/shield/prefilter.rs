//! The per-value first pass: one table-driven scan that records which
//! classes of bytes a value holds, from which the scanner decides which
//! matchers can possibly fire on it. A matcher whose necessary bytes are
//! absent is not run, and a value no matcher can fire on is not copied,
//! lower-cased or normalised at all.
//!
//! Every gate below is a *necessary* condition read off the matcher's own
//! code (each matcher returns false early without those bytes), so gating
//! never changes a verdict; `tests::prefilter_gates_are_necessary` checks
//! that on every corpus line and variations of them.
//!
//! Work: one pass over the value, one table load and an OR per byte (and
//! a search for `..` when the value holds a dot).

use super::Category;

pub(crate) const SQUOTE: u64 = 1 << 0;
pub(crate) const DQUOTE: u64 = 1 << 1;
pub(crate) const BTICK: u64 = 1 << 2;
pub(crate) const SEMI: u64 = 1 << 3;
pub(crate) const PIPE: u64 = 1 << 4;
pub(crate) const AMP: u64 = 1 << 5;
pub(crate) const DOLLAR: u64 = 1 << 6;
pub(crate) const LT: u64 = 1 << 7;
pub(crate) const GT: u64 = 1 << 8;
pub(crate) const LPAR: u64 = 1 << 9;
pub(crate) const RPAR: u64 = 1 << 10;
pub(crate) const LBRACE: u64 = 1 << 11;
pub(crate) const RBRACE: u64 = 1 << 12;
pub(crate) const PCT: u64 = 1 << 13;
pub(crate) const BSLASH: u64 = 1 << 14;
pub(crate) const SLASH: u64 = 1 << 15;
pub(crate) const DOT: u64 = 1 << 16;
pub(crate) const COLON: u64 = 1 << 17;
pub(crate) const HASH: u64 = 1 << 18;
pub(crate) const DASH: u64 = 1 << 19;
pub(crate) const EQ: u64 = 1 << 20;
pub(crate) const STAR: u64 = 1 << 21;
pub(crate) const PLUS: u64 = 1 << 22;
pub(crate) const AT: u64 = 1 << 23;
pub(crate) const BANG: u64 = 1 << 24;
pub(crate) const TILDE: u64 = 1 << 25;
pub(crate) const CR: u64 = 1 << 26;
pub(crate) const LF: u64 = 1 << 27;
/// The space character itself (not tab): `+`-as-space and "wordy" values
/// are defined on it.
pub(crate) const SP: u64 = 1 << 28;
/// Tab, vertical tab, form feed.
pub(crate) const WS: u64 = 1 << 29;
pub(crate) const COMMA: u64 = 1 << 30;
pub(crate) const UNDERSCORE: u64 = 1 << 31;
pub(crate) const QMARK: u64 = 1 << 32;
pub(crate) const LBRACK: u64 = 1 << 33;
pub(crate) const RBRACK: u64 = 1 << 34;
pub(crate) const CARET: u64 = 1 << 35;
pub(crate) const ALPHA: u64 = 1 << 36;
pub(crate) const DIGIT: u64 = 1 << 37;
pub(crate) const NUL: u64 = 1 << 38;
/// Other control characters (and DEL).
pub(crate) const CTRL: u64 = 1 << 39;
/// Any byte >= 0x80.
pub(crate) const NONASCII: u64 = 1 << 40;
/// Not a byte class: two consecutive dots somewhere (`..`).
pub(crate) const DOTDOT: u64 = 1 << 41;

const fn class_of(c: u8) -> u64 {
    match c {
        b'\'' => SQUOTE,
        b'"' => DQUOTE,
        b'`' => BTICK,
        b';' => SEMI,
        b'|' => PIPE,
        b'&' => AMP,
        b'$' => DOLLAR,
        b'<' => LT,
        b'>' => GT,
        b'(' => LPAR,
        b')' => RPAR,
        b'{' => LBRACE,
        b'}' => RBRACE,
        b'%' => PCT,
        b'\\' => BSLASH,
        b'/' => SLASH,
        b'.' => DOT,
        b':' => COLON,
        b'#' => HASH,
        b'-' => DASH,
        b'=' => EQ,
        b'*' => STAR,
        b'+' => PLUS,
        b'@' => AT,
        b'!' => BANG,
        b'~' => TILDE,
        b'\r' => CR,
        b'\n' => LF,
        b' ' => SP,
        b'\t' | 0x0b | 0x0c => WS,
        b',' => COMMA,
        b'_' => UNDERSCORE,
        b'?' => QMARK,
        b'[' => LBRACK,
        b']' => RBRACK,
        b'^' => CARET,
        b'a'..=b'z' | b'A'..=b'Z' => ALPHA,
        b'0'..=b'9' => DIGIT,
        0 => NUL,
        0x80..=0xff => NONASCII,
        _ => CTRL,
    }
}

const fn build() -> [u64; 256] {
    let mut t = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = class_of(i as u8);
        i += 1;
    }
    t
}

static TABLE: [u64; 256] = build();

/// The classes of the bytes in `b`, plus [`DOTDOT`].
pub(crate) fn classes(b: &[u8]) -> u64 {
    let mut m = 0u64;
    // Eight look-ups per loop step: Wasm pays for every loop step.
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        m |= TABLE[c[0] as usize]
            | TABLE[c[1] as usize]
            | TABLE[c[2] as usize]
            | TABLE[c[3] as usize]
            | TABLE[c[4] as usize]
            | TABLE[c[5] as usize]
            | TABLE[c[6] as usize]
            | TABLE[c[7] as usize];
    }
    for &c in chunks.remainder() {
        m |= TABLE[c as usize];
    }
    if m & DOT != 0 && has_dot_pair(b) {
        m |= DOTDOT;
    }
    m
}

/// Whether `b` holds `..`: eight bytes at a time (a `memchr` per dot costs
/// more than the pass when dots are many, as in version numbers and
/// addresses).
fn has_dot_pair(b: &[u8]) -> bool {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const DOTS: u64 = 0x2e2e_2e2e_2e2e_2e2e;
    let mut last_dot = false;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let x = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) ^ DOTS;
        // The high bit of each byte that is zero in `x` (a dot in `b`),
        // exactly: no carry crosses a byte.
        let dots = !(((x & LOW7) + LOW7) | x) & HIGH;
        if dots & (dots >> 8) != 0 || (last_dot && dots & 0x80 != 0) {
            return true;
        }
        last_dot = dots >> 63 != 0;
    }
    for &c in chunks.remainder() {
        let dot = c == b'.';
        if dot && last_dot {
            return true;
        }
        last_dot = dot;
    }
    false
}

/// Classes of a "plain" value (letters, digits, `_.-`, no `..`): such a
/// value skips every matcher (see `Scanner::scan`).
pub(crate) const PLAIN: u64 = ALPHA | DIGIT | UNDERSCORE | DASH | DOT;
/// Classes of a "wordy" value (plain plus spaces and commas): only SQL.
pub(crate) const WORDY: u64 = PLAIN | SP | COMMA;

/// Whether every class in `m` is in `allowed`, and there is no `..`.
pub(crate) fn only(m: u64, allowed: u64) -> bool {
    m & !allowed == 0
}

fn any(m: u64, bits: u64) -> bool {
    m & bits != 0
}

/// Bytes that end a segment in `path::sensitive`: a value without any of
/// them (and without a separator) can only be a sensitive name as a whole.
const FI_DELIMS: u64 = SLASH | BSLASH | QMARK | HASH | SP | SQUOTE | DQUOTE | LPAR | RPAR | EQ | COMMA | AMP | SEMI | PIPE | LT | GT;

/// The categories (as `Category::bit`s) whose matcher can fire on a
/// normalised value with classes `m`, at sensitivity `sens`. Each line is
/// the matcher's own early exit; see the module documentation.
pub(crate) fn possible(m: u64, sens: u8) -> u32 {
    let mut out = 0u32;
    let mut set = |c: Category, on: bool| {
        if on {
            out |= c.bit();
        }
    };
    // `${`.
    set(Category::Jndi, (m & (DOLLAR | LBRACE)) == (DOLLAR | LBRACE));
    // `<!entity`, `<!doctype`, `<xi:include`.
    set(Category::Xxe, any(m, LT));
    // A line break.
    set(Category::Crlf, any(m, CR | LF));
    // `$op`, `;return`, quote breakouts, `this.`/`db.`/`keys(this`.
    set(Category::NosqlInjection, any(m, DOLLAR | SEMI | SQUOTE | DQUOTE) || (any(m, DOT | LPAR) && any(m, ALPHA)));
    // Delimiters `{`, `<%`, `#set(`, `__dunder__`, and the `(`-gated
    // markers `?new(`, `.getruntime(`, `freemarker.template`, `@(`.
    set(Category::TemplateInjection, any(m, LBRACE | LT | HASH | UNDERSCORE) || (any(m, LPAR) && any(m, QMARK | DOT | AT)));
    // A separator, `$`, or `/dev/tcp/`.
    set(Category::CommandInjection, any(m, SEMI | PIPE | AMP | BTICK | DOLLAR | CR | LF | LT | GT | SLASH));
    // Without letters the lexer can only produce numbers, plain words,
    // arithmetic, `)`, `,` and unknowns, which classify as nothing; the
    // other bytes below start strings, comments, variables, `&&`/`||`,
    // `;` statements or `(`.
    set(
        Category::SqlInjection,
        any(m, ALPHA | NONASCII | SQUOTE | DQUOTE | BTICK | AT | PIPE | AMP | HASH | DASH | SEMI | LPAR | SLASH),
    );
    // Tags, handlers (`=`), schemes (`:`), script breakouts, and CSS: `(`
    // after `expression` after one of `:="'{`, or `-moz-binding` (`-`).
    set(
        Category::Xss,
        any(m, LT | EQ | COLON)
            || (any(m, LPAR) && any(m, DASH | SQUOTE | DQUOTE | LBRACE))
            || (sens >= 2 && any(m, SQUOTE | DQUOTE | BTICK)),
    );
    set(Category::PathTraversal, any(m, DOTDOT));
    // UNC `\\`, `<?php`, wrappers and URLs (`:`), sensitive paths (a
    // separator, or the whole value being a name).
    set(Category::FileInclusion, any(m, BSLASH | LT | COLON | SLASH) || !any(m, FI_DELIMS));
    // `//host` or `scheme:/`, `scheme:\`.
    set(Category::Ssrf, any(m, SLASH) || (any(m, COLON) && any(m, BSLASH)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_cover_case_and_pairs() {
        assert_eq!(classes(b"Ab"), ALPHA);
        assert_eq!(classes(b"a..b") & DOTDOT, DOTDOT);
        assert_eq!(classes(b"a.b.c") & DOTDOT, 0);
        assert!(only(classes(b"report-2024_v1.pdf"), PLAIN));
        assert!(!only(classes(b"a b"), PLAIN));
        assert!(only(classes(b"a b, c"), WORDY));
    }

    #[test]
    fn classes_match_a_byte_by_byte_reading() {
        // Every length around the 8-byte steps, dots and pairs at every
        // position, and pseudo-random bytes.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut cases: Vec<Vec<u8>> = Vec::new();
        for len in 0..40 {
            for pos in 0..len {
                let mut v = vec![b'a'; len];
                v[pos] = b'.';
                cases.push(v.clone());
                if pos + 1 < len {
                    v[pos + 1] = b'.';
                    cases.push(v.clone());
                }
            }
            for _ in 0..50 {
                let v: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        [b'.', b'a', b'/', 0xae, b'%', b'\\', 0, 0xff][(seed % 8) as usize]
                    })
                    .collect();
                cases.push(v);
            }
        }
        for v in &cases {
            let mut want = v.iter().fold(0u64, |m, &c| m | TABLE[c as usize]);
            if v.windows(2).any(|w| w == b"..") {
                want |= DOTDOT;
            }
            assert_eq!(classes(v), want, "{:?}", v);
        }
    }
}
