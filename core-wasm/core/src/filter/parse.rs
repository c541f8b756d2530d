//! The filter-expression parser: a recursive-descent parser over bytes
//! whose recursion is bounded by `Limits::max_expression_depth`.

use std::net::IpAddr;

use memchr::memmem;
use regex::RegexBuilder;

use super::ast::{ip_bits, parse_num, CmpOp, Field, IntTest, IpRange, Node, StrExpr, StrSet, StrTest, FIELD_NAMES};
use crate::limits::Limits;

/// A parse error: message and byte position.
pub(super) type PResult<T> = Result<T, (String, usize)>;

/// The typed left-hand side of a comparison.
enum Operand {
    Str(StrExpr),
    Len(StrExpr),
    Ip,
    Bool(Node),
}

const FUNCTIONS: &[&str] = &["lower", "upper", "len", "url_decode", "starts_with", "ends_with"];

pub(super) struct Parser<'s> {
    src: &'s str,
    b: &'s [u8],
    pos: usize,
    depth: usize,
    limits: &'s Limits,
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'.'
}

impl<'s> Parser<'s> {
    pub(super) fn parse(src: &'s str, limits: &'s Limits) -> PResult<Node> {
        if src.len() > limits.max_expression_len {
            return Err((
                format!(
                    "expression is {} bytes long, more than the limit of {}",
                    src.len(),
                    limits.max_expression_len
                ),
                limits.max_expression_len,
            ));
        }
        let mut p = Parser { src, b: src.as_bytes(), pos: 0, depth: 0, limits };
        let node = p.or()?;
        p.ws();
        if p.pos < p.b.len() {
            let msg = if p.b[p.pos] == b')' {
                "unbalanced `)`: no `(` to close".to_string()
            } else {
                format!("expected `and`, `or`, `xor` or the end of the expression, found {}", p.found())
            };
            return Err((msg, p.pos));
        }
        Ok(node)
    }

    // ---------------------------------------------------------------- lexing

