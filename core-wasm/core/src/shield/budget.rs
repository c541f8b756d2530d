//! How much of a request the shield inspects, and what it concludes past
//! that: the header limit (`header_limit`, `on_header_limit`), the body
//! limit's policy (`on_body_limit`), and the verdict on a request that
//! exhausts the host's work budget (`on_budget_exhausted`). See
//! docs/shield.md.

use serde_json::Value;

use crate::config::{opt_str, ConfigError};
use crate::result::{Conclusion, RuleResult};

/// What to do with a part of the request larger than its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnLimit {
    /// Inspect none of it (noted `over_limit_not_inspected`).
    Allow,
    /// Report the part's `*_LIMIT` category.
    Deny,
    /// Inspect its first `limit` bytes (noted `prefix_inspected`).
    Prefix,
}

impl OnLimit {
    pub(crate) fn from_config(v: &Value, option: &str, default: OnLimit) -> Result<OnLimit, ConfigError> {
        match opt_str(v, option)? {
            None => Ok(default),
            Some("prefix") => Ok(OnLimit::Prefix),
            Some("allow") => Ok(OnLimit::Allow),
            Some("deny") => Ok(OnLimit::Deny),
            Some(other) => Err(ConfigError::new(option, format!("unknown value {:?}; expected \"allow\", \"deny\" or \"prefix\"", other))),
        }
    }
}

/// The verdict on a request whose inspection exhausted the host's budget
/// (fuel or wall-clock): such a request was built to, or is far outside
/// what applications receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnExhausted {
    Allow,
    Deny,
}

impl OnExhausted {
    pub(crate) fn from_config(v: &Value) -> Result<OnExhausted, ConfigError> {
        match opt_str(v, "on_budget_exhausted")? {
            None | Some("deny") => Ok(OnExhausted::Deny),
            Some("allow") => Ok(OnExhausted::Allow),
            Some(other) => Err(ConfigError::new("on_budget_exhausted", format!("unknown value {:?}; expected \"deny\" or \"allow\"", other))),
        }
    }

    /// The result the host answers for this rule when the budget runs out
    /// while the shield inspects a request.
    pub(crate) fn result(self) -> RuleResult {
        match self {
            OnExhausted::Deny => RuleResult::new(Conclusion::Deny, EXHAUSTED_DENY.to_string()),
            OnExhausted::Allow => RuleResult::new(Conclusion::Allow, EXHAUSTED_ALLOW.to_string()),
        }
    }
}

const EXHAUSTED_DENY: &str = "{\"type\":\"SHIELD\",\"category\":\"INSPECTION_BUDGET\",\"location\":\"request\",\"excerpt\":\"inspection budget exhausted\",\"suspicious\":true,\"findings\":1,\"budget\":\"exhausted\"}";
const EXHAUSTED_ALLOW: &str = "{\"type\":\"SHIELD\",\"suspicious\":false,\"budget\":\"exhausted\"}";

/// Header bytes left to inspect under `on_header_limit: "prefix"`.
pub(crate) struct Room(pub(crate) usize);

