//! Path traversal and file inclusion.
//!
//! Traversal: after decoding (including overlong `%c0%ae`, `%u002e`, full-width
//! dots), with `\` read as `/`, a path segment made only of two or more dots
//! (`..`, and `....` for filters that strip `../` once), optionally followed
//! by `;params` (`..;/`), next to a separator.
//!
//! File inclusion: PHP and Java stream wrappers (`php://filter`,
//! `data://`, `expect://`, `phar://`, `zip://`, `file://`, `jar:`), UNC paths
//! (`\\host\share`), well-known sensitive files (`/etc/passwd`,
//! `/proc/self/environ`, `c:\windows\win.ini`, `.ssh/id_rsa`, `WEB-INF/web.xml`,
//! `wp-config.php`, ...), PHP open tags, and remote URLs shaped for inclusion
//! (`http://evil/shell.txt?`, with a trailing `?` or NUL to cut off the
//! suffix the application appends), or any remote URL when the field name is
//! include-like (`page`, `file`, `include`, `template`, ...).
//!
//! Work: one pass over the segments.

use memchr::memchr;

fn seg_is_dots(seg: &[u8]) -> bool {
    if seg.contains(&0) {
        let kept: Vec<u8> = seg.iter().copied().filter(|&c| c != 0).collect();
        return seg_is_dots(&kept);
    }
    let seg = match memchr(b';', seg) {
        Some(p) => &seg[..p],
        None => seg,
    };
    let seg = {
        let mut e = seg.len();
        while e > 0 && seg[e - 1] == b' ' {
            e -= 1;
        }
        &seg[..e]
    };
    seg.len() >= 2 && seg.iter().all(|&b| b == b'.')
}

/// Whether `s` (normalised) climbs out of a directory.
pub(crate) fn is_traversal(s: &str) -> bool {
    let b = s.as_bytes();
    if super::normalize::find(b, b"..").is_none() {
        return false;
    }
    if !b.iter().any(|&c| c == b'/' || c == b'\\') {
        return seg_is_dots(b) && b.len() == 2;
    }
    let mut start = 0;
    let n = b.len();
    for i in 0..=n {
        if i == n || b[i] == b'/' || b[i] == b'\\' {
            let seg = &b[start..i];
            if seg_is_dots(seg) && (start > 0 || i < n) {
                return true;
            }
            start = i + 1;
        }
    }
    false
}

// Sensitive files and directories (Unix, Windows, Java web apps, dotfiles
// with credentials), from the LFI lists named in `data/corpora/lfi_rfi.txt`.

/// Single names that are sensitive next to a path separator or alone,
/// sorted for binary search.
const SENSITIVE_SINGLE: &[&str] = &["%systemroot%", "%windir%", ".bash_history", ".env", ".htaccess", ".htpasswd", ".mysql_history", ".ssh", ".zsh_history", "applicationhost.config", "authorized_keys", "boot.ini", "httpd.conf", "id_dsa", "id_ecdsa", "id_ed25519", "id_rsa", "localsettings.php", "my.cnf", "nginx.conf", "php.ini", "system32", "web-inf", "web.config", "win.ini", "winnt", "wp-config.php"];

/// For each first byte, a bit per length of the names in
/// `SENSITIVE_SINGLE` starting with it.
const fn single_lengths() -> [u32; 256] {
    let mut out = [0u32; 256];
    let mut i = 0;
    while i < SENSITIVE_SINGLE.len() {
        let w = SENSITIVE_SINGLE[i].as_bytes();
        out[w[0] as usize] |= 1 << w.len();
        i += 1;
    }
    out
}

static SINGLE_LENGTHS: [u32; 256] = single_lengths();

fn sensitive_single(seg: &[u8]) -> bool {
    // Most segments are ruled out by their first byte and length.
    let first = seg.first().copied().unwrap_or(0);
    if seg.len() > 31 || SINGLE_LENGTHS[first as usize] & (1 << seg.len()) == 0 {
        return false;
    }
    seg.len() >= 3 && seg.len() <= 22 && SENSITIVE_SINGLE.binary_search_by(|k| k.as_bytes().cmp(seg)).is_ok()
}