    fn ws(&mut self) {
        while self.pos < self.b.len() && self.b[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    /// A short description of what stands at the current position.
    fn found(&self) -> String {
        if self.pos >= self.b.len() {
            return "the end of the expression".into();
        }
        let rest = &self.src[self.pos..];
        let end = rest
            .char_indices()
            .find(|&(i, c)| i > 0 && (c.is_whitespace() || i >= 24))
            .map_or(rest.len(), |(i, _)| i);
        format!("`{}`", &rest[..end])
    }

    fn peek_ident(&self) -> Option<&'s str> {
        let b = self.b;
        if self.pos < b.len() && is_ident_start(b[self.pos]) {
            let mut end = self.pos;
            while end < b.len() && is_ident(b[end]) {
                end += 1;
            }
            Some(&self.src[self.pos..end])
        } else {
            None
        }
    }

    /// Consumes the keyword `w` (a whole identifier) if it comes next.
    fn eat_word(&mut self, w: &str) -> bool {
        self.ws();
        if self.peek_ident() == Some(w) {
            self.pos += w.len();
            true
        } else {
            false
        }
    }

    fn eat_sym(&mut self, s: &str) -> bool {
        self.ws();
        if self.b[self.pos..].starts_with(s.as_bytes()) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    fn expect_sym(&mut self, s: &str, what: &str) -> PResult<()> {
        if self.eat_sym(s) {
            Ok(())
        } else {
            Err((format!("expected `{}` {}, found {}", s, what, self.found()), self.pos))
        }
    }

    fn enter(&mut self, at: usize) -> PResult<()> {
        self.depth += 1;
        if self.depth > self.limits.max_expression_depth {
            return Err((
                format!("expression nested deeper than the limit of {} levels", self.limits.max_expression_depth),
                at,
            ));
        }
        Ok(())
    }

    // ------------------------------------------------------------- structure

    fn or(&mut self) -> PResult<Node> {
        let mut v = vec![self.xor()?];
        while self.eat_word("or") || self.eat_sym("||") {
            v.push(self.xor()?);
        }
        Ok(if v.len() == 1 { v.pop().expect("one") } else { Node::Or(v) })
    }

    fn xor(&mut self) -> PResult<Node> {
        let mut v = vec![self.and()?];
        while self.eat_word("xor") || self.eat_sym("^^") {
            v.push(self.and()?);
        }
        Ok(if v.len() == 1 { v.pop().expect("one") } else { Node::Xor(v) })
    }

    fn and(&mut self) -> PResult<Node> {
        let mut v = vec![self.unary()?];
        while self.eat_word("and") || self.eat_sym("&&") {
            v.push(self.unary()?);
        }
        Ok(if v.len() == 1 { v.pop().expect("one") } else { Node::And(v) })
    }

    fn unary(&mut self) -> PResult<Node> {
        self.ws();
        let at = self.pos;
        let bang = self.b[at..].starts_with(b"!") && !self.b[at..].starts_with(b"!=");
        if bang || self.peek_ident() == Some("not") {
            self.pos += if bang { 1 } else { 3 };
            self.enter(at)?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Node::Not(Box::new(inner)));
        }
        if self.eat_sym("(") {
            self.enter(at)?;
            let inner = self.or()?;
            self.expect_sym(")", &format!("to close the `(` at position {}", at))?;
            self.depth -= 1;
            return Ok(inner);
        }
        self.comparison()
    }

    // ------------------------------------------------------------- operands

    fn operand(&mut self) -> PResult<(Operand, String)> {
        self.ws();
        let start = self.pos;
        let name = match self.peek_ident() {
            Some(n) => n,
            None => {
                return Err((format!("expected a field, a function, `not` or `(`, found {}", self.found()), start))
            }
        };
        self.pos += name.len();
        self.ws();
        if self.pos < self.b.len() && self.b[self.pos] == b'(' {
            if !FUNCTIONS.contains(&name) {
                return Err((
                    format!("unknown function {:?}; known: {}", name, FUNCTIONS.join(", ")),
                    start,
                ));
            }
            return self.function(name, start);
        }
        if FUNCTIONS.contains(&name) {
            return Err((format!("expected `(` after function {}, found {}", name, self.found()), self.pos));
        }
        let field = self.field(name, start)?;
        let desc = format!("field {}", &self.src[start..self.pos].trim_end());
        Ok((if field == Field::IpSrc { Operand::Ip } else { Operand::Str(StrExpr::Field(field)) }, desc))
    }

    fn field(&mut self, name: &'s str, start: usize) -> PResult<Field> {
        if let Some(f) = Field::plain(name) {
            return Ok(f);
        }
        if let Some(local) = name.strip_prefix("local.") {
            if !local.is_empty() && !local.contains('.') {
                return Ok(Field::Local(local.to_string()));
            }
        }
        if Field::is_map(name) {
            if !self.eat_sym("[") {
                return Err((
                    format!("field {} needs a key in brackets, e.g. {}[\"name\"]", name, name),
                    self.pos,
                ));
            }
            self.ws();
            let key_at = self.pos;
            let key = self.string("a quoted key")?;
            if key.is_empty() {
                return Err(("the key must not be empty".into(), key_at));
            }
            self.expect_sym("]", "to close the key")?;
            return Ok(Field::map(name, &key).expect("is_map"));
        }
        let mut msg = format!("unknown field {:?}", name);
        if let Some(s) = closest_field(name) {
            msg.push_str(&format!(" (did you mean {:?}?)", s));
        }
        Err((msg, start))
    }

    fn function(&mut self, name: &str, start: usize) -> PResult<(Operand, String)> {
        self.pos += 1; // (
        self.enter(start)?;
        self.ws();
        let arg_at = self.pos;
        let (arg, _) = self.operand()?;
        let arg = match arg {
            Operand::Str(e) => e,
            Operand::Ip => StrExpr::Field(Field::IpSrc),
            _ => return Err((format!("{}() takes a string (a field or lower/upper/url_decode)", name), arg_at)),
        };
        let out = match name {
            "lower" => Operand::Str(StrExpr::Lower(Box::new(arg))),
            "upper" => Operand::Str(StrExpr::Upper(Box::new(arg))),
            "url_decode" => Operand::Str(StrExpr::UrlDecode(Box::new(arg))),
            "len" => Operand::Len(arg),
            _ => {
                self.expect_sym(",", &format!("and a second argument to {}()", name))?;
                self.ws();
                let s = self.string("a quoted string")?;
                Operand::Bool(if name == "starts_with" {
                    Node::StartsWith(arg, s)
                } else {
                    Node::EndsWith(arg, s)
                })
            }
        };
        self.expect_sym(")", &format!("to close {}(", name))?;
        self.depth -= 1;
        let desc = self.src[start..self.pos].trim_end().to_string();
        Ok((out, desc))
    }

    // ------------------------------------------------------------ comparison

    fn comparison(&mut self) -> PResult<Node> {
        let (lhs, desc) = self.operand()?;
        if let Operand::Bool(node) = lhs {
            return Ok(node);
        }
        self.ws();
        let op_at = self.pos;
        let op = self.operator().ok_or_else(|| {
            (format!("expected an operator after {}, found {}", desc, self.found()), op_at)
        })?;
        self.ws();
        let rhs_at = self.pos;
        let (negate, node) = match lhs {
            Operand::Bool(_) => unreachable!("returned above"),
            Operand::Str(e) => self.str_test(e, op, rhs_at)?,
            Operand::Len(e) => self.len_test(e, op, op_at, &desc)?,
            Operand::Ip => self.ip_test(op, op_at)?,
        };
        Ok(if negate { Node::Not(Box::new(node)) } else { node })
    }

    fn operator(&mut self) -> Option<Op> {
        for (sym, op) in [
            ("==", Op::Cmp(CmpOp::Eq, false)),
            ("!=", Op::Cmp(CmpOp::Eq, true)),
            ("<=", Op::Cmp(CmpOp::Le, false)),
            (">=", Op::Cmp(CmpOp::Ge, false)),
            ("<", Op::Cmp(CmpOp::Lt, false)),
            (">", Op::Cmp(CmpOp::Gt, false)),
            ("~", Op::Matches),
        ] {
            if self.b[self.pos..].starts_with(sym.as_bytes()) {
                self.pos += sym.len();
                return Some(op);
            }
        }
        let word = self.peek_ident()?;
        let op = match word {
            "eq" => Op::Cmp(CmpOp::Eq, false),
            "ne" => Op::Cmp(CmpOp::Eq, true),
            "lt" => Op::Cmp(CmpOp::Lt, false),
            "le" => Op::Cmp(CmpOp::Le, false),
            "gt" => Op::Cmp(CmpOp::Gt, false),
            "ge" => Op::Cmp(CmpOp::Ge, false),
            "contains" => Op::Contains,
            "matches" => Op::Matches,
            "in" => Op::In(false),
            "not" => {
                let save = self.pos;
                self.pos += 3;
                if self.eat_word("in") {
                    return Some(Op::In(true));
                }
                self.pos = save;
                return None;
            }
            _ => return None,
        };
        self.pos += word.len();
        Some(op)
    }

    fn str_test(&mut self, e: StrExpr, op: Op, rhs_at: usize) -> PResult<(bool, Node)> {
        Ok(match op {
            Op::Cmp(cmp, negate) => {
                let (text, is_num) = self.str_or_number()?;
                let num = if is_num || cmp != CmpOp::Eq { parse_num(&text) } else { None };
                (negate, Node::Str(e, StrTest::Cmp { op: cmp, text, num }))
            }
            Op::Contains => {
                let s = self.string("a quoted string after `contains`")?;
                (false, Node::Str(e, StrTest::Contains(memmem::Finder::new(s.as_bytes()).into_owned())))
            }
            Op::Matches => {
                let pat = self.regex_literal()?;
                let re = RegexBuilder::new(&pat)
                    .size_limit(self.limits.max_regex_size)
                    .dfa_size_limit(self.limits.max_regex_size.max(1 << 20))
                    .build()
                    .map_err(|err| (format!("invalid regular expression: {}", regex_error(&err)), rhs_at))?;
                (false, Node::Str(e, StrTest::Matches(re)))
            }
            Op::In(negate) => {
                let items = self.set(|p| {
                    let at = p.pos;
                    if p.at_string() {
                        return p.string("a string");
                    }
                    let tok = p.bare();
                    if parse_num(tok).is_some() {
                        Ok(tok.to_string())
                    } else {
                        Err((format!("expected a quoted string or a number in the set, found {}", p.found_at(at, tok)), at))
                    }
                })?;
                (negate, Node::Str(e, StrTest::In(StrSet::new(items))))
            }
        })
    }

    fn len_test(&mut self, e: StrExpr, op: Op, op_at: usize, desc: &str) -> PResult<(bool, Node)> {
        Ok(match op {
            Op::Cmp(cmp, negate) => {
                let at = self.pos;
                let n = self.integer().ok_or_else(|| {
                    (format!("expected an integer to compare with {}, found {}", desc, self.found()), at)
                })?;
                (negate, Node::Len(e, IntTest::Cmp(cmp, n)))
            }
            Op::In(negate) => {
                let ranges = self.set(|p| {
                    let at = p.pos;
                    let lo = p.integer().ok_or_else(|| (format!("expected an integer in the set, found {}", p.found()), at))?;
                    if p.b[p.pos..].starts_with(b"..") {
                        p.pos += 2;
                        let at = p.pos;
                        let hi = p.integer().ok_or_else(|| (format!("expected the end of the range, found {}", p.found()), at))?;
                        return Ok((lo, hi));
                    }
                    Ok((lo, lo))
                })?;
                (negate, Node::Len(e, IntTest::In(ranges)))
            }
            Op::Contains | Op::Matches => {
                return Err((format!("{} is an integer: use ==, !=, <, <=, >, >=, in or not in", desc), op_at))
            }
        })
    }

    fn ip_test(&mut self, op: Op, op_at: usize) -> PResult<(bool, Node)> {
        Ok(match op {
            Op::Cmp(CmpOp::Eq, negate) => {
                let at = self.pos;
                let tok = self.bare();
                let addr = parse_ip(tok).ok_or_else(|| {
                    (format!("expected an IP address after `==`/`!=` for ip.src, found {}", self.found_at(at, tok)), at)
                })?;
                let (_, bits, _) = ip_bits(addr);
                (negate, Node::Ip(vec![IpRange::cidr(addr, bits)]))
            }
            Op::In(negate) => {
                let ranges = self.set(|p| {
                    let at = p.pos;
                    let tok = p.bare();
                    parse_cidr(tok).map_err(|m| (format!("{}, found {}", m, p.found_at(at, tok)), at))
                })?;
                (negate, Node::Ip(ranges))
            }
            _ => {
                return Err((
                    "ip.src is an IP address: use ==, !=, in or not in (with addresses and CIDR ranges)".into(),
                    op_at,
                ))
            }
        })
    }

    /// `{ item item, item }`: items separated by spaces and/or commas.
    fn set<T>(&mut self, mut item: impl FnMut(&mut Self) -> PResult<T>) -> PResult<Vec<T>> {
        self.ws();
        let open = self.pos;
        if !self.eat_sym("{") {
            return Err((format!("expected `{{` to start a set after `in`, found {}", self.found()), self.pos));
        }
        let mut out = Vec::new();
        loop {
            while self.pos < self.b.len() && (self.b[self.pos].is_ascii_whitespace() || self.b[self.pos] == b',') {
                self.pos += 1;
            }
            if self.pos >= self.b.len() {
                return Err((format!("expected `}}` to close the set opened at position {}", open), self.pos));
            }
            if self.b[self.pos] == b'}' {
                self.pos += 1;
                break;
            }
            out.push(item(self)?);
        }
        if out.is_empty() {
            return Err(("the set is empty".into(), open));
        }
        Ok(out)
    }

    // -------------------------------------------------------------- literals

    fn at_string(&self) -> bool {
        let rest = &self.b[self.pos..];
        rest.starts_with(b"\"") || rest.starts_with(b"r\"") || rest.starts_with(b"r#")
    }

    /// A bare token (numbers, addresses, CIDRs): up to a space, comma,
    /// brace or parenthesis.
    fn bare(&mut self) -> &'s str {
        let start = self.pos;
        while self.pos < self.b.len() {
            let c = self.b[self.pos];
            if c.is_ascii_whitespace() || matches!(c, b',' | b'{' | b'}' | b'(' | b')') {
                break;
            }
            self.pos += 1;
        }
        &self.src[start..self.pos]
    }

