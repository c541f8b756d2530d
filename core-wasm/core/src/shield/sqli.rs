//! SQL injection by lexing, in the manner of libinjection: the value is
//! tokenised as SQL once as-is (a numeric context) and once after each quote
//! character it contains (assuming the application opened a string that the
//! value closes), and the token-type sequence is classified.
//!
//! Token types: string `s`, number `1` (also `null`, `true`, `false`),
//! keyword `k`, logic operator `&` (`and`, `or`, `xor`, `&&`, `||`),
//! operator `o`, comment `c`, parentheses, comma, semicolon, function `f`
//! (a word followed by `(`), bareword `n`, variable `v`, unknown `?`.
//! Inline comments `/* */` are folded away as whitespace (so
//! `union/**/select` is `union select`), MySQL executable comments `/*!50000`
//! are opened, and `--`/`#` comment to the end of the line.
//!
//! The classification (see [`classify`]) looks for: a quote breakout followed
//! by a logic operator and an expression (`' or 1=1`, `' or 'a'='a`), by a
//! truncating comment (`admin'--`), by a stacked statement (`'; drop table`),
//! an operator and a subquery or function (`'+(select ...)+'`), `order by n`,
//! `having`, `into outfile`, `waitfor`; anywhere: `union [all] select <item>`,
//! `; <statement>`, `(select <item>`, SQL-only functions (`benchmark(`,
//! `pg_sleep(`, `extractvalue(`...), `sleep(` in an expression, `@@version`,
//! `xp_cmdshell`, and literal tautologies after a logic operator (`or 1=1`).
//! Prose such as "select a plan and drop us a line" or "1 or 2 items" does
//! not form any of these.
//!
//! Work: one linear pass per context (at most four), one token per input
//! byte at most, lookahead bounded by a few tokens.

// Token kinds (high byte of a token).
const END: u8 = 0;
const STR: u8 = 1;
const NUM: u8 = 2;
const KW: u8 = 3;
const LOGIC: u8 = 4;
const OP: u8 = 5;
const CMT: u8 = 6;
const LP: u8 = 7;
const RP: u8 = 8;
const COMMA: u8 = 9;
const SEMI: u8 = 10;
const FUNC: u8 = 11;
const WORD: u8 = 12;
const VAR: u8 = 13;
const UNK: u8 = 14;

// Keyword sub-kinds.
const K_UNION: u8 = 1;
const K_SELECT: u8 = 2;
const K_INSERT: u8 = 3;
const K_UPDATE: u8 = 4;
const K_DELETE: u8 = 5;
const K_DROP: u8 = 6;
const K_CREATE: u8 = 7;
const K_ALTER: u8 = 8;
const K_EXEC: u8 = 9;
const K_DECLARE: u8 = 10;
const K_TRUNCATE: u8 = 11;
const K_SHUTDOWN: u8 = 12;
const K_WAITFOR: u8 = 13;
const K_FROM: u8 = 14;
const K_OBJ: u8 = 15;
const K_INTO: u8 = 16;
const K_ORDER: u8 = 17;
const K_GROUP: u8 = 18;
const K_BY: u8 = 19;
const K_HAVING: u8 = 20;
const K_ALL: u8 = 21;
const K_DISTINCT: u8 = 22;
const K_NOT: u8 = 23;
const K_CMPW: u8 = 24;
const K_EXISTS: u8 = 25;
const K_DELAY: u8 = 26;
const K_OUTFILE: u8 = 27;
const K_PROCEDURE: u8 = 28;
const K_SET: u8 = 29;
const K_TOP: u8 = 30;
const K_CASE: u8 = 31;
const K_OTHER: u8 = 32;
const K_LIMIT: u8 = 33;

// Operator sub-kinds.
const O_CMP: u8 = 1;
const O_ARITH: u8 = 2;
const O_STAR: u8 = 3;
const O_OTHER: u8 = 4;

// Comment sub-kinds.
const C_TRIVIAL: u8 = 1;
const C_TEXT: u8 = 2;

// Function sub-kinds.
const F_STRONG: u8 = 1;
const F_SLEEP: u8 = 2;
const F_SQL: u8 = 3;
const F_OTHER: u8 = 4;

// Word and variable sub-kinds.
const W_PLAIN: u8 = 0;
const W_STRONG: u8 = 1;
const W_XP: u8 = 2;
const V_SYS: u8 = 1;
const V_USER: u8 = 2;

fn tok(k: u8, s: u8) -> u16 {
    (k as u16) << 8 | s as u16
}