/// For a directory name, the names below it that are sensitive.
fn sensitive_children(dir: &[u8]) -> &'static [&'static str] {
    // The first bytes of the directories below.
    if !matches!(dir.first(), Some(b'e' | b'p' | b'v' | b'w' | b'm' | b'.' | b'i' | b'd')) {
        return &[];
    }
    match dir {
        b"etc" => &["passwd", "shadow", "group", "gshadow", "hosts", "hostname", "issue", "motd", "crontab", "fstab", "sudoers", "os-release", "lsb-release", "redhat-release", "resolv.conf", "master.passwd", "security", "httpd", "apache2", "nginx", "mysql", "ssh", "profile", "environment", "network", "inittab", "init.d", "aliases", "exports", "ftpusers", "login.defs", "pam.d", "syslog.conf", "machine-id", "php.ini", "my.cnf", "ld.so.preload", "bashrc", "apache", "php", "php5", "php7", "shells", "netplan", "systemd", "ssl", "pki", "kubernetes", "docker"],
        b"proc" => &["self", "version", "cpuinfo", "meminfo", "mounts", "net", "sched_debug", "cmdline", "environ", "1", "kcore", "config.gz", "partitions", "modules", "thread-self"],
        b"var" => &["log", "mail", "spool", "run", "lib"],
        b"windows" => &["win.ini", "system.ini", "system32", "repair", "panther", "debug", "php.ini", "iis.log"],
        b"meta-inf" => &["manifest.mf", "context.xml"],
        b".aws" => &["credentials", "config"],
        b".docker" => &["config.json"],
        b".kube" => &["config"],
        b".git" => &["config", "head", "index", "logs", "refs"],
        b".svn" => &["entries", "wc.db"],
        b"inetpub" => &["wwwroot", "logs"],
        b"dev" => &["tcp", "udp", "fd", "stdin"],
        b"private" => &["etc", "var"],
        _ => &[],
    }
}

/// Include wrappers (scheme before `://` or `:`).
fn wrapper(scheme: &[u8]) -> bool {
    matches!(
        scheme,
        b"php" | b"phar" | b"zip" | b"expect" | b"glob" | b"data" | b"compress.zlib"
            | b"compress.bzip2" | b"zlib" | b"rar" | b"ogg" | b"ssh2.shell" | b"ssh2.exec"
            | b"ssh2.sftp" | b"file" | b"jar" | b"netdoc" | b"smb"
    )
}

fn next_matches(seg: &[u8], x: &str) -> bool {
    seg.starts_with(x.as_bytes()) && seg.get(x.len()).map_or(true, |c| !c.is_ascii_alphanumeric())
}

fn is_path_sep(c: u8) -> bool {
    c == b'/' || c == b'\\'
}

/// Bytes that end a segment in [`sensitive`].
const fn segment_ends() -> [bool; 256] {
    let mut t = [false; 256];
    let ends = b"/\\?# '\"()=,&;|<>";
    let mut i = 0;
    while i < ends.len() {
        t[ends[i] as usize] = true;
        i += 1;
    }
    t
}

static SEGMENT_END: [bool; 256] = segment_ends();

/// Sensitive files: a pair like `etc/passwd` separated by a path separator,
/// or a single name (`.htpasswd`) next to a separator or alone.
fn sensitive(b: &[u8]) -> bool {
    // Without a separator only the whole value can be a name (a value
    // holding a delimiter is not one of the names either).
    if memchr::memchr2(b'/', b'\\', b).is_none() {
        return sensitive_single(b);
    }
    sensitive_segments(b)
}

/// [`sensitive`] of a value holding a path separator.
fn sensitive_segments(b: &[u8]) -> bool {
    let n = b.len();
    let mut prev: &[u8] = &[];
    let mut sep_before = false;
    let mut start = 0;
    // Each segment `start..i`, ended by `b[i]` or by the end of the value
    // (then possibly empty).
    while start <= n {
        let mut i = start;
        while i < n && !SEGMENT_END[b[i] as usize] {
            i += 1;
        }
        let seg = &b[start..i];
        let sep_after = i < n && is_path_sep(b[i]);
        if seg.is_empty() || seg == b"." {
            if !sep_after {
                prev = &[];
            }
        } else {
            let whole = start == 0 && i == n;
            if sensitive_single(seg) && (sep_before || sep_after || whole) {
                return true;
            }
            if sep_before && sensitive_children(prev).iter().any(|x| next_matches(seg, x)) {
                return true;
            }
            prev = seg;
        }
        sep_before = sep_after || (seg.is_empty() && sep_before && sep_after);
        start = i + 1;
    }
    false
}

/// Whether a field name is one that applications pass to `include`/`open`.
pub(crate) fn include_key(key: &str) -> bool {
    // Trimmed of everything but ASCII letters and digits at both ends (a
    // byte that is not ASCII is never kept at an end, so bytes suffice).
    let b = key.as_bytes();
    let start = b.iter().position(|c| c.is_ascii_alphanumeric()).unwrap_or(b.len());
    let end = b.iter().rposition(|c| c.is_ascii_alphanumeric()).map_or(start, |e| e + 1);
    let k = &b[start..end];
    if k.len() < 2 || k.len() > 12 {
        return false;
    }
    let mut buf = [0u8; 12];
    for (d, s) in buf.iter_mut().zip(k) {
        *d = s.to_ascii_lowercase();
    }
    matches!(
        &buf[..k.len()],
        b"page" | b"file" | b"filename" | b"include" | b"inc" | b"require" | b"template" | b"tpl" | b"doc"
            | b"document" | b"folder" | b"root" | b"pg" | b"style" | b"pdf" | b"lang" | b"language"
            | b"module" | b"load" | b"read" | b"view" | b"content" | b"cat" | b"dir" | b"path"
            | b"layout" | b"conf" | b"config" | b"show" | b"site" | b"theme" | b"locale" | b"download"
            | b"filepath" | b"src" | b"source"
    )
}