    fn found_at(&self, at: usize, tok: &str) -> String {
        if tok.is_empty() {
            if at >= self.b.len() {
                "the end of the expression".into()
            } else {
                format!("`{}`", &self.src[at..].chars().next().map(String::from).unwrap_or_default())
            }
        } else {
            format!("`{}`", tok)
        }
    }

    fn integer(&mut self) -> Option<i64> {
        self.ws();
        let start = self.pos;
        if self.pos < self.b.len() && self.b[self.pos] == b'-' {
            self.pos += 1;
        }
        while self.pos < self.b.len() && self.b[self.pos].is_ascii_digit() {
            self.pos += 1;
        }
        match self.src[start..self.pos].parse() {
            Ok(n) => Some(n),
            Err(_) => {
                self.pos = start;
                None
            }
        }
    }

    /// A string literal, or a number (its text, flagged as a number).
    fn str_or_number(&mut self) -> PResult<(String, bool)> {
        self.ws();
        if self.at_string() {
            return Ok((self.string("a string")?, false));
        }
        let at = self.pos;
        let tok = self.bare();
        if parse_num(tok).is_some() {
            return Ok((tok.to_string(), true));
        }
        self.pos = at;
        Err((format!("expected a quoted string or a number, found {}", self.found()), at))
    }