/// Keywords and logic operators (SQL-92 plus MySQL, PostgreSQL, MSSQL,
/// Oracle and SQLite statement words that injections use), sorted by name
/// for binary search.
const KEYWORDS: &[(&[u8], u8, u8)] = &[
    (b"all", KW, K_ALL),
    (b"alter", KW, K_ALTER),
    (b"and", LOGIC, 0),
    (b"asc", KW, K_OTHER),
    (b"between", KW, K_CMPW),
    (b"by", KW, K_BY),
    (b"case", KW, K_CASE),
    (b"collate", KW, K_OTHER),
    (b"column", KW, K_OBJ),
    (b"create", KW, K_CREATE),
    (b"database", KW, K_OBJ),
    (b"declare", KW, K_DECLARE),
    (b"delay", KW, K_DELAY),
    (b"delete", KW, K_DELETE),
    (b"desc", KW, K_OTHER),
    (b"distinct", KW, K_DISTINCT),
    (b"div", KW, K_OTHER),
    (b"drop", KW, K_DROP),
    (b"dumpfile", KW, K_OUTFILE),
    (b"else", KW, K_OTHER),
    (b"end", KW, K_OTHER),
    (b"escape", KW, K_OTHER),
    (b"except", KW, K_UNION),
    (b"exec", KW, K_EXEC),
    (b"execute", KW, K_EXEC),
    (b"exists", KW, K_EXISTS),
    (b"false", NUM, 0),
    (b"from", KW, K_FROM),
    (b"function", KW, K_OBJ),
    (b"glob", KW, K_CMPW),
    (b"group", KW, K_GROUP),
    (b"having", KW, K_HAVING),
    (b"ilike", KW, K_CMPW),
    (b"in", KW, K_CMPW),
    (b"index", KW, K_OBJ),
    (b"insert", KW, K_INSERT),
    (b"intersect", KW, K_UNION),
    (b"into", KW, K_INTO),
    (b"is", KW, K_CMPW),
    (b"join", KW, K_OTHER),
    (b"like", KW, K_CMPW),
    (b"limit", KW, K_LIMIT),
    (b"login", KW, K_OBJ),
    (b"minus", KW, K_UNION),
    (b"mod", KW, K_OTHER),
    (b"not", KW, K_NOT),
    (b"null", NUM, 0),
    (b"offset", KW, K_LIMIT),
    (b"or", LOGIC, 0),
    (b"order", KW, K_ORDER),
    (b"outfile", KW, K_OUTFILE),
    (b"procedure", KW, K_PROCEDURE),
    (b"regexp", KW, K_CMPW),
    (b"returning", KW, K_OTHER),
    (b"rlike", KW, K_CMPW),
    (b"schema", KW, K_OBJ),
    (b"select", KW, K_SELECT),
    (b"set", KW, K_SET),
    (b"shutdown", KW, K_SHUTDOWN),
    (b"sounds", KW, K_CMPW),
    (b"table", KW, K_OBJ),
    (b"tables", KW, K_OBJ),
    (b"then", KW, K_OTHER),
    (b"top", KW, K_TOP),
    (b"trigger", KW, K_OBJ),
    (b"true", NUM, 0),
    (b"truncate", KW, K_TRUNCATE),
    (b"union", KW, K_UNION),
    (b"update", KW, K_UPDATE),
    (b"values", KW, K_OTHER),
    (b"view", KW, K_OBJ),
    (b"waitfor", KW, K_WAITFOR),
    (b"when", KW, K_OTHER),
    (b"where", KW, K_OTHER),
    (b"xor", LOGIC, 0),
];

/// The longest keyword, in bytes.
const KEYWORD_MAX: usize = 9;

/// A word of at most 16 bytes packed big-endian into an integer, zero
/// padded: integer order is the words' byte order, so a sorted table of
/// words stays sorted, and a lookup is a few integer comparisons instead of
/// `memcmp` calls (which Wasm runs as byte loops).
const fn pack(w: &[u8]) -> u128 {
    let mut v: u128 = 0;
    let mut i = 0;
    while i < 16 {
        v <<= 8;
        if i < w.len() {
            v |= w[i] as u128;
        }
        i += 1;
    }
    v
}

const fn keyword_keys() -> [u128; KEYWORDS.len()] {
    let mut out = [0u128; KEYWORDS.len()];
    let mut i = 0;
    while i < KEYWORDS.len() {
        out[i] = pack(KEYWORDS[i].0);
        i += 1;
    }
    out
}

/// `KEYWORDS` packed, in the same order.
static KEYWORD_KEYS: [u128; KEYWORDS.len()] = keyword_keys();

