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
                    if let Some(p) = rest.find('}') {
                        if p < 16 && !rest[2..p].contains(':') {
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
fn shell_arg(v: &[u8], mut j: usize, cmd: &str) -> bool {
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
    if cmd == "echo" && rest.iter().take_while(|&&x| x != b';' && x != b'|').any(|&x| x == b'>') {
        return true;
    }
    false
}

/// The command word at `j` (after a separator) and whether it injects.
fn command_at(v: &[u8], mut j: usize, strong_sep: bool) -> bool {
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
    let base = if word.starts_with('/') || word.contains("\\") {
        word.rsplit('/').next().unwrap_or(word)
    } else {
        word
    };
    let pathed = base.len() != word.len();
    let next = v.get(j).copied();
    if STRONG.contains(&base) {
        // `| ID | Name |` (a table) is not `| id`.
        let mut k = j;
        while k < v.len() && v[k] == b' ' {
            k += 1;
        }
        let table = k > j && k < v.len() && v[k] == b'|' && v.get(k + 1) != Some(&b'|');
        return boundary(next) && !table;
    }
    if STRONG.contains(&base) || WEAK.contains(&base) {
        if pathed && boundary(next) {
            return true;
        }
        if shell_arg(v, j, base) {
            return true;
        }
        // `$(date)`, `` `sleep 5` `` closed right after the command.
        return strong_sep && matches!(next, Some(b')') | Some(b'`')) && matches!(base, "sleep" | "cat" | "ping" | "env" | "hostname" | "dir");
    }
    false
}

/// Whether `s` (normalised, lower case) injects a shell command.
pub(crate) fn is_cmdi(s: &str, view: &mut String) -> bool {
    let b = s.as_bytes();
    if !b.iter().any(|&c| matches!(c, b';' | b'|' | b'&' | b'`' | b'$' | b'\n' | b'\r' | b'<' | b'>' | b'/')) {
        return false;
    }
    if s.contains("${ifs}") || s.contains("$ifs$") || memchr::memmem::find(b, b"/dev/tcp/").is_some() || memchr::memmem::find(b, b"/dev/udp/").is_some() {
        return true;
    }
    shell_view(s, view);
    let v = view.as_bytes();
    let mut i = 0;
    while i < v.len() {
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
        if sep_len > 0 && command_at(v, i + sep_len, strong) {
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
