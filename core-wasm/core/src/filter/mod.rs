//! Filter expressions (placeholder: being built).

use serde_json::Value;

use crate::config::{string_list, ConfigError};
use crate::limits::Limits;
use crate::request::Request;
use crate::result::{Conclusion, RuleResult};

#[derive(Debug)]
pub(crate) struct Expr {
    src: String,
}

impl Expr {
    /// Parses an expression; the error carries a message and byte position.
    pub(crate) fn parse(src: &str, limits: &Limits) -> Result<Expr, (String, usize)> {
        if src.len() > limits.max_expression_len {
            return Err(("expression too long".into(), limits.max_expression_len));
        }
        Ok(Expr { src: src.to_string() })
    }

    pub(crate) fn eval(&self, req: &Request) -> bool {
        let _ = (&self.src, req);
        false
    }
}

#[derive(Debug)]
pub(crate) struct FilterRule {
    deny: Vec<Expr>,
}

impl FilterRule {
    pub(crate) fn from_config(v: &Value, limits: &Limits) -> Result<Self, ConfigError> {
        let mut deny = Vec::new();
        for s in string_list(v, "deny")? {
            deny.push(Expr::parse(&s, limits).map_err(|(m, p)| ConfigError::new("deny", m).at(p))?);
        }
        Ok(FilterRule { deny })
    }

    pub(crate) fn evaluate(&self, req: &Request) -> RuleResult {
        let hit = self.deny.iter().any(|e| e.eval(req));
        let c = if hit { Conclusion::Deny } else { Conclusion::Allow };
        RuleResult::new(c, "{\"type\":\"FILTER\"}".into())
    }
}