/// For each first byte, a bit per length (up to 31) of the keywords
/// starting with it: most words are ruled out by one load and a shift.
const fn keyword_lengths() -> [u32; 256] {
    let mut out = [0u32; 256];
    let mut i = 0;
    while i < KEYWORDS.len() {
        let w = KEYWORDS[i].0;
        out[w[0] as usize] |= 1 << w.len();
        i += 1;
    }
    out
}

static KEYWORD_LENGTHS: [u32; 256] = keyword_lengths();

fn keyword(w: &[u8]) -> Option<(u8, u8)> {
    if w.len() < 2 || w.len() > KEYWORD_MAX || KEYWORD_LENGTHS[w[0] as usize] & (1 << w.len()) == 0 {
        return None;
    }
    // `pack` for a short word: its bytes, then the zero padding.
    let mut key: u128 = 0;
    for &c in w {
        key = key << 8 | c as u128;
    }
    key <<= 8 * (16 - w.len());
    KEYWORD_KEYS.binary_search(&key).ok().map(|i| (KEYWORDS[i].1, KEYWORDS[i].2))
}

/// Keywords that stay keywords when followed by `(`.
fn structural(w: &[u8]) -> bool {
    matches!(
        w,
        b"union" | b"select" | b"in" | b"exists" | b"values" | b"from" | b"where" | b"and"
            | b"or" | b"xor" | b"not" | b"into" | b"having" | b"all" | b"distinct" | b"by"
            | b"intersect" | b"except" | b"on" | b"when" | b"then" | b"else" | b"is"
            | b"like" | b"rlike" | b"regexp" | b"between" | b"limit" | b"top"
    )
}

/// Functions: SQL-only names with no ordinary use (`F_STRONG`), `sleep`,
/// common SQL functions used in blind and error-based injection (`F_SQL`);
/// sorted by name for binary search.
const FUNCTIONS: &[(&[u8], u8)] = &[
    (b"array_agg", F_SQL),
    (b"ascii", F_SQL),
    (b"benchmark", F_STRONG),
    (b"bin", F_SQL),
    (b"bit_length", F_SQL),
    (b"cast", F_SQL),
    (b"char", F_SQL),
    (b"char_length", F_SQL),
    (b"chr", F_SQL),
    (b"coalesce", F_SQL),
    (b"concat", F_SQL),
    (b"concat_ws", F_SQL),
    (b"conv", F_SQL),
    (b"convert", F_SQL),
    (b"count", F_SQL),
    (b"ctxsys.drithsx.sn", F_STRONG),
    (b"current_database", F_STRONG),
    (b"current_user", F_SQL),
    (b"database", F_SQL),
    (b"db_name", F_STRONG),
    (b"dbms_lock.sleep", F_STRONG),
    (b"dbms_pipe.receive_message", F_STRONG),
    (b"dbms_xmlgen.getxml", F_STRONG),
    (b"elt", F_SQL),
    (b"exists", F_SQL),
    (b"exp", F_STRONG),
    (b"extractvalue", F_STRONG),
    (b"field", F_SQL),
    (b"find_in_set", F_SQL),
    (b"floor", F_SQL),
    (b"geometrycollection", F_STRONG),
    (b"group_concat", F_STRONG),
    (b"gtid_subset", F_STRONG),
    (b"gtid_subtract", F_STRONG),
    (b"has_dbaccess", F_STRONG),
    (b"hex", F_SQL),
    (b"if", F_SQL),
    (b"ifnull", F_SQL),
    (b"iif", F_SQL),
    (b"insert", F_SQL),
    (b"instr", F_SQL),
    (b"is_srvrolemember", F_STRONG),
    (b"isnull", F_SQL),
    (b"json_keys", F_STRONG),
    (b"left", F_SQL),
    (b"len", F_SQL),
    (b"length", F_SQL),
    (b"linestring", F_STRONG),
    (b"lo_export", F_STRONG),
    (b"lo_import", F_STRONG),
    (b"load_file", F_STRONG),
    (b"locate", F_SQL),
    (b"lower", F_SQL),
    (b"make_set", F_STRONG),
    (b"md5", F_SQL),
    (b"mid", F_SQL),
    (b"multipoint", F_STRONG),
    (b"name_const", F_STRONG),
    (b"nchar", F_SQL),
    (b"nullif", F_SQL),
    (b"opendatasource", F_STRONG),
    (b"openrowset", F_STRONG),
    (b"ord", F_SQL),
    (b"ord_", F_SQL),
    (b"pg_ls_dir", F_STRONG),
    (b"pg_read_file", F_STRONG),
    (b"pg_sleep", F_STRONG),
    (b"pg_sleep_for", F_STRONG),
    (b"polygon", F_STRONG),
    (b"position", F_SQL),
    (b"rand", F_SQL),
    (b"randomblob", F_STRONG),
    (b"replace", F_SQL),
    (b"reverse", F_SQL),
    (b"right", F_SQL),
    (b"row", F_SQL),
    (b"schema", F_SQL),
    (b"select", F_SQL),
    (b"session_user", F_SQL),
    (b"sha1", F_SQL),
    (b"sleep", F_SLEEP),
    (b"sp_executesql", F_STRONG),
    (b"sqlite_version", F_STRONG),
    (b"st_latfromgeohash", F_STRONG),
    (b"strcmp", F_SQL),
    (b"string_agg", F_SQL),
    (b"substr", F_SQL),
    (b"substring", F_SQL),
    (b"sys_eval", F_STRONG),
    (b"sys_exec", F_STRONG),
    (b"system_user", F_SQL),
    (b"to_char", F_SQL),
    (b"unhex", F_SQL),
    (b"unicode", F_SQL),
    (b"updatexml", F_STRONG),
    (b"upper", F_SQL),
    (b"user", F_SQL),
    (b"user_name", F_SQL),
    (b"utl_http.request", F_STRONG),
    (b"utl_inaddr.get_host_address", F_STRONG),
    (b"utl_inaddr.get_host_name", F_STRONG),
    (b"version", F_SQL),
    (b"xmltype", F_STRONG),
    (b"xp_cmdshell", F_STRONG),
    (b"xp_dirtree", F_STRONG),
];

