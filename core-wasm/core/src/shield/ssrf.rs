//! Server-side request forgery: URLs whose host is internal.
//!
//! Internal means loopback, unspecified, private (RFC 1918), link-local,
//! unique-local IPv6, IPv4-mapped forms of those, cloud metadata endpoints
//! (`169.254.169.254`, `metadata.google.internal`, `100.100.100.200`,
//! `fd00:ec2::254`), `localhost` and names that resolve to loopback by design
//! (`localtest.me`, `*.nip.io` with an internal address). IPv4 hosts are read
//! the way `inet_aton` reads them, so `2130706433`, `0x7f000001`,
//! `0177.0.0.1` and `127.1` are all `127.0.0.1`.
//!
//! Where: by default only values that are a URL (start with `scheme://` or
//! `//`), and then every URL inside them (`http://x/redirect?to=http://127.0.0.1`);
//! at sensitivity 3 and above, URLs anywhere in the value. Both readings of
//! `user@host` confusion (`http://127.0.0.1:80@evil.com`) are checked.
//!
//! Work: one pass; each URL's authority is read once.

use std::net::Ipv6Addr;

/// Parses a dotted IPv4 host as `inet_aton` does (1 to 4 parts, each
/// decimal, `0x` hex or leading-zero octal; the last part fills the rest).
pub(crate) fn parse_ipv4(host: &str) -> Option<u32> {
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() {
        return None;
    }
    let mut parts = [0u64; 4];
    let mut n = 0;
    for p in host.split('.') {
        if n == 4 || p.is_empty() {
            return None;
        }
        let v = if let Some(h) = p.strip_prefix("0x") {
            if h.is_empty() {
                0
            } else if h.len() > 8 || !h.bytes().all(|c| c.is_ascii_hexdigit()) {
                return None;
            } else {
                u64::from_str_radix(h, 16).ok()?
            }
        } else if p.len() > 1 && p.starts_with('0') {
            if p.len() > 12 || !p.bytes().all(|c| (b'0'..=b'7').contains(&c)) {
                return None;
            }
            u64::from_str_radix(p, 8).ok()?
        } else {
            if p.len() > 10 || !p.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            p.parse::<u64>().ok()?
        };
        parts[n] = v;
        n += 1;
    }
    let mut ip: u64 = 0;
    for (i, &v) in parts[..n - 1].iter().enumerate() {
        if v > 255 {
            return None;
        }
        ip |= v << (24 - 8 * i);
    }
    let last = parts[n - 1];
    let room = 32 - 8 * (n as u64 - 1);
    if room < 64 && last >> room != 0 {
        return None;
    }
    Some((ip | last) as u32)
}

pub(crate) fn internal_v4(ip: u32, sens: u8) -> bool {
    let a = ip >> 24;
    let b = (ip >> 16) & 0xff;
    a == 0
        || a == 127
        || a == 10
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 169 && b == 254)
        || ip == 0x6464_64c8 // 100.100.100.200, Alibaba Cloud metadata
        || ip == 0xa83f_8110 // 168.63.129.16, Azure wire server
        || ip == 0xffff_ffff
        || (sens >= 3 && ((a == 100 && (64..128).contains(&b)) || (a == 198 && (b == 18 || b == 19)) || a >= 224))
}

fn internal_v6(ip: Ipv6Addr, sens: u8) -> bool {
    let s = ip.segments();
    if ip.is_loopback() || ip.is_unspecified() {
        return true;
    }
    if let Some(v4) = ip.to_ipv4() {
        // ::a.b.c.d and ::ffff:a.b.c.d
        if s[0..5].iter().all(|&x| x == 0) {
            return internal_v4(u32::from(v4), sens);
        }
    }
    if s[0] == 0x64 && s[1] == 0xff9b {
        return internal_v4((s[6] as u32) << 16 | s[7] as u32, sens);
    }
    (s[0] & 0xffc0) == 0xfe80 || (s[0] & 0xfe00) == 0xfc00 || (s[0] == 0xfd00 && s[1] == 0x0ec2)
}

fn internal_name(host: &str, sens: u8) -> bool {
    let h = host.strip_suffix('.').unwrap_or(host);
    if matches!(
        h,
        "localhost" | "localhost.localdomain" | "ip6-localhost" | "ip6-loopback" | "metadata"
            | "metadata.google.internal" | "metadata.goog" | "instance-data"
            | "instance-data.ec2.internal" | "kubernetes.default" | "kubernetes.default.svc"
            | "kubernetes.default.svc.cluster.local" | "localtest.me" | "lvh.me" | "vcap.me"
            | "lacolhost.com" | "127.0.0.1.nip.io" | "spoofed.burpcollaborator.net"
    ) {
        return true;
    }
    for suffix in [".localhost", ".localtest.me", ".lvh.me", ".vcap.me", ".internal", ".svc.cluster.local"] {
        if h.ends_with(suffix) {
            return true;
        }
    }
    if sens >= 3 && (h.ends_with(".local") || h.ends_with(".lan") || h.ends_with(".intranet") || h.ends_with(".corp")) {
        return true;
    }
    // Wildcard DNS services: 127.0.0.1.nip.io, 10-0-0-1.sslip.io, 7f000001.nip.io
    for suffix in [".nip.io", ".xip.io", ".sslip.io", ".traefik.me", ".localh.st"] {
        if let Some(prefix) = h.strip_suffix(suffix) {
            let last = prefix.rsplit(|c| c == '.' || c == '-').take(4).collect::<Vec<_>>();
            let cand: String = if prefix.contains('-') {
                prefix.rsplit('.').next().unwrap_or("").replace('-', ".")
            } else {
                let _ = last;
                prefix.to_string()
            };
            let tail: Vec<&str> = cand.rsplit('.').take(4).collect();
            let dotted: String = tail.iter().rev().cloned().collect::<Vec<_>>().join(".");
            if let Some(ip) = parse_ipv4(&dotted) {
                if internal_v4(ip, sens) {
                    return true;
                }
            }
            if cand.len() == 8 {
                if let Ok(ip) = u32::from_str_radix(&cand, 16) {
                    if internal_v4(ip, sens) {
                        return true;
                    }
                }
            }
        }
    }
    false
}

