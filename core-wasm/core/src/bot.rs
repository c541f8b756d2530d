//! Bot detection by User-Agent (placeholder: being built).

use serde_json::Value;

use crate::config::{string_list, ConfigError};
use crate::request::Request;
use crate::result::{Conclusion, RuleResult};

#[derive(Debug)]
pub(crate) struct BotRule {
    allow: Vec<String>,
    deny: Vec<String>,
}

impl BotRule {
    pub(crate) fn from_config(v: &Value) -> Result<Self, ConfigError> {
        Ok(BotRule { allow: string_list(v, "allow")?, deny: string_list(v, "deny")? })
    }

    pub(crate) fn evaluate(&self, req: &Request) -> RuleResult {
        let _ = (&self.allow, &self.deny, req);
        RuleResult::new(Conclusion::Allow, "{\"type\":\"BOT\"}".into())
    }
}
