//! OS command injection.
//!
//! The value is first rewritten as a shell would read it: quotes and
//! backslashes inside words vanish (`w'h'o'am'i`, `c\at`), empty expansions
//! vanish (`$@`, `$9` before a letter), `${IFS}`/`$IFS` become spaces, brace
//! lists become words (`{cat,/etc/passwd}`). Then a command separator (`;`,
//! `|`, `||`, `&`, `&&`, newline, `` ` ``, `$(`, `<(`) followed by a known
//! command is an injection. Commands are in two tiers: names that are not
//! ordinary words (`whoami`, `wget`, `nc`, `powershell`) need only a word
//! boundary; names that are also English words (`cat`, `ping`, `sleep`,
//! `type`) need a shell-like argument (`-x`, `/path`, `$VAR`, a number for
//! `sleep`/`ping`, `c:\`). Also: `/dev/tcp/`, `${IFS}`, glob-obfuscated
//! binaries after a separator (`/???/??t`).
//!
//! Work: one rewrite pass and one scan.

#[cfg(test)]
const STRONG: &[&str] = &[
    "whoami", "uname", "ifconfig", "ipconfig", "netstat", "wget", "curl", "ncat", "netcat", "nc",
    "powershell", "pwsh", "nslookup", "systeminfo", "mkfifo", "busybox", "certutil", "bitsadmin",
    "mshta", "wmic", "tasklist", "rundll32", "regsvr32", "cmd.exe", "powershell.exe", "id", "ls",
    "pwd", "crontab", "sudo", "chmod", "chown", "xxd", "nohup", "getent", "lsof", "socat",
    "useradd", "usermod", "killall", "pkill", "cscript", "wscript", "msiexec", "schtasks",
    "icacls", "curl.exe", "wget.exe", "whoami.exe", "nc.exe", "net.exe", "printenv", "sh",
    "ifconfig.exe", "ipconfig.exe", "uname.exe", "gawk", "bash.exe", "env",
];

/// Commands that are also ordinary words ("cat", "ping", "type", "PHP"):
/// they need a shell-like argument after them.
#[cfg(test)]
const WEAK: &[&str] = &[
    "cat", "ping", "sleep", "dir", "ver", "dig", "reg", "sc", "java", "node", "vi", "vim",
    "rm", "bash", "zsh", "ksh", "csh", "tcsh", "dash", "python", "python2", "python3", "perl",
    "ruby", "php", "lua", "gcc", "nmap", "awk", "base64", "cmd", "telnet", "tftp", "scp",
    "hostname", "passwd", "xterm", "echo", "type", "set", "more", "head", "tail", "find", "date",
    "time", "who", "net", "cp", "mv", "touch", "kill", "ps", "print", "start", "call", "copy",
    "del", "ren", "tree", "vol", "shutdown", "reboot", "halt", "wait", "read", "grep", "less",
    "sort", "cut", "tr", "tee", "uniq", "nl", "od", "strings", "file", "which", "whereis",
    "locate", "mount", "ssh", "ftp", "mail", "printf", "timeout", "usleep", "expr", "test",
    "exit", "w", "last", "export", "unset", "source", "exec", "eval", "sed", "nice", "xargs",
    "bzip2", "gzip", "tar", "zip", "unzip", "dd", "ln", "mkdir", "rmdir", "chgrp", "diff",
    "md5sum", "sha1sum",
];