/// [`is_file_inclusion`] given the byte classes `m` of `s`: without `<` or
/// `:` there is no PHP tag and no scheme, so only UNC paths (with `\`) and
/// sensitive files are looked for, and those without re-reading the value
/// for the bytes `m` says are absent.
pub(crate) fn is_file_inclusion_classes(s: &str, m: u64, key: Option<&str>) -> bool {
    use super::prefilter::{BSLASH, COLON, LT, SLASH};
    if m & (LT | COLON) != 0 {
        return is_file_inclusion(s, key);
    }
    if m & BSLASH != 0 && unc(s) {
        return true;
    }
    if m & (SLASH | BSLASH) == 0 {
        sensitive_single(s.as_bytes())
    } else {
        sensitive_segments(s.as_bytes())
    }
}

/// `\\host...` at the start (after white space).
fn unc(s: &str) -> bool {
    let t = s.trim_start();
    t.starts_with("\\\\") && t.len() > 3 && t.as_bytes()[2].is_ascii_alphanumeric()
}

/// Whether `s` (normalised) tries to include a local or remote file.
/// `key` is the field name when known.
pub(crate) fn is_file_inclusion(s: &str, key: Option<&str>) -> bool {
    let b = s.as_bytes();
    if unc(s) {
        return true;
    }
    if memchr::memchr_iter(b'<', b).any(|i| b[i + 1..].starts_with(b"?php") || b[i + 1..].starts_with(b"?=")) {
        return true;
    }
    // Facts about the end of the value for remote URLs, found at the first
    // one: every `scheme://` below looks at the rest of the value, and there
    // may be thousands of them.
    let mut tail: Option<(usize, Option<usize>, Option<usize>, bool)> = None;
    for colon in memchr::memchr_iter(b':', b) {
        let mut i = colon;
        while i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.' || b[i - 1] == b'2') {
            i -= 1;
        }
        let scheme = &b[i..colon];
        let slashes = b[colon + 1..].starts_with(b"//");
        if scheme.is_empty() || (i > 0 && b[i - 1].is_ascii_alphanumeric()) {
            continue;
        }
        if wrapper(scheme) {
            // `data:` without slashes is an ordinary data URI unless it
            // carries PHP; `jar:` needs no slashes.
            if slashes || scheme == b"jar" || scheme == b"netdoc" {
                return true;
            }
            if scheme == b"data" && b[colon + 1..].starts_with(b"text/plain") {
                return true;
            }
        }
        if (scheme == b"http" || scheme == b"https" || scheme == b"ftp" || scheme == b"ftps") && slashes {
            // Remote inclusion: a trailing `?` or `%00` (NUL, removed by
            // normalisation, leaves `.php`-less endings) or an include-like field.
            // `rest` is `s[colon + 3..].trim_end()`, i.e. `tail[at..]`.
            let (tail_len, last_slash, last_nul, ends_open) = *tail.get_or_insert_with(|| {
                let t = &b[..s.trim_end().len()];
                (t.len(), memchr::memrchr(b'/', t), memchr::memrchr(0, t), matches!(t.last(), Some(b'?') | Some(b'&')))
            });
            let at = colon + 3;
            let rest_nonempty = at < tail_len;
            let in_rest = |p: Option<usize>| p.map_or(false, |p| p >= at);
            if rest_nonempty && ends_open && in_rest(last_slash) && b[at] != b'?' {
                return true;
            }
            if i == 0 && in_rest(last_nul) {
                return true;
            }
            if key.map_or(false, include_key) && i == 0 {
                return true;
            }
        }
    }
    sensitive(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted() {
        assert!(SENSITIVE_SINGLE.windows(2).all(|w| w[0] < w[1]));
        // `sensitive_single`'s first-byte filter admits every name.
        assert!(SENSITIVE_SINGLE.iter().all(|w| sensitive_single(w.as_bytes())));
    }

    #[test]
    fn traversal_forms() {
        for s in ["../../etc/passwd", "..\\..\\windows", "....//....//", "..;/admin", "/a/../b", ".."] {
            assert!(is_traversal(s), "{}", s);
        }
        for s in ["1..10", "wait... what", "...", "v1.2..v1.3", "a/b.c/d"] {
            assert!(!is_traversal(s), "{}", s);
        }
    }

    #[test]
    fn inclusion_forms() {
        for s in ["php://filter/resource=index.php", "/etc/passwd", "c:\\windows\\win.ini", "http://evil.com/shell.txt?", "\\\\evil\\share\\x.php", "file:///etc/hosts"] {
            assert!(is_file_inclusion(s, None), "{}", s);
        }
        assert!(is_file_inclusion("http://evil.com/x.php", Some("page")));
        for s in ["https://example.com/a?b=c", "data:image/png;base64,iVBOR", "my etc is here", "/home/user/docs/report.pdf"] {
            assert!(!is_file_inclusion(s, None), "{}", s);
        }
    }
}