fn function(w: &[u8]) -> u8 {
    FUNCTIONS.binary_search_by(|(k, _)| (*k).cmp(w)).map_or(F_OTHER, |i| FUNCTIONS[i].1)
}

fn word_sub(w: &[u8]) -> u8 {
    // Every name below starts with one of these letters or ends in
    // `..xp_cmdshell`: most words are settled by their first byte.
    let first = w.first().copied().unwrap_or(0);
    if !matches!(first, b'i' | b'm' | b's' | b'p' | b'a' | b'u' | b'x') && !(w.len() > 13 && w.ends_with(b"..xp_cmdshell")) {
        return W_PLAIN;
    }
    if w.starts_with(b"information_schema")
        || w.starts_with(b"mysql.user")
        || w.starts_with(b"sys.objects")
        || w.starts_with(b"sysobjects")
        || w.starts_with(b"syscolumns")
        || w.starts_with(b"pg_shadow")
        || w.starts_with(b"pg_catalog")
        || w.starts_with(b"sqlite_master")
        || w.starts_with(b"all_tables")
        || w.starts_with(b"user_tables")
        || w == b"xp_cmdshell"
        || w == b"sp_executesql"
        || w == b"sp_oacreate"
        || w == b"sp_configure"
        || w.ends_with(b"..xp_cmdshell")
    {
        W_STRONG
    } else if w.starts_with(b"xp_") || w.starts_with(b"sp_") || w.starts_with(b"master..") {
        W_XP
    } else {
        W_PLAIN
    }
}

const B_WS: u8 = 1;
const B_WORD: u8 = 2;

/// Lexer byte kinds by table: whitespace, word bytes.
const fn byte_kinds() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        if matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
            t[i] = B_WS;
        } else if b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b == b'.' || b == b'@' || b >= 0x80 {
            t[i] = B_WORD;
        }
        i += 1;
    }
    t
}

static BYTE_KINDS: [u8; 256] = byte_kinds();

#[inline]
fn is_ws(b: u8) -> bool {
    BYTE_KINDS[b as usize] == B_WS
}

#[inline]
fn is_word_byte(b: u8) -> bool {
    BYTE_KINDS[b as usize] == B_WORD
}

fn comment_sub(body: &[u8]) -> u8 {
    let alnum = body.iter().filter(|b| b.is_ascii_alphanumeric()).count();
    if alnum <= 2 {
        C_TRIVIAL
    } else {
        C_TEXT
    }
}

