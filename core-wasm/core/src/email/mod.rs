//! Email validation (`validate_email`): syntax and domain lists, in the core.
//!
//! Configuration: `{"kind": "email", "deny": [...]}` or `{"kind": "email",
//! "allow": [...]}` (exactly one list, non-empty), items being email types:
//! `INVALID`, `DISPOSABLE`, `FREE`, `NO_MX_RECORDS`, `UNKNOWN`. A deny list
//! denies an address with any listed type; an allow list denies an address
//! with any type not listed. Options `allow_quoted_local`,
//! `allow_domain_literal` (default false) and `require_tld` (default true)
//! tune the syntax (see [`syntax`]).
//!
//! The address is the request's `email` extra (`protect(request,
//! email=...)`); without one the rule's result is ERROR.
//!
//! Per address: syntax (an invalid address is `INVALID` and nothing else is
//! looked at), then the registrable domain's lists (`DISPOSABLE`, `FREE`).
//! If those types already deny, the rule denies. Otherwise, when
//! `NO_MX_RECORDS` or `UNKNOWN` would deny, the mail-exchanger check is
//! needed: the result is NEEDS_REMOTE with `"mx": "pending"` and the domain
//! to look up (`ascii_domain`), which the decide engine resolves. A domain
//! literal has no MX to look up and is never escalated.

mod domains;
mod syntax;

use serde_json::Value;

use crate::config::{string_list, ConfigError};
use crate::request::Request;
use crate::result::{json_str, Conclusion, RuleResult};

pub(crate) use syntax::SyntaxOptions;

/// The email types, in bit order.
pub(crate) const TYPES: &[&str] = &["INVALID", "DISPOSABLE", "FREE", "NO_MX_RECORDS", "UNKNOWN"];
const INVALID: u8 = 1;
const DISPOSABLE: u8 = 1 << 1;
const FREE: u8 = 1 << 2;
const NO_MX_RECORDS: u8 = 1 << 3;
const UNKNOWN: u8 = 1 << 4;
const ALL: u8 = (1 << 5) - 1;

fn type_bit(name: &str) -> Option<u8> {
    TYPES.iter().position(|t| *t == name).map(|i| 1u8 << i)
}

#[derive(Debug)]
pub(crate) struct EmailRule {
    /// The types that deny.
    deny: u8,
    syntax: SyntaxOptions,
}

fn opt_bool(v: &Value, option: &str, default: bool) -> Result<bool, ConfigError> {
    match v.get(option) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ConfigError::new(option, "must be true or false")),
    }
}

fn parse_types(list: &[String], option: &str) -> Result<u8, ConfigError> {
    let mut bits = 0;
    for (i, s) in list.iter().enumerate() {
        bits |= type_bit(s).ok_or_else(|| {
            let upper = s.to_ascii_uppercase().replace(|c: char| !c.is_ascii_alphanumeric(), "_");
            let hint = match type_bit(&upper) {
                Some(_) => format!(" (did you mean {:?}?)", upper),
                None => String::new(),
            };
            ConfigError::new(
                &format!("{}[{}]", option, i),
                format!("unknown email type {:?}{}; known: {}", s, hint, TYPES.join(", ")),
            )
        })?;
    }
    Ok(bits)
}

impl EmailRule {
    pub(crate) fn from_config(v: &Value) -> Result<Self, ConfigError> {
        let allow = string_list(v, "allow")?;
        let deny = string_list(v, "deny")?;
        let deny = match (allow.is_empty(), deny.is_empty()) {
            (false, true) => ALL & !parse_types(&allow, "allow")?,
            (true, false) => parse_types(&deny, "deny")?,
            (false, false) => return Err(ConfigError::new("allow", "give either `allow` or `deny`, not both")),
            (true, true) => {
                return Err(ConfigError::new("deny", "one of `allow` or `deny` must be a non-empty list"))
            }
        };
        let syntax = SyntaxOptions {
            allow_quoted_local: opt_bool(v, "allow_quoted_local", false)?,
            allow_domain_literal: opt_bool(v, "allow_domain_literal", false)?,
            require_tld: opt_bool(v, "require_tld", true)?,
        };
        Ok(EmailRule { deny, syntax })
    }

