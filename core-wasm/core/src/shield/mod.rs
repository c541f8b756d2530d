//! Attack detection (placeholder: being built).

use serde_json::Value;

use crate::config::ConfigError;
use crate::limits::Limits;
use crate::request::Request;
use crate::result::{Conclusion, RuleResult};

#[derive(Debug)]
pub(crate) struct ShieldRule {}

impl ShieldRule {
    pub(crate) fn from_config(_v: &Value, _limits: &Limits) -> Result<Self, ConfigError> {
        Ok(ShieldRule {})
    }

    pub(crate) fn evaluate(&self, _req: &Request) -> RuleResult {
        RuleResult::new(Conclusion::Allow, "{\"type\":\"SHIELD\"}".into())
    }
}