/// `STRONG` (2) and `WEAK` (1) commands, sorted for binary search.
const TIERS: &[(&str, u8)] = &[
    ("awk", 1),
    ("base64", 1),
    ("bash", 1),
    ("bash.exe", 2),
    ("bitsadmin", 2),
    ("busybox", 2),
    ("bzip2", 1),
    ("call", 1),
    ("cat", 1),
    ("certutil", 2),
    ("chgrp", 1),
    ("chmod", 2),
    ("chown", 2),
    ("cmd", 1),
    ("cmd.exe", 2),
    ("copy", 1),
    ("cp", 1),
    ("crontab", 2),
    ("cscript", 2),
    ("csh", 1),
    ("curl", 2),
    ("curl.exe", 2),
    ("cut", 1),
    ("dash", 1),
    ("date", 1),
    ("dd", 1),
    ("del", 1),
    ("diff", 1),
    ("dig", 1),
    ("dir", 1),
    ("echo", 1),
    ("env", 2),
    ("eval", 1),
    ("exec", 1),
    ("exit", 1),
    ("export", 1),
    ("expr", 1),
    ("file", 1),
    ("find", 1),
    ("ftp", 1),
    ("gawk", 2),
    ("gcc", 1),
    ("getent", 2),
    ("grep", 1),
    ("gzip", 1),
    ("halt", 1),
    ("head", 1),
    ("hostname", 1),
    ("icacls", 2),
    ("id", 2),
    ("ifconfig", 2),
    ("ifconfig.exe", 2),
    ("ipconfig", 2),
    ("ipconfig.exe", 2),
    ("java", 1),
    ("kill", 1),
    ("killall", 2),
    ("ksh", 1),
    ("last", 1),
    ("less", 1),
    ("ln", 1),
    ("locate", 1),
    ("ls", 2),
    ("lsof", 2),
    ("lua", 1),
    ("mail", 1),
    ("md5sum", 1),
    ("mkdir", 1),
    ("mkfifo", 2),
    ("more", 1),
    ("mount", 1),
    ("mshta", 2),
    ("msiexec", 2),
    ("mv", 1),
    ("nc", 2),
    ("nc.exe", 2),
    ("ncat", 2),
    ("net", 1),
    ("net.exe", 2),
    ("netcat", 2),
    ("netstat", 2),
    ("nice", 1),
    ("nl", 1),
    ("nmap", 1),
    ("node", 1),
    ("nohup", 2),
    ("nslookup", 2),
    ("od", 1),
    ("passwd", 1),
    ("perl", 1),
    ("php", 1),
    ("ping", 1),
    ("pkill", 2),
    ("powershell", 2),
    ("powershell.exe", 2),
    ("print", 1),
    ("printenv", 2),
    ("printf", 1),
    ("ps", 1),
    ("pwd", 2),
    ("pwsh", 2),
    ("python", 1),
    ("python2", 1),
    ("python3", 1),
    ("read", 1),
    ("reboot", 1),
    ("reg", 1),
    ("regsvr32", 2),
    ("ren", 1),
    ("rm", 1),
    ("rmdir", 1),
    ("ruby", 1),
    ("rundll32", 2),
    ("sc", 1),
    ("schtasks", 2),
    ("scp", 1),
    ("sed", 1),
    ("set", 1),
    ("sh", 2),
    ("sha1sum", 1),
    ("shutdown", 1),
    ("sleep", 1),
    ("socat", 2),
    ("sort", 1),
    ("source", 1),
    ("ssh", 1),
    ("start", 1),
    ("strings", 1),
    ("sudo", 2),
    ("systeminfo", 2),
    ("tail", 1),
    ("tar", 1),
    ("tasklist", 2),
    ("tcsh", 1),
    ("tee", 1),
    ("telnet", 1),
    ("test", 1),
    ("tftp", 1),
    ("time", 1),
    ("timeout", 1),
    ("touch", 1),
    ("tr", 1),
    ("tree", 1),
    ("type", 1),
    ("uname", 2),
    ("uname.exe", 2),
    ("uniq", 1),
    ("unset", 1),
    ("unzip", 1),
    ("useradd", 2),
    ("usermod", 2),
    ("usleep", 1),
    ("ver", 1),
    ("vi", 1),
    ("vim", 1),
    ("vol", 1),
    ("w", 1),
    ("wait", 1),
    ("wget", 2),
    ("wget.exe", 2),
    ("whereis", 1),
    ("which", 1),
    ("who", 1),
    ("whoami", 2),
    ("whoami.exe", 2),
    ("wmic", 2),
    ("wscript", 2),
    ("xargs", 1),
    ("xterm", 1),
    ("xxd", 2),
    ("zip", 1),
    ("zsh", 1),
];

