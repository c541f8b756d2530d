//! A compiled rule set: parsed once, evaluated per request.

use serde_json::Value;

use crate::bot::BotRule;
use crate::config::{opt_str, ConfigError};
use crate::email::EmailRule;
use crate::filter::{Expr, FilterRule};
use crate::limits::Limits;
use crate::request::Request;
use crate::result::{json_str, Conclusion, RuleResult};
use crate::shield::ShieldRule;

/// A rule decided by the decide service (rate limits, ...). The core only
/// evaluates its optional `match` expression to say whether it applies.
#[derive(Debug)]
pub(crate) struct RemoteRule {
    kind: String,
    matcher: Option<Expr>,
}

#[derive(Debug)]
enum Compiled {
    Bot(BotRule),
    Email(EmailRule),
    Filter(FilterRule),
    Shield(ShieldRule),
    Remote(RemoteRule),
}

/// Every rule of one guard, compiled.
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<Compiled>,
}

const REMOTE_KINDS: &[&str] = &["fixed_window", "sliding_window", "token_bucket", "remote"];

impl RuleSet {
    /// Compiles a JSON configuration `{"rules": [{"kind": ..., ...}, ...]}`.
    pub fn compile(config: &str) -> Result<RuleSet, ConfigError> {
        let v: Value = serde_json::from_str(config).map_err(|e| {
            ConfigError::new("config", format!("invalid JSON: {}", e)).at(e.column())
        })?;
        let limits = Limits::default();
        let list = v
            .get("rules")
            .and_then(Value::as_array)
            .ok_or_else(|| ConfigError::new("rules", "must be a list"))?;
        let mut rules = Vec::with_capacity(list.len());
        for (i, rule) in list.iter().enumerate() {
            let kind = rule.get("kind").and_then(Value::as_str).unwrap_or("").to_string();
            let compiled = Self::compile_rule(&kind, rule, &limits).map_err(|mut e| {
                e.rule = Some(i);
                e.kind = kind.clone();
                e
            })?;
            rules.push(compiled);
        }
        Ok(RuleSet { rules })
    }

    fn compile_rule(kind: &str, rule: &Value, limits: &Limits) -> Result<Compiled, ConfigError> {
        match kind {
            "bot" => Ok(Compiled::Bot(BotRule::from_config(rule)?)),
            "email" => Ok(Compiled::Email(EmailRule::from_config(rule)?)),
            "filter" => Ok(Compiled::Filter(FilterRule::from_config(rule, limits)?)),
            "shield" => Ok(Compiled::Shield(ShieldRule::from_config(rule, limits)?)),
            k if REMOTE_KINDS.contains(&k) => {
                let matcher = match opt_str(rule, "match")? {
                    Some(src) => Some(
                        Expr::parse(src, limits)
                            .map_err(|(m, p)| ConfigError::new("match", m).at(p))?,
                    ),
                    None => None,
                };
                Ok(Compiled::Remote(RemoteRule { kind: k.to_string(), matcher }))
            }
            "" => Err(ConfigError::new("kind", "missing")),
            other => Err(ConfigError::new("kind", format!("unknown rule kind {:?}", other))),
        }
    }

    /// How many rules the set holds.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether the set holds no rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Evaluates every rule on one request.
    pub fn evaluate(&self, req: &Request) -> Vec<RuleResult> {
        self.rules
            .iter()
            .map(|rule| match rule {
                Compiled::Bot(r) => r.evaluate(req),
                Compiled::Email(r) => r.evaluate(req),
                Compiled::Filter(r) => r.evaluate(req),
                Compiled::Shield(r) => r.evaluate(req),
                Compiled::Remote(r) => {
                    let applies = r.matcher.as_ref().map_or(true, |m| m.eval(req));
                    let mut reason = String::from("{\"type\":");
                    json_str(&mut reason, &r.kind);
                    reason.push('}');
                    let c = if applies { Conclusion::NeedsRemote } else { Conclusion::NotRun };
                    RuleResult::new(c, reason)
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_kind_names_the_rule() {
        let e = RuleSet::compile(r#"{"rules":[{"kind":"bot","deny":["CURL"]},{"kind":"nope"}]}"#).unwrap_err();
        assert_eq!(e.rule, Some(1));
        assert!(e.message.contains("nope"));
    }

    #[test]
    fn invalid_json_is_a_config_error() {
        assert!(RuleSet::compile("{").is_err());
    }
}