    /// A raw string body `r"..."` / `r#"..."#`, if one starts here.
    fn raw_string(&mut self) -> PResult<Option<String>> {
        let start = self.pos;
        if !self.b[start..].starts_with(b"r\"") && !self.b[start..].starts_with(b"r#") {
            return Ok(None);
        }
        let mut i = start + 1;
        let mut hashes = 0;
        while i < self.b.len() && self.b[i] == b'#' {
            hashes += 1;
            i += 1;
        }
        if i >= self.b.len() || self.b[i] != b'"' {
            return Err(("expected `\"` to start the raw string".into(), i));
        }
        let body = i + 1;
        let mut close = String::from("\"");
        close.push_str(&"#".repeat(hashes));
        match self.src[body..].find(&close) {
            Some(len) => {
                self.pos = body + len + close.len();
                Ok(Some(self.src[body..body + len].to_string()))
            }
            None => Err(("unterminated raw string".into(), start)),
        }
    }

    /// A quoted string: `"..."` with `\"`, `\\`, `\n`, `\r`, `\t`, `\xHH`
    /// escapes, or a raw string.
    fn string(&mut self, what: &str) -> PResult<String> {
        self.ws();
        if let Some(s) = self.raw_string()? {
            return Ok(s);
        }
        let start = self.pos;
        if self.pos >= self.b.len() || self.b[self.pos] != b'"' {
            return Err((format!("expected {}, found {}", what, self.found()), start));
        }
        self.pos += 1;
        let mut out = String::new();
        loop {
            let rest = &self.src[self.pos..];
            let c = match rest.chars().next() {
                Some(c) => c,
                None => return Err(("unterminated string".into(), start)),
            };
            match c {
                '"' => {
                    self.pos += 1;
                    return Ok(out);
                }
                '\\' => {
                    let esc_at = self.pos;
                    let n = rest[1..].chars().next();
                    let (ch, len) = match n {
                        Some('"') => ('"', 2),
                        Some('\\') => ('\\', 2),
                        Some('n') => ('\n', 2),
                        Some('r') => ('\r', 2),
                        Some('t') => ('\t', 2),
                        Some('x') => {
                            let v = rest.get(2..4).and_then(|h| u8::from_str_radix(h, 16).ok()).filter(|v| *v < 0x80);
                            match v {
                                Some(v) => (v as char, 4),
                                None => return Err(("`\\x` needs two hex digits below 80".into(), esc_at)),
                            }
                        }
                        Some(o) => {
                            return Err((
                                format!("unknown escape `\\{}` (known: \\\" \\\\ \\n \\r \\t \\xHH; use r\"...\" for raw text)", o),
                                esc_at,
                            ))
                        }
                        None => return Err(("unterminated string".into(), start)),
                    };
                    out.push(ch);
                    self.pos += len;
                }
                c => {
                    out.push(c);
                    self.pos += c.len_utf8();
                }
            }
        }
    }