/// 2 for a command in `STRONG`, 1 for one in `WEAK`, else 0.
fn tier(w: &str) -> u8 {
    TIERS.binary_search_by(|(k, _)| (*k).cmp(w)).map_or(0, |i| TIERS[i].1)
}

/// Rewrites `s` as a shell would read its words, into `out`.
fn shell_view(s: &str, out: &mut String) {
    out.clear();
    let b = s.as_bytes();
    let mut i = 0;
    let mut brace = 0u32;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\'' | b'"' | b'\\' => {
                // `\` before a newline separator keeps the separator.
                i += 1;
                continue;
            }
            b'$' => {
                let rest = &s[i..];
                if rest.starts_with("${ifs}") {
                    out.push(' ');
                    i += 6;
                    continue;
                }
                if rest.starts_with("$ifs") {
                    out.push(' ');
                    i += 4;
                    if i < b.len() && b[i] == b'$' && i + 1 < b.len() && b[i + 1].is_ascii_digit() {
                        i += 2;
                    }
                    continue;
                }
                if i + 1 < b.len() && (b[i + 1] == b'@' || b[i + 1] == b'*' || b[i + 1].is_ascii_digit()) && i + 2 < b.len() && b[i + 2].is_ascii_alphabetic() {
                    i += 2;
                    continue;
                }
                if rest.starts_with("${") && i > 0 && b[i - 1].is_ascii_alphabetic() {
                    // `c${x}at`-style empty expansions inside a word.
                    // Only a `}` within 16 bytes counts: look no further
                    // (`a${a${a${...` must not search the rest from each).
                    let near = &rest.as_bytes()[..rest.len().min(16)];
                    if let Some(p) = memchr::memchr(b'}', near) {
                        if memchr::memchr(b':', &near[2..p]).is_none() {
                            i += p + 1;
                            continue;
                        }
                    }
                }
                out.push('$');
            }
            b'{' => {
                brace += 1;
                out.push(' ');
            }
            b'}' => {
                brace = brace.saturating_sub(1);
                out.push(' ');
            }
            b',' if brace > 0 => out.push(' '),
            b'\t' | 0x0b | 0x0c => out.push(' '),
            c if c < 0x80 => out.push(c as char),
            _ => {
                // Safe: pushing the whole UTF-8 character.
                let ch = s[i..].chars().next().unwrap_or(' ');
                out.push(ch);
                i += ch.len_utf8();
                continue;
            }
        }
        i += 1;
    }
}

fn is_cmd_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'/' | b'?' | b'*' | b'-' | b'[' | b']')
}

fn boundary(c: Option<u8>) -> bool {
    match c {
        None => true,
        Some(c) => matches!(c, b' ' | b'\n' | b'\r' | b';' | b'|' | b'&' | b'<' | b'>' | b'$' | b')' | b'`' | b'#' | 0),
    }
}

/// A shell-like argument after a weak command, starting at `j`.
fn shell_arg(v: &[u8], mut j: usize, cmd: &str, echo: &mut EchoRedirect) -> bool {
    if j < v.len() && !matches!(v[j], b' ' | b'<' | b'>') {
        return false;
    }
    while j < v.len() && v[j] == b' ' {
        j += 1;
    }
    if j >= v.len() {
        return false;
    }
    let c = v[j];
    let rest = &v[j..];
    if matches!(c, b'-' | b'/' | b'$' | b'~' | b'<' | b'>' | b'%' | b'\\') {
        return true;
    }
    if rest.starts_with(b"./") || rest.starts_with(b"../") || (rest.len() >= 2 && rest[0].is_ascii_alphabetic() && rest[1] == b':' && rest.get(2).map_or(true, |&x| x == b'/' || x == b'\\' || x == b' ')) {
        return true;
    }
    if c.is_ascii_digit() && matches!(cmd, "sleep" | "ping" | "timeout" | "usleep" | "kill") {
        return true;
    }
    if cmd == "net" && (rest.starts_with(b"user") || rest.starts_with(b"localgroup") || rest.starts_with(b"view") || rest.starts_with(b"share")) {
        return true;
    }
    if cmd == "echo" && echo.redirects(v, j) {
        return true;
    }
    false
}

