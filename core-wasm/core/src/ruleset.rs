//! A compiled rule set: parsed once, evaluated per request.
//!
//! Cheap rules (bot, filter, the `match` of remote rules) are evaluated
//! before expensive ones (the shield), whatever their order in the set: a
//! request built to exhaust the host's work budget (fuel or wall-clock) in
//! the shield has already been judged by every cheap rule when it does.
//! [`RuleSet::evaluate_with`] hands the host, before each expensive rule,
//! the results it should answer if the budget runs out from there on.

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

    /// Evaluates every rule on one request; results are in rule order.
    pub fn evaluate(&self, req: &Request) -> Vec<RuleResult> {
        self.evaluate_with(req, None)
    }

    /// [`RuleSet::evaluate`], calling `checkpoint` before each expensive
    /// rule with the results as they stand: every cheap rule's own, those
    /// of the expensive rules already evaluated, and for the others the
    /// result their configuration gives a request that exhausts the budget
    /// (see `on_budget_exhausted` in docs/shield.md). A host whose budget
    /// runs out inside an expensive rule answers the last checkpoint.
    pub fn evaluate_with(&self, req: &Request, mut checkpoint: Option<&mut dyn FnMut(&[RuleResult])>) -> Vec<RuleResult> {
        let mut results: Vec<RuleResult> = self
            .rules
            .iter()
            .map(|rule| match rule {
                Compiled::Bot(r) => r.evaluate(req),
                Compiled::Email(r) => r.evaluate(req),
                Compiled::Filter(r) => r.evaluate(req),
                Compiled::Remote(r) => r.evaluate(req),
                Compiled::Shield(r) if checkpoint.is_some() => r.exhausted(),
                Compiled::Shield(_) => RuleResult::new(Conclusion::NotRun, String::new()),
            })
            .collect();
        for (i, rule) in self.rules.iter().enumerate() {
            if let Compiled::Shield(r) = rule {
                if let Some(cp) = checkpoint.as_mut() {
                    cp(&results);
                }
                results[i] = r.evaluate(req);
            }
        }
        results
    }
}

impl RemoteRule {
    fn evaluate(&self, req: &Request) -> RuleResult {
        let applies = self.matcher.as_ref().map_or(true, |m| m.eval(req));
        let mut reason = String::from("{\"type\":");
        json_str(&mut reason, &self.kind);
        reason.push('}');
        let c = if applies { Conclusion::NeedsRemote } else { Conclusion::NotRun };
        RuleResult::new(c, reason)
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
    fn cheap_rules_are_decided_before_the_shield_whatever_their_order() {
        let rs = RuleSet::compile(
            r#"{"rules":[{"kind":"shield"},{"kind":"bot","deny":["CURL"]},{"kind":"shield","on_budget_exhausted":"allow"},{"kind":"filter","deny":["http.request.uri.path matches \"^/admin\""]}]}"#,
        )
        .unwrap();
        let req = Request {
            path: "/admin".into(),
            query: "q=1%27%20or%201=1--".into(),
            headers: vec![("user-agent".into(), "curl/8.4.0".into())],
            ..Default::default()
        };
        let mut seen: Vec<Vec<(Conclusion, String)>> = Vec::new();
        let mut cp = |r: &[RuleResult]| seen.push(r.iter().map(|x| (x.conclusion, x.reason.clone())).collect());
        let results = rs.evaluate_with(&req, Some(&mut cp));
        assert_eq!(seen.len(), 2, "one checkpoint before each shield");
        // Before the first shield: both cheap rules decided, both shields at
        // their exhausted verdict (deny by default, allow when configured).
        let first = &seen[0];
        assert_eq!(first[1].0, Conclusion::Deny);
        assert_eq!(first[3].0, Conclusion::Deny);
        assert_eq!(first[0].0, Conclusion::Deny);
        assert!(first[0].1.contains("\"category\":\"INSPECTION_BUDGET\""), "{}", first[0].1);
        assert_eq!(first[2].0, Conclusion::Allow);
        assert!(first[2].1.contains("\"budget\":\"exhausted\""), "{}", first[2].1);
        // Before the second: the first shield's own result is in.
        assert_eq!(seen[1][0], (results[0].conclusion, results[0].reason.clone()));
        assert!(results[0].reason.contains("SQL_INJECTION"));
        assert_eq!(seen[1][2].0, Conclusion::Allow);
        // Without a checkpoint, the same results.
        let plain = rs.evaluate(&req);
        assert_eq!(plain, results);
    }

    #[test]
    fn invalid_json_is_a_config_error() {
        assert!(RuleSet::compile("{").is_err());
    }
}