/// Tokenises `s` (lower case). With `quote != 0`, the value is assumed to
/// start inside a string opened with that quote: the text up to the first
/// such quote is one string token. Returns false when that context does not
/// apply (the quote does not occur).
fn lex(s: &[u8], quote: u8, out: &mut Vec<u16>) -> bool {
    out.clear();
    // Words and their separators: a token for every few bytes. One
    // reservation instead of growing from empty in each request.
    out.reserve(s.len() / 3 + 8);
    let n = s.len();
    let mut i = 0;
    if quote != 0 {
        match memchr::memchr(quote, s) {
            Some(p) => {
                out.push(tok(STR, 0));
                i = p + 1;
            }
            None => return false,
        }
    }
    while i < n {
        let c = s[i];
        let next = if i + 1 < n { s[i + 1] } else { 0 };
        match c {
            _ if is_ws(c) => i += 1,
            b'\'' | b'"' => {
                i = match memchr::memchr(c, &s[i + 1..]) {
                    Some(p) => i + 1 + p + 1,
                    None => n,
                };
                out.push(tok(STR, 0));
            }
            b'`' => {
                i = match memchr::memchr(c, &s[i + 1..]) {
                    Some(p) => i + 1 + p + 1,
                    None => n,
                };
                out.push(tok(WORD, W_PLAIN));
            }
            b'0'..=b'9' | b'.' if c != b'.' || next.is_ascii_digit() => {
                let start = i;
                if c == b'0' && (next == b'x' || next == b'b') {
                    i += 2;
                    while i < n && s[i].is_ascii_hexdigit() {
                        i += 1;
                    }
                } else {
                    while i < n && s[i].is_ascii_digit() {
                        i += 1;
                    }
                    if i < n && s[i] == b'.' {
                        i += 1;
                        while i < n && s[i].is_ascii_digit() {
                            i += 1;
                        }
                    }
                    if i + 1 < n && s[i] == b'e' && (s[i + 1].is_ascii_digit() || s[i + 1] == b'-' || s[i + 1] == b'+') {
                        i += 2;
                        while i < n && s[i].is_ascii_digit() {
                            i += 1;
                        }
                    }
                }
                // `1union`, `1and` lex as a number then a keyword (MySQL
                // accepts them); `5pm`, `1st`, `2fa` are words.
                if i < n && (s[i].is_ascii_alphabetic() || s[i] == b'_') {
                    let mut j = i;
                    while j < n && (s[j].is_ascii_alphanumeric() || s[j] == b'_') {
                        j += 1;
                    }
                    if keyword(&s[i..j]).map_or(false, |(k, _)| k == KW || k == LOGIC) {
                        out.push(tok(NUM, 0));
                    } else {
                        while j < n && is_word_byte(s[j]) {
                            j += 1;
                        }
                        let _ = start;
                        out.push(tok(WORD, W_PLAIN));
                        i = j;
                    }
                } else {
                    out.push(tok(NUM, 0));
                }
            }
            b'a'..=b'z' | b'_' | 0x80..=0xff => {
                let start = i;
                while i < n && is_word_byte(s[i]) {
                    i += 1;
                }
                let w = &s[start..i];
                let mut j = i;
                while j < n && is_ws(s[j]) {
                    j += 1;
                }
                let call = j < n && s[j] == b'(';
                match keyword(w) {
                    Some((k, sub)) if !call || structural(w) || function(w) == F_OTHER => out.push(tok(k, sub)),
                    _ if call => out.push(tok(FUNC, function(w))),
                    _ => out.push(tok(WORD, word_sub(w))),
                }
            }
            b'@' => {
                let sys = next == b'@';
                i += if sys { 2 } else { 1 };
                while i < n && is_word_byte(s[i]) {
                    i += 1;
                }
                out.push(tok(VAR, if sys { V_SYS } else { V_USER }));
            }
            b'$' => {
                while i < n && is_word_byte(s[i]) {
                    i += 1;
                }
                out.push(tok(WORD, W_PLAIN));
            }
            b'-' if next == b'-' => {
                let end = memchr::memchr(b'\n', &s[i..]).map_or(n, |p| i + p);
                out.push(tok(CMT, comment_sub(&s[i + 2..end])));
                i = end;
            }
            b'#' => {
                let end = memchr::memchr(b'\n', &s[i..]).map_or(n, |p| i + p);
                out.push(tok(CMT, comment_sub(&s[i + 1..end])));
                i = end;
            }
            b'/' if next == b'*' => {
                if i + 2 < n && s[i + 2] == b'!' {
                    i += 3;
                    while i < n && s[i].is_ascii_digit() {
                        i += 1;
                    }
                } else {
                    match super::normalize::find(&s[i + 2..], b"*/") {
                        Some(p) => i = i + 2 + p + 2,
                        None => {
                            out.push(tok(CMT, comment_sub(&s[i + 2..])));
                            i = n;
                        }
                    }
                }
            }
            b'*' if next == b'/' => i += 2,
            b'(' => {
                out.push(tok(LP, 0));
                i += 1;
            }
            b')' => {
                out.push(tok(RP, 0));
                i += 1;
            }
            b',' => {
                out.push(tok(COMMA, 0));
                i += 1;
            }
            b';' => {
                out.push(tok(SEMI, 0));
                i += 1;
            }
            b'=' => {
                i += if next == b'=' { 2 } else { 1 };
                out.push(tok(OP, O_CMP));
            }
            b'<' | b'>' => {
                i += 1;
                let mut sub = O_CMP;
                if i < n && (s[i] == b'=' || s[i] == b'>') {
                    i += 1;
                    if i < n && s[i] == b'>' {
                        i += 1;
                    }
                } else if i < n && s[i] == c {
                    i += 1;
                    sub = O_ARITH;
                }
                out.push(tok(OP, sub));
            }
            b'!' => {
                if next == b'=' {
                    i += 2;
                    out.push(tok(OP, O_CMP));
                } else {
                    i += 1;
                    out.push(tok(KW, K_NOT));
                }
            }
            b'|' | b'&' if next == c => {
                i += 2;
                out.push(tok(LOGIC, 0));
            }
            b'*' => {
                i += 1;
                out.push(tok(OP, O_STAR));
            }
            b'+' | b'-' | b'/' | b'%' | b'^' | b'~' | b'|' | b'&' => {
                i += 1;
                out.push(tok(OP, O_ARITH));
            }
            b':' => {
                i += if next == b'=' { 2 } else { 1 };
                out.push(tok(OP, O_OTHER));
            }
            _ => {
                i += 1;
                out.push(tok(UNK, 0));
            }
        }
    }
    true
}