    pub(crate) fn evaluate(&self, req: &Request) -> RuleResult {
        match req.extra("email") {
            Some(email) => self.check(email),
            None => RuleResult::new(Conclusion::Error, NO_EMAIL.to_string()),
        }
    }

    /// The rule's result for one address.
    pub(crate) fn check(&self, email: &str) -> RuleResult {
        let mut r = Reason::default();
        let addr = match syntax::parse(email, self.syntax) {
            Ok(a) => a,
            Err(e) => {
                r.types = INVALID;
                r.error = Some(e);
                return r.finish(self.deny, Pending::No);
            }
        };
        if !addr.literal {
            let registrable = domains::registrable(&addr.ascii_domain);
            if let Some(hit) = domains::listed(domains::disposable(), &addr.ascii_domain, registrable) {
                r.types |= DISPOSABLE;
                r.listed = Some(hit.to_string());
            } else if let Some(hit) = domains::listed(domains::free(), &addr.ascii_domain, registrable) {
                r.types |= FREE;
                r.listed = Some(hit.to_string());
            }
            r.registrable = registrable.map(str::to_string);
        }
        let pending = if r.types & self.deny == 0 && self.deny & (NO_MX_RECORDS | UNKNOWN) != 0 && !addr.literal {
            Pending::Mx
        } else {
            Pending::No
        };
        r.email = Some(addr.normalized());
        r.domain = Some(addr.domain);
        r.ascii_domain = Some(addr.ascii_domain);
        r.finish(self.deny, pending)
    }
}

const NO_EMAIL: &str =
    "{\"type\":\"ERROR\",\"message\":\"validate_email: no email given (pass it as protect(request, email=...))\"}";

#[derive(PartialEq, Eq)]
enum Pending {
    No,
    Mx,
}

#[derive(Default)]
struct Reason {
    types: u8,
    email: Option<String>,
    domain: Option<String>,
    ascii_domain: Option<String>,
    registrable: Option<String>,
    listed: Option<String>,
    error: Option<String>,
}

fn opt(out: &mut String, v: &Option<String>) {
    match v {
        Some(s) => json_str(out, s),
        None => out.push_str("null"),
    }
}

impl Reason {
    fn finish(self, deny: u8, pending: Pending) -> RuleResult {
        let denied = self.types & deny != 0;
        let mut out = String::with_capacity(192);
        out.push_str("{\"type\":\"EMAIL\",\"email\":");
        opt(&mut out, &self.email);
        out.push_str(",\"domain\":");
        opt(&mut out, &self.domain);
        out.push_str(",\"ascii_domain\":");
        opt(&mut out, &self.ascii_domain);
        out.push_str(",\"registrable_domain\":");
        opt(&mut out, &self.registrable);
        out.push_str(",\"email_types\":[");
        let mut first = true;
        for (i, t) in TYPES.iter().enumerate() {
            if self.types & (1 << i) != 0 {
                if !first {
                    out.push(',');
                }
                first = false;
                json_str(&mut out, t);
            }
        }
        out.push_str("],\"denied\":");
        out.push_str(if denied { "true" } else { "false" });
        out.push_str(",\"listed\":");
        opt(&mut out, &self.listed);
        out.push_str(",\"error\":");
        opt(&mut out, &self.error);
        out.push_str(",\"mx\":");
        out.push_str(if pending == Pending::Mx { "\"pending\"" } else { "null" });
        out.push('}');
        let c = if denied {
            Conclusion::Deny
        } else if pending == Pending::Mx {
            Conclusion::NeedsRemote
        } else {
            Conclusion::Allow
        };
        RuleResult::new(c, out)
    }
}

#[cfg(test)]
mod tests;
