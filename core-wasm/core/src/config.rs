//! Configuration errors and helpers for reading rule options.

use serde_json::Value;

/// A rule set that cannot be compiled. Names the rule (index and kind), the
/// option, and where possible the byte position of the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub rule: Option<usize>,
    pub kind: String,
    pub option: String,
    pub message: String,
    pub position: Option<usize>,
}

impl ConfigError {
    pub fn new(option: &str, message: impl Into<String>) -> Self {
        ConfigError {
            rule: None,
            kind: String::new(),
            option: option.to_string(),
            message: message.into(),
            position: None,
        }
    }

    pub fn at(mut self, position: usize) -> Self {
        self.position = Some(position);
        self
    }

    /// The error as a JSON object for the host.
    pub fn to_json(&self) -> String {
        let mut v = serde_json::Map::new();
        v.insert("rule".into(), self.rule.map(Value::from).unwrap_or(Value::Null));
        v.insert("kind".into(), Value::from(self.kind.clone()));
        v.insert("option".into(), Value::from(self.option.clone()));
        v.insert("message".into(), Value::from(self.message.clone()));
        v.insert("position".into(), self.position.map(Value::from).unwrap_or(Value::Null));
        Value::Object(v).to_string()
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(i) = self.rule {
            write!(f, "rule {} ({}): ", i, self.kind)?;
        }
        write!(f, "{}: {}", self.option, self.message)?;
        if let Some(p) = self.position {
            write!(f, " at position {}", p)?;
        }
        Ok(())
    }
}

/// A list of strings option (missing means empty).
pub(crate) fn string_list(v: &Value, option: &str) -> Result<Vec<String>, ConfigError> {
    match v.get(option) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|it| {
                it.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| ConfigError::new(option, "every item must be a string"))
            })
            .collect(),
        Some(_) => Err(ConfigError::new(option, "must be a list of strings")),
    }
}

/// An optional unsigned integer option.
pub(crate) fn opt_usize(v: &Value, option: &str) -> Result<Option<usize>, ConfigError> {
    match v.get(option) {
        None | Some(Value::Null) => Ok(None),
        Some(x) => x
            .as_u64()
            .map(|n| Some(n as usize))
            .ok_or_else(|| ConfigError::new(option, "must be a non-negative integer")),
    }
}

/// An optional string option.
pub(crate) fn opt_str<'v>(v: &'v Value, option: &str) -> Result<Option<&'v str>, ConfigError> {
    match v.get(option) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ConfigError::new(option, "must be a string")),
    }
}