struct Toks<'a>(&'a [u16]);

impl<'a> Toks<'a> {
    fn at(&self, i: usize) -> (u8, u8) {
        match self.0.get(i) {
            Some(&t) => ((t >> 8) as u8, t as u8),
            None => (END, 0),
        }
    }
    fn k(&self, i: usize) -> u8 {
        self.at(i).0
    }
    fn is(&self, i: usize, k: u8, s: u8) -> bool {
        self.at(i) == (k, s)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// What may follow `select` in an injected statement: an item list.
fn select_tail(t: &Toks, j: usize) -> bool {
    let (k, s) = t.at(j);
    match k {
        NUM | STR | VAR | FUNC | LP => true,
        OP => s == O_STAR,
        KW => matches!(s, K_ALL | K_DISTINCT | K_TOP | K_CASE),
        WORD => {
            let (k1, s1) = t.at(j + 1);
            k1 == COMMA || k1 == CMT || k1 == SEMI || (k1 == KW && s1 == K_FROM) || (k1 == OP && s1 != O_OTHER)
        }
        _ => false,
    }
}

fn union_tail(t: &Toks, mut j: usize) -> bool {
    while t.is(j, KW, K_ALL) || t.is(j, KW, K_DISTINCT) || t.k(j) == LP {
        j += 1;
    }
    t.is(j, KW, K_SELECT) && select_tail(t, j + 1)
}

/// A statement start after `;` (stacked queries).
fn stmt(t: &Toks, j: usize) -> bool {
    let (k, s) = t.at(j);
    if k != KW {
        return false;
    }
    let (k1, s1) = t.at(j + 1);
    match s {
        K_SELECT => select_tail(t, j + 1),
        K_DROP | K_CREATE | K_ALTER | K_TRUNCATE => k1 == KW && s1 == K_OBJ,
        K_DELETE => k1 == KW && s1 == K_FROM,
        K_INSERT => k1 == KW && s1 == K_INTO,
        K_UPDATE => k1 == WORD && t.is(j + 2, KW, K_SET),
        K_EXEC => k1 == WORD || k1 == FUNC || k1 == LP,
        K_DECLARE | K_SET => k1 == VAR,
        K_SHUTDOWN => k1 == END || k1 == CMT || k1 == SEMI,
        K_WAITFOR => k1 == KW && s1 == K_DELAY || k1 == STR,
        _ => false,
    }
}

fn is_literal(k: u8) -> bool {
    k == NUM || k == STR
}

/// The expression after a logic operator. `strict` (no breakout seen, as in
/// `1 or 1=1`) requires literal comparisons or SQL functions.
fn after_logic(t: &Toks, mut j: usize, strict: bool, sens: u8) -> bool {
    while t.is(j, KW, K_NOT) || t.is(j, OP, O_ARITH) {
        j += 1;
    }
    let (k, s) = t.at(j);
    let (k1, s1) = t.at(j + 1);
    let (k2, _) = t.at(j + 2);
    match k {
        NUM => {
            if strict {
                (k1 == OP && s1 == O_CMP && (is_literal(k2) || k2 == FUNC || k2 == LP))
                    || (k1 == KW && s1 == K_CMPW && (is_literal(k2) || k2 == KW))
                    || k1 == CMT
                    || k1 == SEMI
            } else {
                matches!(k1, END | CMT | SEMI | LOGIC | OP | RP) || (k1 == KW && s1 == K_CMPW)
            }
        }
        STR => {
            if strict {
                (k1 == OP && s1 == O_CMP && (is_literal(k2) || k2 == FUNC)) || k1 == CMT
            } else {
                matches!(k1, OP | CMT | SEMI | LOGIC | RP)
                    || (k1 == KW && s1 == K_CMPW)
                    || (k1 == END && sens >= 3)
            }
        }
        WORD => {
            let rhs = if strict {
                is_literal(k2)
            } else {
                matches!(k2, NUM | STR | WORD | FUNC | VAR | LP)
            };
            (k1 == OP && s1 == O_CMP && rhs)
                || (k1 == KW && s1 == K_CMPW && (is_literal(k2) || k2 == KW))
                || (!strict && k1 == CMT && s1 == C_TRIVIAL)
        }
        FUNC => !strict || s != F_OTHER,
        LP => {
            let mut j2 = j + 1;
            while t.k(j2) == LP {
                j2 += 1;
            }
            let (a, as_) = t.at(j2);
            let (b, bs) = t.at(j2 + 1);
            (a == KW && as_ == K_SELECT)
                || (is_literal(a) && b == OP && bs == O_CMP)
                || (a == FUNC && (as_ != F_OTHER || !strict))
                || (!strict && a == WORD && b == OP && bs == O_CMP)
        }
        VAR => true,
        KW => s == K_EXISTS || s == K_CASE || (!strict && s == K_SELECT),
        _ => false,
    }
}

fn terminator(k: u8) -> bool {
    matches!(k, END | CMT | COMMA | SEMI | RP | LOGIC | KW)
}

/// Clauses that only make sense as an injected continuation.
fn clause(t: &Toks, i: usize) -> bool {
    let (k, s) = t.at(i);
    if k != KW {
        return false;
    }
    match s {
        K_ORDER | K_GROUP => {
            t.is(i + 1, KW, K_BY)
                && ((t.k(i + 2) == NUM && terminator(t.k(i + 3)))
                    || (t.k(i + 2) == WORD && (t.is(i + 3, KW, K_HAVING) || t.k(i + 3) == CMT)))
        }
        K_HAVING => matches!(t.k(i + 1), NUM | WORD | LP | FUNC | STR),
        K_WAITFOR => t.is(i + 1, KW, K_DELAY) || t.k(i + 1) == STR,
        K_INTO => t.is(i + 1, KW, K_OUTFILE),
        K_PROCEDURE => t.k(i + 1) == FUNC || t.k(i + 1) == WORD,
        K_LIMIT => t.k(i + 1) == NUM && (t.k(i + 2) == COMMA || t.k(i + 2) == CMT),
        _ => false,
    }
}

/// After a quote breakout (`t[0]` is the string the value closes).
fn breakout(t: &Toks, sens: u8) -> bool {
    let mut i = 1;
    while t.k(i) == RP {
        i += 1;
    }
    let (k, s) = t.at(i);
    match k {
        LOGIC => after_logic(t, i + 1, false, sens),
        CMT => s == C_TRIVIAL || sens >= 3,
        SEMI => matches!(t.k(i + 1), END | CMT) || stmt(t, i + 1),
        OP if s != O_OTHER => {
            let (k1, s1) = t.at(i + 1);
            let k2 = t.k(i + 2);
            match k1 {
                STR => matches!(k2, END | CMT | LOGIC | OP | SEMI | RP),
                NUM => matches!(k2, OP | LOGIC | CMT | SEMI) || (k2 == END && s == O_CMP),
                FUNC | VAR => true,
                LP => t.is(i + 2, KW, K_SELECT) || matches!(k2, NUM | STR | FUNC),
                KW => s1 == K_SELECT,
                _ => false,
            }
        }
        KW => (s == K_UNION && union_tail(t, i + 1)) || clause(t, i) || (sens >= 3 && s == K_CMPW),
        _ => false,
    }
}

/// As-is (numeric) context: a leading literal or name, then a continuation.
fn anchored(t: &Toks, sens: u8) -> bool {
    let mut i = 0;
    while t.is(i, OP, O_ARITH) || t.k(i) == LP {
        i += 1;
    }
    let first = t.k(i);
    if !matches!(first, NUM | WORD | STR) {
        return false;
    }
    i += 1;
    while t.k(i) == RP {
        i += 1;
    }
    let (k, s) = t.at(i);
    match k {
        LOGIC => after_logic(t, i + 1, true, sens),
        KW => clause(t, i),
        OP if s == O_ARITH || s == O_STAR => {
            let (k1, s1) = t.at(i + 1);
            (k1 == FUNC && s1 != F_OTHER) || (k1 == LP && t.is(i + 2, KW, K_SELECT))
        }
        CMT => sens >= 3 && first == NUM,
        _ => false,
    }
}

/// Patterns recognised wherever they occur.
fn anywhere(t: &Toks, sens: u8) -> bool {
    for i in 0..t.len() {
        let (k, s) = t.at(i);
        let hit = match k {
            KW => match s {
                K_UNION => union_tail(t, i + 1),
                K_WAITFOR => t.is(i + 1, KW, K_DELAY),
                K_EXEC => {
                    let (k1, s1) = t.at(i + 1);
                    (k1 == WORD && s1 != W_PLAIN) || (k1 == FUNC && s1 == F_STRONG)
                }
                _ => false,
            },
            SEMI => stmt(t, i + 1),
            LP => t.is(i + 1, KW, K_SELECT) && select_tail(t, i + 2),
            FUNC => match s {
                F_STRONG => true,
                F_SLEEP => {
                    let prev = if i > 0 { t.k(i - 1) } else { END };
                    matches!(prev, LOGIC | OP | LP | COMMA | SEMI)
                        || (i == 0
                            && t.k(i + 1) == LP
                            && t.k(i + 2) == NUM
                            && t.k(i + 3) == RP
                            && matches!(t.k(i + 4), CMT | LOGIC | SEMI))
                }
                _ => false,
            },
            VAR => s == V_SYS,
            WORD => s == W_STRONG,
            LOGIC => {
                let (a, b, c) = (t.at(i + 1), t.at(i + 2), t.at(i + 3));
                is_literal(a.0) && b == (OP, O_CMP) && is_literal(c.0) && a.0 == c.0
            }
            _ => false,
        };
        if hit {
            return true;
        }
        let _ = sens;
    }
    false
}

/// Whether `s` (normalised, lower case) is a SQL injection in some context.
#[cfg(test)]
pub(crate) fn is_sqli(s: &str, sens: u8, toks: &mut Vec<u16>) -> bool {
    is_sqli_classes(s, super::prefilter::classes(s.as_bytes()), sens, toks)
}

/// [`is_sqli`] given the byte classes `m` of `s`: a quote context is lexed
/// only when that quote occurs.
pub(crate) fn is_sqli_classes(s: &str, m: u64, sens: u8, toks: &mut Vec<u16>) -> bool {
    use super::prefilter::{BTICK, DQUOTE, SQUOTE};
    let b = s.as_bytes();
    for &(q, bit) in &[(0u8, u64::MAX), (b'\'', SQUOTE), (b'"', DQUOTE), (b'`', BTICK)] {
        if m & bit == 0 || !lex(b, q, toks) {
            continue;
        }
        let t = Toks(toks);
        let hit = if q == 0 { anchored(&t, sens) } else { breakout(&t, sens) };
        if hit || anywhere(&t, sens) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqli(s: &str) -> bool {
        is_sqli(&s.to_lowercase(), 2, &mut Vec::new())
    }

    #[test]
    fn tables_are_sorted() {
        assert!(KEYWORDS.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(FUNCTIONS.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(KEYWORD_KEYS.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(KEYWORDS.iter().map(|k| k.0.len()).max(), Some(KEYWORD_MAX));
        for (k, kind, sub) in KEYWORDS {
            assert_eq!(keyword(k), Some((*kind, *sub)));
        }
        assert_eq!(keyword(b"selects"), None);
        assert_eq!(keyword(b"a"), None);
    }

    #[test]
    fn classic_injections_are_found() {
        for s in [
            "' or 1=1--",
            "admin'--",
            "' OR 'a'='a",
            "1 AND 1=1",
            "1 union select 1,2,3",
            "1; DROP TABLE users",
            "1 ORDER BY 5",
            "' and sleep(5)#",
            "1' waitfor delay '0:0:5'--",
            "') or ('1'='1",
            "-1 UNION/**/SELECT null,null--",
            "benchmark(10000000,md5(1))",
            "1 and ascii(substring((select database()),1,1))>64",
        ] {
            assert!(sqli(s), "{}", s);
        }
    }

    #[test]
    fn prose_is_not_sql() {
        for s in [
            "select a plan and drop us a line",
            "O'Reilly",
            "Union of Soviet Socialist Republics",
            "1 or 2 items",
            "Let's meet at 5; don't be late",
            "the students' and teachers' union",
            "\"machine learning\" OR \"deep learning\"",
        ] {
            assert!(!sqli(s), "{}", s);
        }
    }
}