    /// A regex literal: a quoted string whose backslashes reach the regex
    /// engine unchanged (`"^/v\d+/"`), except `\"` which stands for `"`;
    /// or a raw string.
    fn regex_literal(&mut self) -> PResult<String> {
        self.ws();
        if let Some(s) = self.raw_string()? {
            return Ok(s);
        }
        let start = self.pos;
        if self.pos >= self.b.len() || self.b[self.pos] != b'"' {
            return Err((format!("expected a quoted regular expression, found {}", self.found()), start));
        }
        let mut i = self.pos + 1;
        let mut out = String::new();
        let mut seg = i;
        loop {
            match self.b.get(i) {
                None => return Err(("unterminated string".into(), start)),
                Some(b'"') => break,
                Some(b'\\') if self.b.get(i + 1) == Some(&b'"') => {
                    out.push_str(&self.src[seg..i]);
                    out.push('"');
                    i += 2;
                    seg = i;
                }
                Some(b'\\') => i += 2,
                Some(_) => i += 1,
            }
        }
        out.push_str(&self.src[seg..i]);
        self.pos = i + 1;
        Ok(out)
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    /// Comparison and whether it is negated (`!=`).
    Cmp(CmpOp, bool),
    Contains,
    Matches,
    /// `in`, or `not in` when negated.
    In(bool),
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    s.parse().ok()
}

fn parse_cidr(s: &str) -> Result<IpRange, String> {
    let (addr, prefix) = match s.find('/') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let addr = parse_ip(addr).ok_or_else(|| "expected an IP address or a CIDR range".to_string())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) => match p.parse::<u32>() {
            Ok(n) if n <= max => n,
            _ => return Err(format!("invalid prefix length (0 to {})", max)),
        },
    };
    // An IPv4-mapped IPv6 address counts as IPv4: adjust its prefix.
    let (v6, _, _) = ip_bits(addr);
    let prefix = if !v6 && max == 128 { prefix.saturating_sub(96) } else { prefix };
    Ok(IpRange::cidr(addr, prefix))
}

fn regex_error(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(s) => {
            s.lines().rev().find(|l| l.starts_with("error:")).unwrap_or(s.as_str()).trim_start_matches("error: ").to_string()
        }
        regex::Error::CompiledTooBig(limit) => format!("compiled size exceeds the limit of {} bytes", limit),
        other => other.to_string(),
    }
}

/// The known field closest to a misspelt one.
fn closest_field(name: &str) -> Option<&'static str> {
    let mut best: Option<(usize, &'static str)> = None;
    for f in FIELD_NAMES {
        let f: &'static str = f.trim_end_matches("[]");
        let d = edit_distance(name, f);
        if d <= 3 && best.map_or(true, |(bd, _)| d < bd) {
            best = Some((d, f));
        }
    }
    best.map(|(_, f)| f)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
