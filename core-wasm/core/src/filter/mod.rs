//! Filter expressions: a Cloudflare-rules-language (wirefilter) style
//! language, and the `filter` rule built on it.
//!
//! ```text
//! http.request.uri.path matches "^/admin" and not ip.src in {10.0.0.0/8}
//! ```
//!
//! An expression is parsed and type-checked once ([`Expr::parse`]), with
//! regexes compiled then, and evaluated per request ([`Expr::eval`]) without
//! allocating unless a field needs decoding or a function builds a string.
//! Work is bounded by [`Limits`]: expression length, nesting depth (parsing
//! recurses only through `(`, `not` and function calls, so depth bounds the
//! stack) and compiled regex size. The language is described in
//! docs/rules.md.
//!
//! Configuration: `{"kind": "filter", "deny": [expr, ...]}` denies when any
//! expression is true; `{"kind": "filter", "allow": [expr, ...]}` denies when
//! none is. Exactly one of the lists is given, non-empty.

mod ast;
mod parse;

use serde_json::Value;

use crate::config::{string_list, ConfigError};
use crate::limits::Limits;
use crate::request::Request;
use crate::result::{json_str, Conclusion, RuleResult};

/// A parsed, type-checked filter expression.
#[derive(Debug)]
pub(crate) struct Expr {
    node: ast::Node,
}

impl Expr {
    /// Parses an expression; the error carries a message and byte position.
    pub(crate) fn parse(src: &str, limits: &Limits) -> Result<Expr, (String, usize)> {
        parse::Parser::parse(src, limits).map(|node| Expr { node })
    }

    /// Whether the expression holds for this request.
    pub(crate) fn eval(&self, req: &Request) -> bool {
        self.node.eval(req)
    }
}

#[derive(Debug)]
pub(crate) struct FilterRule {
    /// `true` for an allow list, `false` for a deny list.
    allow: bool,
    exprs: Vec<(Expr, String)>,
}

impl FilterRule {
    pub(crate) fn from_config(v: &Value, limits: &Limits) -> Result<Self, ConfigError> {
        let allow = string_list(v, "allow")?;
        let deny = string_list(v, "deny")?;
        let (is_allow, option, list) = match (allow.is_empty(), deny.is_empty()) {
            (false, true) => (true, "allow", allow),
            (true, false) => (false, "deny", deny),
            (false, false) => {
                return Err(ConfigError::new("allow", "give either `allow` or `deny`, not both"))
            }
            (true, true) => {
                return Err(ConfigError::new("deny", "one of `allow` or `deny` must be a non-empty list"))
            }
        };
        let mut exprs = Vec::with_capacity(list.len());
        for (i, src) in list.into_iter().enumerate() {
            let e = Expr::parse(&src, limits)
                .map_err(|(m, p)| ConfigError::new(&format!("{}[{}]", option, i), m).at(p))?;
            exprs.push((e, src));
        }
        Ok(FilterRule { allow: is_allow, exprs })
    }

    pub(crate) fn evaluate(&self, req: &Request) -> RuleResult {
        let hit = self.exprs.iter().position(|(e, _)| e.eval(req));
        let denied = hit.is_some() != self.allow;
        let mut reason = String::from("{\"type\":\"FILTER\",\"matched\":");
        match hit {
            Some(i) => {
                json_str(&mut reason, &self.exprs[i].1);
                reason.push_str(&format!(",\"index\":{}", i));
            }
            None => reason.push_str("null,\"index\":null"),
        }
        reason.push_str(if self.allow { ",\"list\":\"allow\"}" } else { ",\"list\":\"deny\"}" });
        RuleResult::new(if denied { Conclusion::Deny } else { Conclusion::Allow }, reason)
    }
}

#[cfg(test)]
mod tests;