/// Whether a host (no port, lower case) is internal.
pub(crate) fn internal_host(host: &str, sens: u8) -> bool {
    let host = host.trim();
    if host.is_empty() {
        return false;
    }
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.trim_end_matches(']');
        let inner = inner.split('%').next().unwrap_or(inner);
        return inner.parse::<Ipv6Addr>().map_or(false, |ip| internal_v6(ip, sens));
    }
    if host.contains(':') {
        return host.split('%').next().unwrap_or(host).parse::<Ipv6Addr>().map_or(false, |ip| internal_v6(ip, sens));
    }
    if let Some(ip) = parse_ipv4(host) {
        return internal_v4(ip, sens);
    }
    internal_name(host, sens)
}

fn strip_port(hp: &str) -> &str {
    if hp.starts_with('[') {
        return match hp.find(']') {
            Some(p) => &hp[..=p],
            None => hp,
        };
    }
    match hp.rfind(':') {
        Some(p) if hp[p + 1..].bytes().all(|c| c.is_ascii_digit()) => &hp[..p],
        _ => hp,
    }
}

/// Checks the authority starting at `at` (just after `//`).
fn authority_internal(s: &str, at: usize, sens: u8) -> bool {
    let rest = &s[at..];
    let end = rest.find(|c: char| matches!(c, '/' | '\\' | '?' | '#' | ' ' | '\t' | '\n' | '\r' | '"' | '\'' | '<' | '>')).unwrap_or(rest.len());
    let auth = &rest[..end];
    let after_at = match auth.rfind('@') {
        Some(p) => &auth[p + 1..],
        None => auth,
    };
    if internal_host(strip_port(after_at), sens) {
        return true;
    }
    if let Some(p) = auth.find('@') {
        let before = &auth[..p];
        let before = before.rsplit(':').last().map_or(before, |_| before);
        if internal_host(strip_port(before), sens) || internal_host(before.split(':').next().unwrap_or(""), sens) {
            return true;
        }
    }
    false
}

/// Whether `s` (normalised) is, or at sensitivity 3+ contains, a URL with an
/// internal host.
pub(crate) fn is_ssrf(s: &str, sens: u8) -> bool {
    let t = s.trim_start();
    let offset = s.len() - t.len();
    let b = t.as_bytes();
    let starts_url = t.starts_with("//") || {
        let mut i = 0;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'+' | b'-' | b'.')) {
            i += 1;
        }
        i > 0 && i + 1 < b.len() && b[i] == b':' && (b[i + 1] == b'/' || b[i + 1] == b'\\')
    };
    if !starts_url && sens < 3 {
        return false;
    }
    if t.starts_with("//") && authority_internal(s, offset + 2, sens) {
        return true;
    }
    let sb = s.as_bytes();
    for colon in memchr::memchr_iter(b':', sb) {
        let mut i = colon;
        while i > 0 && sb[i - 1].is_ascii_alphanumeric() {
            i -= 1;
        }
        if i == colon {
            continue;
        }
        let mut j = colon + 1;
        let mut slashes = 0;
        while j < sb.len() && (sb[j] == b'/' || sb[j] == b'\\') && slashes < 3 {
            j += 1;
            slashes += 1;
        }
        if slashes == 0 {
            continue;
        }
        if authority_internal(s, j, sens) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_of_loopback() {
        for h in ["2130706433", "0x7f000001", "0177.0.0.1", "127.1", "0x7f.1", "127.0.0.1"] {
            assert_eq!(parse_ipv4(h), Some(0x7f00_0001), "{}", h);
        }
        assert_eq!(parse_ipv4("1.2.3"), Some(0x0102_0003));
        assert_eq!(parse_ipv4("example.com"), None);
        assert_eq!(parse_ipv4("256.1.1.1"), None);
    }

    #[test]
    fn internal_urls() {
        for s in [
            "http://127.0.0.1/",
            "http://[::1]:80/",
            "http://169.254.169.254/latest/meta-data/",
            "http://metadata.google.internal/computeMetadata/v1/",
            "http://2130706433/",
            "gopher://localhost:6379/_info",
            "http://evil.com@127.0.0.1/",
            "http://127.0.0.1.nip.io/",
            "http://[::ffff:127.0.0.1]/",
            "https://example.com/r?u=http://10.0.0.1/",
        ] {
            assert!(is_ssrf(s, 2), "{}", s);
        }
        for s in ["https://example.com/", "http://10.example.com/", "see http://localhost/ docs", "https://192.0.2.1/"] {
            assert!(!is_ssrf(s, 2), "{}", s);
        }
    }
}