impl Room {
    /// The part of `value` that fits, taken from the room left; empty once
    /// the room is used up.
    pub(crate) fn take<'v>(&mut self, value: &'v str) -> &'v str {
        let v = super::cut(value, self.0);
        self.0 -= v.len();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Request;
    use crate::ruleset::RuleSet;

    fn eval(shield: &str, req: &Request) -> (Conclusion, Value) {
        let set = RuleSet::compile(&format!(r#"{{"rules":[{}]}}"#, shield)).unwrap();
        let r = set.evaluate(req).remove(0);
        (r.conclusion, serde_json::from_str(&r.reason).unwrap())
    }

    /// `n` padding headers of `size` bytes, then an attack in `x-last`.
    fn padded(n: usize, size: usize) -> Request<'static> {
        let mut headers: Vec<(std::borrow::Cow<'static, str>, std::borrow::Cow<'static, str>)> =
            (0..n).map(|i| (format!("x-pad-{}", i).into(), "a${".repeat(size / 3).into())).collect();
        headers.push(("x-last".into(), "1' union select password from users--".into()));
        Request { path: "/".into(), headers, ..Default::default() }
    }

    #[test]
    fn header_limit_policies() {
        let req = padded(10, 900);
        let (c, v) = eval(r#"{"kind":"shield","header_limit":4000}"#, &req);
        assert_eq!((c, v["category"].as_str(), v["location"].as_str()), (Conclusion::Deny, Some("HEADER_LIMIT"), Some("headers")));
        assert_eq!(v["excerpt"], "9037 bytes > header_limit 4000");
        let (c, v) = eval(r#"{"kind":"shield","header_limit":4000,"on_header_limit":"allow"}"#, &req);
        assert_eq!((c, &v["headers"]), (Conclusion::Allow, &Value::from("over_limit_not_inspected")));
        // The prefix stops inside the padding: the attack after it is not read.
        let (c, v) = eval(r#"{"kind":"shield","header_limit":4000,"on_header_limit":"prefix"}"#, &req);
        assert_eq!((c, &v["headers"]), (Conclusion::Allow, &Value::from("prefix_inspected")));
        let (c, v) = eval(r#"{"kind":"shield","header_limit":10000}"#, &req);
        assert_eq!((c, v["category"].as_str(), v["location"].as_str()), (Conclusion::Deny, Some("SQL_INJECTION"), Some("header:x-last")));
    }

    #[test]
    fn excluded_headers_do_not_count_towards_the_limit() {
        let mut req = padded(0, 0);
        req.headers.insert(0, ("authorization".into(), "Bearer ".repeat(2000).into()));
        req.headers.insert(0, ("x-blob".into(), "b".repeat(9000).into()));
        let (_, v) = eval(r#"{"kind":"shield","header_limit":4000,"exclude_headers":["x-blob"]}"#, &req);
        assert_eq!(v["category"], "SQL_INJECTION");
        // Cookies are header bytes the shield inspects.
        req.headers.insert(0, ("cookie".into(), format!("a={}", "c".repeat(5000)).into()));
        let (_, v) = eval(r#"{"kind":"shield","header_limit":4000,"exclude_headers":["x-blob"]}"#, &req);
        assert_eq!(v["category"], "HEADER_LIMIT");
    }

    #[test]
    fn headers_past_max_headers_are_not_skipped_silently() {
        let req = padded(200, 3);
        let (c, v) = eval(r#"{"kind":"shield"}"#, &req);
        assert_eq!((c, v["excerpt"].as_str()), (Conclusion::Deny, Some("201 headers > max_headers 128")));
        let (c, v) = eval(r#"{"kind":"shield","on_header_limit":"prefix"}"#, &req);
        assert_eq!((c, &v["headers"]), (Conclusion::Allow, &Value::from("prefix_inspected")));
    }

    #[test]
    fn options_are_checked() {
        for (cfg, option) in [
            (r#"{"kind":"shield","on_header_limit":"drop"}"#, "on_header_limit"),
            (r#"{"kind":"shield","header_limit":"big"}"#, "header_limit"),
            (r#"{"kind":"shield","on_budget_exhausted":"prefix"}"#, "on_budget_exhausted"),
            (r#"{"kind":"shield","on_budget_exhausted":1}"#, "on_budget_exhausted"),
        ] {
            let e = RuleSet::compile(&format!(r#"{{"rules":[{}]}}"#, cfg)).unwrap_err();
            assert_eq!((e.option.as_str(), e.kind.as_str()), (option, "shield"), "{}", cfg);
        }
    }

    #[test]
    fn exhausted_reasons_are_json_objects() {
        for on in [OnExhausted::Deny, OnExhausted::Allow] {
            let r = on.result();
            let v: Value = serde_json::from_str(&r.reason).unwrap();
            assert_eq!(v["type"], "SHIELD");
            assert_eq!(v["budget"], "exhausted");
            assert_eq!(v["suspicious"], on == OnExhausted::Deny);
        }
    }

    #[test]
    fn room_cuts_on_character_boundaries() {
        let mut room = Room(5);
        assert_eq!(room.take("abc"), "abc");
        assert_eq!(room.take("éé"), "é");
        assert_eq!(room.take("x"), "");
    }
}