/// Whether a `>` follows a position before the next `;` or `|`, for `echo
/// x > file`. Positions asked about only grow during a scan, and every
/// position up to the same `;`/`|` has the same last `>` before it: that
/// stop and the last `>` are found once per stretch, so `&echo &echo ...`
/// reads the value once, not once per `echo`.
#[derive(Default)]
struct EchoRedirect {
    /// `(from, stop, last '>' in from..stop)` of the stretch last looked at.
    span: Option<(usize, usize, Option<usize>)>,
}

impl EchoRedirect {
    fn redirects(&mut self, v: &[u8], j: usize) -> bool {
        let last_gt = match self.span {
            Some((from, stop, gt)) if from <= j && j <= stop => gt,
            _ => {
                let stop = memchr::memchr2(b';', b'|', &v[j..]).map_or(v.len(), |p| j + p);
                let gt = memchr::memrchr(b'>', &v[j..stop]).map(|p| j + p);
                self.span = Some((j, stop, gt));
                gt
            }
        };
        last_gt.map_or(false, |g| g >= j)
    }
}

/// The command word at `j` (after a separator) and whether it injects.
fn command_at(v: &[u8], mut j: usize, strong_sep: bool, echo: &mut EchoRedirect) -> bool {
    while j < v.len() && matches!(v[j], b' ' | b'(' | b'!') {
        j += 1;
    }
    let start = j;
    while j < v.len() && is_cmd_byte(v[j]) {
        j += 1;
    }
    if j == start {
        return false;
    }
    let word = match std::str::from_utf8(&v[start..j]) {
        Ok(w) => w,
        Err(_) => return false,
    };
    let word = word.trim_end_matches('.');
    if word.starts_with('/') {
        if word.contains('?') || word.contains('*') || word.contains('[') {
            return word.len() > 2 && word[1..].contains('/');
        }
    }
    let base = if word.starts_with('/') {
        word.rsplit('/').next().unwrap_or(word)
    } else {
        word
    };
    let pathed = base.len() != word.len();
    let next = v.get(j).copied();
    let tier = tier(base);
    if tier == 2 {
        // `| ID | Name |` (a table) is not `| id`.
        let mut k = j;
        while k < v.len() && v[k] == b' ' {
            k += 1;
        }
        let table = k > j && k < v.len() && v[k] == b'|' && v.get(k + 1) != Some(&b'|');
        return boundary(next) && !table;
    }
    if tier == 1 {
        if pathed && boundary(next) {
            return true;
        }
        if shell_arg(v, j, base, echo) {
            return true;
        }
        // `$(date)`, `` `sleep 5` `` closed right after the command.
        return strong_sep && matches!(next, Some(b')') | Some(b'`')) && matches!(base, "sleep" | "cat" | "ping" | "env" | "hostname" | "dir");
    }
    false
}

/// Whether `s` (normalised, lower case) injects a shell command.
#[cfg(test)]
pub(crate) fn is_cmdi(s: &str, view: &mut String) -> bool {
    is_cmdi_classes(s, super::prefilter::classes(s.as_bytes()), view)
}

/// Bytes that start a command separator (`;`, `|`, `&`, newline, `` ` ``,
/// `$(`, `<(`, `>(`).
const fn separator_starts() -> [bool; 256] {
    let mut t = [false; 256];
    t[b';' as usize] = true;
    t[b'|' as usize] = true;
    t[b'&' as usize] = true;
    t[b'`' as usize] = true;
    t[b'\n' as usize] = true;
    t[b'\r' as usize] = true;
    t[b'$' as usize] = true;
    t[b'<' as usize] = true;
    t[b'>' as usize] = true;
    t
}

static SEPARATOR_START: [bool; 256] = separator_starts();

