//! Email address syntax, as mail systems accept it (RFC 5321 / 5322 as used,
//! RFC 6531 for internationalised local parts, UTS #46 for IDN domains).
//!
//! - Exactly one unquoted `@`; the local part is a dot-atom (RFC 5322 `atext`
//!   plus any safe non-ASCII character, RFC 6531) with no leading, trailing
//!   or doubled dot, at most 64 octets (RFC 5321 4.5.3.1.1) once normalised
//!   to NFC.
//! - Quoted local parts (`"john doe"@example.com`) and domain literals
//!   (`user@[192.0.2.1]`) are refused unless enabled: real sign-up forms
//!   almost never see them and they are a favourite of filter-evasion.
//! - The domain is mapped with UTS #46 (non-transitional: `faß.de` stays
//!   `faß.de`), and each label of its ASCII form is LDH, 1..=63 octets, with
//!   no hyphen at either end and no `ab--` prefix but punycode's `xn--`
//!   (RFC 5891 4.2.3.1); at most 253 octets in all. A TLD is required by
//!   default (a dot, and a last label that is not all digits, RFC 3696 2).
//! - The whole address is at most 254 octets (RFC 5321 4.5.3.1.3 with
//!   errata 1690), counted on the normalised form and on its ASCII-domain form.
//! - Unsafe characters are refused anywhere: controls, white space, format
//!   characters (bidi overrides, zero-width joiners), unassigned and private-
//!   use code points, noncharacters, and a combining mark at the start.
//!
//! Work is bounded: input over [`MAX_INPUT_BYTES`] is refused before any
//! parsing.

use unicode_normalization::char::{is_combining_mark, is_public_assigned};
use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

/// Longest input parsed at all, in bytes (an address is at most 254 octets;
/// UTS #46 mapping can shrink a domain, so some slack is allowed).
pub(crate) const MAX_INPUT_BYTES: usize = 1024;
pub(crate) const MAX_ADDRESS: usize = 254;
pub(crate) const MAX_LOCAL: usize = 64;
pub(crate) const MAX_DOMAIN: usize = 253;
pub(crate) const MAX_LABEL: usize = 63;

/// What the syntax accepts beyond the common form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SyntaxOptions {
    pub(crate) allow_quoted_local: bool,
    pub(crate) allow_domain_literal: bool,
    pub(crate) require_tld: bool,
}

impl Default for SyntaxOptions {
    fn default() -> Self {
        SyntaxOptions { allow_quoted_local: false, allow_domain_literal: false, require_tld: true }
    }
}

/// A valid address, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Address {
    /// The local part: NFC, and unquoted when quoting was not needed.
    pub(crate) local: String,
    /// The domain for display: lower case, Unicode (or the literal, bracketed).
    pub(crate) domain: String,
    /// The domain as DNS sees it: ASCII (punycode) labels.
    pub(crate) ascii_domain: String,
    /// Whether the domain is a literal (`[192.0.2.1]`, `[IPv6:...]`).
    pub(crate) literal: bool,
}

impl Address {
    /// The normalised address, `local@domain`.
    pub(crate) fn normalized(&self) -> String {
        let mut s = String::with_capacity(self.local.len() + 1 + self.domain.len());
        s.push_str(&self.local);
        s.push('@');
        s.push_str(&self.domain);
        s
    }
}

/// Why an address is invalid: a short sentence for the rule's reason.
pub(crate) type SyntaxError = String;

const ATEXT: &[u8] = b"!#$%&'*+-/=?^_`{|}~";

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || (c.is_ascii() && ATEXT.contains(&(c as u8)))
}

/// Format characters (Unicode category Cf), which change how text renders
/// without being visible: bidi controls, zero-width joiners, tags...
fn is_format(c: char) -> bool {
    matches!(c as u32,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x890..=0x891 | 0x8E2 | 0x180E
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF
        | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3
        | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F)
}

/// Whether a non-ASCII character may appear in an address at all.
fn unsafe_char(c: char, first: bool) -> bool {
    let n = c as u32;
    c.is_control()
        || c.is_whitespace()
        || is_format(c)
        || !is_public_assigned(c) // unassigned and private-use code points
        || (0xFDD0..=0xFDEF).contains(&n)
        || n & 0xFFFE == 0xFFFE // noncharacters
        || (first && is_combining_mark(c))
}

/// A character for a message: itself when printable ASCII, else `U+XXXX`.
fn shown(c: char) -> String {
    if c.is_ascii_graphic() {
        format!("'{}'", c)
    } else if c == ' ' {
        "space".to_string()
    } else {
        format!("U+{:04X}", c as u32)
    }
}

/// Parses and normalises an address.
pub(crate) fn parse(input: &str, opts: SyntaxOptions) -> Result<Address, SyntaxError> {
    if input.is_empty() {
        return Err("the address is empty".into());
    }
    if input.len() > MAX_INPUT_BYTES {
        return Err(format!("the address is too long ({} bytes, at most {})", input.len(), MAX_ADDRESS));
    }
    if input.trim() != input {
        return Err("the address starts or ends with white space".into());
    }
    if input.starts_with('<') || input.ends_with('>') || (input.contains('<') && input.contains('>')) {
        return Err("give the bare address, without a display name or angle brackets".into());
    }
    let (local_raw, domain_raw, quoted) = split(input, opts)?;
    let local = local_part(local_raw, quoted)?;
    let (domain, ascii_domain, literal) = if domain_raw.starts_with('[') {
        let lit = domain_literal(domain_raw, opts)?;
        (lit.clone(), lit, true)
    } else {
        let (d, a) = domain_name(domain_raw, opts)?;
        (d, a, false)
    };
    let addr = Address { local, domain, ascii_domain, literal };
    let normalized = addr.local.len() + 1 + addr.domain.len();
    let ascii = addr.local.len() + 1 + addr.ascii_domain.len();
    let longest = normalized.max(ascii).max(input.len());
    if longest > MAX_ADDRESS {
        return Err(format!("the address is too long ({} octets, at most {})", longest, MAX_ADDRESS));
    }
    Ok(addr)
}

/// Splits at the `@`: (local part, domain, whether the local part was quoted).
fn split(input: &str, opts: SyntaxOptions) -> Result<(&str, &str, bool), SyntaxError> {
    if input.starts_with('"') {
        if !opts.allow_quoted_local {
            return Err("quoted local parts (\"...\"@) are not accepted".into());
        }
        let bytes = input.as_bytes();
        let mut i = 1;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b'"' => break,
                _ => i += 1,
            }
        }
        if i >= bytes.len() {
            return Err("the quoted local part is not closed".into());
        }
        let rest = &input[i + 1..];
        return match rest.strip_prefix('@') {
            Some(domain) if !domain.contains('@') => Ok((&input[1..i], domain, true)),
            Some(_) => Err("the address has more than one @-sign".into()),
            None => Err("the quoted local part must be followed by the @-sign".into()),
        };
    }
    match input.rfind('@') {
        None if input.contains('\u{FF20}') || input.contains('\u{FE6B}') => {
            Err("the address has a look-alike of the @-sign (full-width or small) instead of @".into())
        }
        None => Err("the address has no @-sign".into()),
        Some(at) => {
            let local = &input[..at];
            if local.contains('@') {
                return Err("the address has more than one @-sign".into());
            }
            if local.contains('"') && !opts.allow_quoted_local {
                return Err("quoted local parts (\"...\"@) are not accepted".into());
            }
            Ok((local, &input[at + 1..], false))
        }
    }
}

fn local_part(raw: &str, quoted: bool) -> Result<String, SyntaxError> {
    if raw.is_empty() && !quoted {
        return Err("there is nothing before the @-sign".into());
    }
    let text = if quoted { unquote(raw)? } else { raw.to_string() };
    if text.is_empty() {
        return Err("the quoted local part is empty".into());
    }
    for (i, c) in text.chars().enumerate() {
        if c.is_ascii() {
            if quoted {
                if !(' '..='~').contains(&c) {
                    return Err(format!("the local part has an invalid character ({})", shown(c)));
                }
            } else if !is_atext(c) && c != '.' {
                return Err(format!("the local part has an invalid character ({})", shown(c)));
            }
        } else if unsafe_char(c, i == 0) {
            return Err(format!("the local part has an unsafe character ({})", shown(c)));
        }
    }
    let text: String = if text.is_ascii() || is_nfc_quick(text.chars()) == IsNormalized::Yes {
        text
    } else {
        text.nfc().collect()
    };
    let dot_atom = is_dot_atom(&text);
    if !quoted && !dot_atom {
        if text.starts_with('.') {
            return Err("the local part starts with a dot".into());
        }
        if text.ends_with('.') {
            return Err("the local part ends with a dot".into());
        }
        return Err("the local part has two dots in a row".into());
    }
    // RFC 5321 4.1.2: send the form that needs the least quoting.
    let local = if dot_atom {
        text
    } else {
        let mut q = String::with_capacity(text.len() + 2);
        q.push('"');
        for c in text.chars() {
            if c == '"' || c == '\\' {
                q.push('\\');
            }
            q.push(c);
        }
        q.push('"');
        q
    };
    if local.len() > MAX_LOCAL {
        return Err(format!("the local part is too long ({} octets, at most {})", local.len(), MAX_LOCAL));
    }
    Ok(local)
}