/// [`is_cmdi`] given the byte classes `m` of `s` (from the prefilter).
pub(crate) fn is_cmdi_classes(s: &str, m: u64, view: &mut String) -> bool {
    use super::prefilter::*;
    let b = s.as_bytes();
    if m & (SEMI | PIPE | AMP | BTICK | DOLLAR | LF | CR | LT | GT | SLASH) == 0 {
        return false;
    }
    if m & DOLLAR != 0 && (s.contains("${ifs}") || s.contains("$ifs$")) {
        return true;
    }
    if m & SLASH != 0 {
        for p in super::normalize::find_iter(b, b"/dev/") {
            if b[p + 5..].starts_with(b"tcp/") || b[p + 5..].starts_with(b"udp/") {
                return true;
            }
        }
    }
    if m & (SEMI | PIPE | AMP | BTICK | DOLLAR | LF | CR | LT | GT) == 0 {
        return false;
    }
    let v: &[u8] = if m & (SQUOTE | DQUOTE | BSLASH | DOLLAR | LBRACE | RBRACE | WS | NONASCII) != 0 {
        shell_view(s, view);
        view.as_bytes()
    } else {
        b
    };
    let mut echo = EchoRedirect::default();
    // The separator bytes `s` holds (`v` holds no others: the shell view
    // only drops bytes or writes spaces): with at most three of them, the
    // next one is found by `memchr` instead of a table look-up per byte.
    let mut seps = [0u8; 9];
    let mut kinds = 0;
    for &(bit, c) in &[(SEMI, b';'), (PIPE, b'|'), (AMP, b'&'), (BTICK, b'`'), (LF, b'\n'), (CR, b'\r'), (DOLLAR, b'$'), (LT, b'<'), (GT, b'>')] {
        if m & bit != 0 {
            seps[kinds] = c;
            kinds += 1;
        }
    }
    let mut i = 0;
    while i < v.len() {
        let found = match kinds {
            1 => memchr::memchr(seps[0], &v[i..]),
            2 => memchr::memchr2(seps[0], seps[1], &v[i..]),
            3 => memchr::memchr3(seps[0], seps[1], seps[2], &v[i..]),
            _ => v[i..].iter().position(|&c| SEPARATOR_START[c as usize]),
        };
        i = match found {
            Some(p) => i + p,
            None => break,
        };
        let c = v[i];
        let (sep_len, strong) = match c {
            b';' => (1, false),
            b'\n' | b'\r' => (1, true),
            b'|' | b'&' => {
                if i + 1 < v.len() && v[i + 1] == c {
                    (2, true)
                } else {
                    (1, c == b'|')
                }
            }
            b'`' => (1, true),
            b'$' | b'<' | b'>' if i + 1 < v.len() && v[i + 1] == b'(' => (2, true),
            _ => (0, false),
        };
        if sep_len > 0 && command_at(v, i + sep_len, strong, &mut echo) {
            return true;
        }
        i += sep_len.max(1);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmdi(s: &str) -> bool {
        is_cmdi(&s.to_lowercase(), &mut String::new())
    }

    #[test]
    fn tiers_match_the_lists() {
        for w in STRONG {
            assert_eq!(tier(w), 2, "{}", w);
        }
        for w in WEAK {
            assert_eq!(tier(w), 1, "{}", w);
        }
    }

    #[test]
    fn injections() {
        for s in [
            "; id",
            "| whoami",
            "&& cat /etc/passwd",
            "$(sleep 5)",
            "`uname -a`",
            "127.0.0.1; w'h'o'am'i",
            ";cat${IFS}/etc/passwd",
            "; /???/??t /???/p??s??",
            "|| ping -c 10 127.0.0.1 ||",
            "& net user",
            "\nid",
        ] {
            assert!(cmdi(s), "{}", s);
        }
        for s in ["Tom & Jerry", "cats | dogs", "R&D; ps: see above", "| Date | Time |", "rock & roll; cat lovers unite", "make && make install", "a; type 2 diabetes"] {
            assert!(!cmdi(s), "{}", s);
        }
    }
}