fn is_dot_atom(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|atom| !atom.is_empty() && atom.chars().all(|c| is_atext(c) || !c.is_ascii()))
}

fn unquote(raw: &str) -> Result<String, SyntaxError> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(e) if (' '..='~').contains(&e) => out.push(e),
                _ => return Err("the quoted local part has an invalid escape".into()),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

fn domain_literal(raw: &str, opts: SyntaxOptions) -> Result<String, SyntaxError> {
    if !opts.allow_domain_literal {
        return Err("domain literals (@[192.0.2.1]) are not accepted".into());
    }
    let inner = raw
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or_else(|| "the domain literal is not closed with ]".to_string())?;
    if let Some(v6) = inner.strip_prefix("IPv6:").or_else(|| inner.strip_prefix("ipv6:")) {
        return match v6.parse::<std::net::Ipv6Addr>() {
            Ok(a) => Ok(format!("[IPv6:{}]", a)),
            Err(_) => Err("the domain literal is not an IPv6 address".into()),
        };
    }
    match inner.parse::<std::net::Ipv4Addr>() {
        Ok(a) => Ok(format!("[{}]", a)),
        Err(_) => Err("the domain literal is not an IPv4 address (IPv6 needs the IPv6: tag)".into()),
    }
}

/// (display form, ASCII form) of a domain name.
fn domain_name(raw: &str, opts: SyntaxOptions) -> Result<(String, String), SyntaxError> {
    if raw.is_empty() {
        return Err("there is nothing after the @-sign".into());
    }
    for (i, c) in raw.chars().enumerate() {
        if c.is_ascii() {
            if !(c.is_ascii_alphanumeric() || c == '-' || c == '.') {
                return Err(format!("the domain has an invalid character ({})", shown(c)));
            }
        } else if unsafe_char(c, i == 0) {
            return Err(format!("the domain has an unsafe character ({})", shown(c)));
        }
    }
    let lower = raw.to_ascii_lowercase();
    let ascii = if !raw.is_ascii() || lower.contains("xn--") {
        idna::Config::default()
            .use_std3_ascii_rules(true)
            .transitional_processing(false)
            .check_hyphens(true)
            .to_ascii(raw)
            .map_err(|_| "the domain is not a valid internationalised domain name (UTS #46)".to_string())?
    } else {
        lower
    };
    check_ascii_domain(&ascii, opts)?;
    let display = if ascii.contains("xn--") {
        let (unicode, result) = idna::Config::default()
            .use_std3_ascii_rules(true)
            .transitional_processing(false)
            .check_hyphens(true)
            .to_unicode(&ascii);
        if result.is_err() {
            return Err("the domain has a label that is not valid punycode".into());
        }
        unicode
    } else {
        ascii.clone()
    };
    Ok((display, ascii))
}

fn check_ascii_domain(d: &str, opts: SyntaxOptions) -> Result<(), SyntaxError> {
    if d.starts_with('.') {
        return Err("the domain starts with a dot".into());
    }
    if d.ends_with('.') {
        return Err("the domain ends with a dot".into());
    }
    if d.contains("..") {
        return Err("the domain has two dots in a row".into());
    }
    if d.len() > MAX_DOMAIN {
        return Err(format!("the domain is too long ({} octets, at most {})", d.len(), MAX_DOMAIN));
    }
    for label in d.split('.') {
        if label.len() > MAX_LABEL {
            return Err(format!("a domain label is too long ({} octets, at most {})", label.len(), MAX_LABEL));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a domain label starts or ends with a hyphen".into());
        }
        let b = label.as_bytes();
        if b.len() >= 4 && b[2] == b'-' && b[3] == b'-' && !label.starts_with("xn--") {
            return Err("a domain label has -- in the third and fourth places (reserved for punycode's xn--)".into());
        }
        if !label.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') {
            return Err("the domain has an invalid character".into());
        }
    }
    if opts.require_tld {
        match d.rsplit_once('.') {
            None => return Err("the domain has no top-level domain (no dot)".into()),
            Some((_, tld)) if tld.bytes().all(|c| c.is_ascii_digit()) => {
                return Err("the top-level domain is all digits".into())
            }
            _ => {}
        }
    }
    Ok(())
}
